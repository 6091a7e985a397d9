"""In-process wake-ups: a write made in this process wakes this process's waiters at once.

Other processes learn of changes by polling (SQLite) or LISTEN/NOTIFY (PostgreSQL).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Finished:
    """How a run ended, as told to waiters in the same process (saves them a read)."""

    status: str
    result: str | None
    error: dict[str, Any] | None


class LocalNotifier:
    """Wakes local workers when work may be ready, and result waiters when a run ends."""

    def __init__(self) -> None:
        self._work: set[asyncio.Event] = set()
        self._finished: dict[str, list[asyncio.Future[Finished]]] = {}

    def add_work_event(self, event: asyncio.Event) -> None:
        """Set `event` whenever work may have become ready (each worker owns one)."""
        self._work.add(event)

    def drop_work_event(self, event: asyncio.Event) -> None:
        self._work.discard(event)

    def work_ready(self) -> None:
        for event in self._work:
            event.set()

    def finished_future(self, run_id: str) -> asyncio.Future[Finished]:
        """A future resolved when this process sees `run_id` finish."""
        future: asyncio.Future[Finished] = asyncio.get_running_loop().create_future()
        self._finished.setdefault(run_id, []).append(future)
        return future

    def drop_finished_future(self, run_id: str, future: asyncio.Future[Finished]) -> None:
        waiters = self._finished.get(run_id)
        if waiters and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._finished[run_id]

    def run_finished(self, run_id: str, finished: Finished) -> None:
        for future in self._finished.pop(run_id, []):
            if not future.done():
                future.set_result(finished)
