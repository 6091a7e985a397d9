"""Work directories that outlive one sandboxed call: one per session, with a size quota.

By default every `python` or `shell` tool call starts in a fresh, empty work directory.
Given a `SessionWorkspace`, the calls of one session share a directory instead
(`<base>/<tenant>/<session>`, by default under `./.bosun/workspaces`): a file written by one
call is there for the next call of the same session, and for no other session.

The quota is checked before each call (a full workspace refuses the call with
`WorkspaceQuotaExceeded`) and after it; during the call the sandbox's `workdir_bytes` limit
is lowered to the quota, so a backend that measures the work directory stops a call that
fills it. Calls of one workspace run one at a time within a worker process.

Workspaces live on the worker's disk: a session whose runs move between workers only keeps
its files if `base` is shared storage. A tool call that crashed half-way and is retried finds
what the first attempt wrote. A workspace goes when its session is deleted: workers sweep the
bases their runs used (`bosun.sandbox.workspace_sweep`); `cleanup()` removes one at once and
`prune_workspaces` the idle ones.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import stat
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from bosun.engine.execution import current_execution
from bosun.engine.extensions import Extension
from bosun.errors import BosunError, ConfigurationError

__all__ = [
    "DEFAULT_BASE",
    "WORKSPACE_ROOTS",
    "SessionWorkspace",
    "Usage",
    "WorkspaceQuotaExceeded",
    "WorkspaceSource",
    "prune_workspaces",
    "remove_session_workspaces",
    "session_workspaces",
    "workspaces_under",
]

MiB = 1024 * 1024
DEFAULT_BASE = Path(".bosun") / "workspaces"
_SESSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}")  # as the sessions API accepts
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # as API keys carry
_LOCKS: weakref.WeakValueDictionary[Path, asyncio.Lock] = weakref.WeakValueDictionary()

WORKSPACE_ROOTS: Extension[set[Path]] = Extension("bosun.sandbox.workspace_roots")
"""Where session workspaces live, as runs get it: the App's live set, which tool calls add
the bases they use to and the worker sweeps of deleted sessions' workspaces."""


class WorkspaceQuotaExceeded(BosunError):
    """A session's workspace holds more than its quota allows; no call runs in it until
    files are removed (or `cleanup()`), or the quota is raised."""


@dataclass(frozen=True)
class Usage:
    """What a workspace holds: bytes on disk (at least 512 per entry, as `du` counts) and
    entries (files, directories, links)."""

    bytes: int
    entries: int


