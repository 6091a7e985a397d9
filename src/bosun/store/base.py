"""The Store protocol: the domain operations the engine, worker and CLI need.

Connectors (`bosun.store.sqlite`, later `bosun.store.postgres`) hold only SQL and driver
code; nothing above this line imports a database driver.
"""

from __future__ import annotations

from typing import Protocol

from bosun.store.notify import LocalNotifier
from bosun.store.records import (
    ClaimedRun,
    EventRecord,
    JournalEntry,
    Lease,
    NewRun,
    Progress,
    QueueStats,
    RunFilter,
    RunRecord,
)


class Store(Protocol):
    """Durable state of runs, journals, signals and events."""

    url: str
    notifier: LocalNotifier

    async def open(self) -> None:
        """Connect and apply pending migrations; refuse a schema newer than the code."""

    async def close(self) -> None:
        """Release connections and threads."""

    async def schema_version(self) -> int:
        """The migration version the database is at."""

    async def create_run(self, run: NewRun) -> tuple[str, bool]:
        """Insert a run ready to claim; with an idempotency key already used, return that run.

        Returns the run id and whether it was created now.
        """

    async def create_claimed_run(
        self, run: NewRun, owner: str, lease_ttl: float
    ) -> ClaimedRun | None:
        """Insert a run already leased to `owner` (a local worker with a free slot).

        Returns None, creating nothing, if the idempotency key is taken: use `create_run`.
        """

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run, or None."""

    async def list_runs(self, where: RunFilter) -> list[RunRecord]:
        """Runs newest first."""

    async def get_journal(self, run_id: str) -> list[JournalEntry]:
        """The run's journal in the order entries were first written."""

    async def list_events(self, run_id: str, after: int = 0) -> list[EventRecord]:
        """Durable events of the run with id greater than `after`."""

    async def queue_stats(self) -> list[QueueStats]:
        """Per queue: ready, in-flight and waiting runs, and the oldest ready run's age."""

    async def claim_runs(
        self, owner: str, queues: list[str], limit: int, lease_ttl: float, now: float
    ) -> list[ClaimedRun]:
        """Lease up to `limit` ready runs (new, due, or whose lease expired)."""

    async def save_progress(self, lease: Lease, progress: Progress, lease_ttl: float) -> None:
        """Record progress atomically if `lease` still holds; raise LeaseLost otherwise.

        With an outcome the run is suspended, released or finished and the lease dropped.
        Leases are extended by `renew_leases` (heartbeats), not here.
        """

    async def renew_leases(self, owner: str, leases: list[Lease], lease_ttl: float) -> list[Lease]:
        """Extend the leases still held; return those that were lost."""

    async def release_leases(self, owner: str, run_ids: list[str]) -> int:
        """Hand these runs, if still leased by `owner`, back to the queue at once (drain)."""

    async def send_signal(self, run_id: str, name: str, payload: str) -> None:
        """Buffer a signal for the run and wake it if it is suspended."""

    async def cancel_run(self, run_id: str) -> list[str]:
        """Cancel the run and its descendants that have not finished; return their ids."""

    async def resume_run(self, run_id: str) -> None:
        """Put a `blocked` run back in the queue."""
