"""Removing the workspaces of sessions that ended.

A session ends when it is deleted (`DELETE /v1/sessions/{id}`, `app.session(id).delete()`),
often in another process than the worker whose disk holds its workspace. So each worker
sweeps: every `sweep_interval` seconds it lists the workspaces under the bases its App's tool
calls used (`App.workspace_roots`, filled by `session_workspaces()`) and removes those whose
session the store no longer has (`sweep_ended_sessions`). A delete made in the same process
as the workspace (`bosun dev`, say) removes it at once too (`remove_session_workspaces`).

A workspace a call of this process holds at that moment is left for the next sweep. Only the
bases used since the worker started are swept: a base that no run of this App has used is
not assumed to hold this database's sessions (two apps may share a directory).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bosun.errors import StoreError
from bosun.sandbox.workspace import DEFAULT_BASE, remove_session_workspaces, workspaces_under

if TYPE_CHECKING:
    from bosun.store import SessionStore

__all__ = [
    "SWEEP_INTERVAL",
    "remove_session_workspaces",
    "sweep_ended_sessions",
    "sweep_workspaces_periodically",
]

SWEEP_INTERVAL = 300.0  # seconds between a worker's sweeps

log = logging.getLogger("bosun.sandbox.workspace")


async def sweep_ended_sessions(
    store: SessionStore, base: str | os.PathLike[str] = DEFAULT_BASE
) -> list[Path]:
    """Remove the workspaces under `base` whose session the store no longer has; the paths
    removed. Workspaces in use by this process are left for a later sweep.

    Raises:
        StoreError: the store could not be asked (nothing more is removed).
    """
    removed = []
    for workspace in await asyncio.to_thread(workspaces_under, base):
        if workspace.in_use:
            continue
        if await store.get_session(workspace.tenant, workspace.session) is not None:
            continue
        if not workspace.in_use and await asyncio.to_thread(workspace.cleanup):
            log.info("removed the workspace of ended session %s", workspace.session)
            removed.append(workspace.path)
    return removed


async def sweep_workspaces_periodically(
    store: SessionStore, roots: set[Path], interval: float = SWEEP_INTERVAL
) -> None:
    """Every `interval` seconds, `sweep_ended_sessions` under each of `roots` (a live set:
    bases added later are swept too). Never returns; an `interval` <= 0 disables it."""
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        for root in sorted(roots):
            try:
                await sweep_ended_sessions(store, root)
            except (StoreError, OSError) as exc:
                log.warning("sweeping the workspaces under %s failed, will retry: %s", root, exc)