class SessionWorkspace:
    """The persistent work directory of one session.

    Args:
        session: the session id (letters, digits and `_.:@-`).
        tenant: the session's tenant.
        base: the directory holding every tenant's workspaces.
        quota_bytes: the most the workspace may hold.
        max_entries: the most files, directories and links it may hold.

    Raises:
        ConfigurationError: the session or tenant id cannot name a directory safely.
    """

    def __init__(
        self,
        session: str,
        *,
        tenant: str = "default",
        base: str | os.PathLike[str] = DEFAULT_BASE,
        quota_bytes: int = 256 * MiB,
        max_entries: int = 10_000,
    ) -> None:
        if not _SESSION.fullmatch(session):
            raise ConfigurationError(
                f"session id {session!r} cannot name a workspace: use up to 200 letters, "
                f"digits and '_.:@-', starting with a letter or digit"
            )
        if not _TENANT.fullmatch(tenant):
            raise ConfigurationError(
                f"tenant {tenant!r} cannot name a workspace: use up to 64 letters, digits "
                f"and '_.-', starting with a letter or digit"
            )
        if quota_bytes <= 0 or max_entries <= 0:
            raise ConfigurationError("quota_bytes and max_entries must be > 0")
        self.session = session
        self.tenant = tenant
        self.path = Path(base).absolute() / tenant / session
        self.quota_bytes = quota_bytes
        self.max_entries = max_entries

    def __repr__(self) -> str:
        return f"SessionWorkspace({str(self.path)!r}, quota_bytes={self.quota_bytes})"

    def usage(self) -> Usage:
        """What the workspace holds now (nothing when it does not exist)."""
        return _measure(self.path)

    def check_quota(self) -> Usage:
        """The workspace's usage, when within the quota.

        Raises:
            WorkspaceQuotaExceeded: it holds more bytes or entries than allowed.
        """
        used = self.usage()
        if used.bytes > self.quota_bytes or used.entries > self.max_entries:
            raise WorkspaceQuotaExceeded(
                f"the workspace of session {self.session!r} holds {used.bytes} bytes in "
                f"{used.entries} entries, over its quota of {self.quota_bytes} bytes and "
                f"{self.max_entries} entries; nothing more runs in it until files are deleted "
                f"(or the workspace is cleaned up) or the quota is raised"
            )
        return used

    def prepare(self) -> Path:
        """Create the directory if needed, mark it used now, and check the quota."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.utime(self.path)  # what prune_workspaces reads as "last used"
        self.check_quota()
        return self.path

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Path]:
        """Hold the workspace for one call: checked before, yielded, checked after.

        Raises:
            WorkspaceQuotaExceeded: it was over its quota before the call, or is after it.
        """
        lock = _LOCKS.setdefault(self.path, asyncio.Lock())
        async with lock:
            path = await asyncio.to_thread(self.prepare)
            yield path
            await asyncio.to_thread(self.check_quota)

    @property
    def in_use(self) -> bool:
        """Whether a call of this process holds the workspace now (see `use`)."""
        lock = _LOCKS.get(self.path)
        return lock is not None and lock.locked()

    def remaining_bytes(self) -> int:
        """What the workspace may still take (0 when full)."""
        return max(self.quota_bytes - self.usage().bytes, 0)

    def cleanup(self) -> bool:
        """Delete the workspace and everything in it; whether there was one to delete."""
        if not self.path.exists():
            return False
        _remove_tree(self.path)
        with suppress(OSError):
            self.path.parent.rmdir()  # the tenant's directory, once it is empty
        return True


WorkspaceSource = SessionWorkspace | Callable[[], SessionWorkspace | None]
"""A fixed workspace, or a function giving the one of the call in progress (None: a fresh
work directory for that call)."""


def session_workspaces(
    base: str | os.PathLike[str] = DEFAULT_BASE,
    *,
    quota_bytes: int = 256 * MiB,
    max_entries: int = 10_000,
) -> Callable[[], SessionWorkspace | None]:
    """The workspace of the running run's session, chosen at each tool call; None (a fresh
    work directory) for a run without a session or outside a run.

    ```python
    agent = Agent(tools=sandbox_tools(workspace=session_workspaces(quota_bytes=64 * MiB)))
    ```
    """

    def current() -> SessionWorkspace | None:
        execution = current_execution.get()
        session = None if execution is None else execution.run.session
        if execution is None or session is None:
            return None
        # The worker sweeps the workspaces of deleted sessions under the bases in use.
        roots = execution.env.extensions.get(WORKSPACE_ROOTS)
        if roots is not None:
            roots.add(Path(base).absolute())
        return SessionWorkspace(
            session,
            tenant=execution.run.tenant,
            base=base,
            quota_bytes=quota_bytes,
            max_entries=max_entries,
        )

    return current


async def remove_session_workspaces(roots: Iterable[Path], tenant: str, session: str) -> list[Path]:
    """Remove the workspaces of a deleted session under each of `roots` (the bases this
    process's tool calls used) now, but not one a call holds; the paths removed. What a
    process that deletes a session calls; workers sweep their own disks
    (`bosun.sandbox.workspace_sweep`)."""
    removed = []
    for root in sorted(roots):
        try:
            workspace = SessionWorkspace(session, tenant=tenant, base=root)
        except ConfigurationError:  # an id no workspace can have: there is none
            return []
        if not workspace.in_use and await asyncio.to_thread(workspace.cleanup):
            removed.append(workspace.path)
    return removed


def prune_workspaces(
    base: str | os.PathLike[str] = DEFAULT_BASE, *, idle_seconds: float
) -> list[Path]:
    """Delete the session workspaces under `base` unused for `idle_seconds`; the removed
    paths. Run it from a schedule to reclaim the space of sessions that went quiet (those
    deleted are swept by the workers: `bosun.sandbox.workspace_sweep`)."""
    root = Path(base).absolute()
    cutoff = time.time() - idle_seconds
    removed: list[Path] = []
    for tenant in _subdirectories(root):
        for session in _subdirectories(tenant):
            if session.lstat().st_mtime < cutoff:
                _remove_tree(session)
                removed.append(session)
        with suppress(OSError):
            tenant.rmdir()
    return removed


def workspaces_under(base: str | os.PathLike[str] = DEFAULT_BASE) -> list[SessionWorkspace]:
    """The session workspaces under `base` (directories `<tenant>/<session>` whose names a
    workspace could have; anything else there is left alone)."""
    root = Path(base).absolute()
    found = []
    for tenant in _subdirectories(root):
        for session in _subdirectories(tenant):
            if _TENANT.fullmatch(tenant.name) and _SESSION.fullmatch(session.name):
                found.append(SessionWorkspace(session.name, tenant=tenant.name, base=root))
    return found


def _subdirectories(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if stat.S_ISDIR(p.lstat().st_mode)]
    except FileNotFoundError:
        return []


def _measure(path: Path) -> Usage:
    total = entries = 0
    stack = [os.fspath(path)]
    while stack:
        top = stack.pop()
        try:
            scan = _scan(top)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in scan:
            info = entry.stat(follow_symlinks=False)
            total += max(info.st_blocks * 512, 512)
            entries += 1
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return Usage(total, entries)


def _scan(directory: str) -> list[os.DirEntry[str]]:
    """A directory's entries; one the sandboxed code made unreadable is given back its
    owner's permissions first, so that hiding files cannot hide them from the quota."""
    try:
        with os.scandir(directory) as scan:
            return list(scan)
    except PermissionError:
        os.chmod(directory, 0o700)
    with os.scandir(directory) as scan:
        return list(scan)


def _remove_tree(path: Path) -> None:
    """Delete `path`, even where the sandboxed code took the owner's permissions off a
    directory; never following a symlink."""
    with suppress(OSError):
        os.chmod(path, 0o700)
    for top, dirs, _ in os.walk(path):
        for name in dirs:
            full = os.path.join(top, name)
            with suppress(OSError):
                if stat.S_ISDIR(os.lstat(full).st_mode):
                    os.chmod(full, 0o700)
    shutil.rmtree(path)
