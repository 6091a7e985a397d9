"""The events of runs: the durable ones read back, the live ones published and watched."""

from __future__ import annotations

from typing import Protocol

from bosun.records import EventRecord
from bosun.store.notify import LocalNotifier
from bosun.store.waiters import ResultWaiters


class EventStore(Protocol):
    """Reads runs' durable events and carries their live ones to event streams."""

    notifier: LocalNotifier
    results: ResultWaiters  # every result waiter of the process, checked in batches
    # How often an event stream re-reads the database when no notification arrives: other
    # processes' writes reach this one by NOTIFY on PostgreSQL, only by reading on SQLite.
    events_poll_interval: float

    async def list_events(
        self, run_id: str, after: int = 0, limit: int = 1000
    ) -> list[EventRecord]:
        """Up to `limit` durable events of the run at positions after `after`, in order."""

    async def follow_events(self) -> None:
        """Have the notifier hear of other processes' new events (for event streams)."""

    async def publish(self, run_id: str, event_type: str, data: str) -> None:
        """Send an ephemeral event (not stored) to the run's streams: in this process, and
        on PostgreSQL in every process that follows events."""

    async def watch(self, run_id: str) -> None:
        """Say a stream follows the run: workers send its live events (the start of a step
        whose record waits for its end) from now on, those of steps in flight first. Renew
        within `WATCH_TTL` seconds. On PostgreSQL this reaches every process; SQLite has
        no channel between processes, and a stream here is known without it."""
