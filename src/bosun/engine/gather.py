"""Fan-out inside a workflow with deterministic positions.

Branch i of a gather at position n numbers its operations "n.i.1", "n.i.2", …, so replay
finds the same entries whatever order the branches happened to finish in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from bosun.engine.control import Abandon, Release, Suspend
from bosun.engine.execution import Cursor, current_cursor
from bosun.errors import DeterminismError


async def _branch(awaitable: Awaitable[Any], prefix: str) -> Any:
    current_cursor.set(Cursor(prefix))
    return await awaitable


async def gather(awaitables: tuple[Awaitable[Any], ...], return_exceptions: bool) -> list[Any]:
    """Run the awaitables concurrently; wait for all of them to settle.

    If any branch suspends, the whole gather suspends until the earliest wake-up (the other
    branches' results are journaled already and replay instantly). Otherwise the results come
    back in order; the first failure (by position) is raised unless `return_exceptions`.
    """
    seq = current_cursor.get().next()
    tasks = [asyncio.ensure_future(_branch(aw, f"{seq}.{i}.")) for i, aw in enumerate(awaitables)]
    try:
        if tasks:
            await asyncio.wait(tasks)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
    outcomes: list[Any] = []
    for task in tasks:
        exc = task.exception()
        outcomes.append(task.result() if exc is None else exc)
    _raise_control(outcomes)
    if not return_exceptions:
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
    return outcomes


def _raise_control(outcomes: list[Any]) -> None:
    """Control flow of any branch wins over results: abandon, determinism, release, then
    suspension."""
    for kind in (Abandon, DeterminismError, Release):
        for outcome in outcomes:
            if isinstance(outcome, kind):
                raise outcome
    wakes = [o.wake_at for o in outcomes if isinstance(o, Suspend)]
    if wakes:
        due = [w for w in wakes if w is not None]
        raise Suspend(min(due) if due else None)
