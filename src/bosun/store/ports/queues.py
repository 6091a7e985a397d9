"""Queues: per-queue limits, and what waits in each (for metrics, autoscaling, `bosun queues`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from bosun.records import UNSERVED_GRACE, QueueStats, UnservedWork


class QueueStore(Protocol):
    """Caps on queues and counts of their runs."""

    async def set_queue_limit(self, queue: str, max_running: int | None) -> None:
        """Cap how many runs of `queue` may be running at once across all workers (None
        removes the cap)."""

    async def queue_stats(
        self, tenant: str | None = None, known: Iterable[str] = ()
    ) -> list[QueueStats]:
        """Per known queue, by name: ready, in-flight and waiting runs, and the oldest ready
        run's age (of one tenant's runs, or of all); zeros where it has none.

        Known queues: those with unfinished runs, or a run that finished in the last
        `QUEUE_FORGET_AFTER` seconds (of that tenant's runs: a tenant does not learn of
        another's queues through their runs); and, whatever the tenant, the queues of the
        listed workers (`list_workers`), the queues with a limit, and `known` (the queues the
        caller's app declares). Those are deployment settings, not tenants' data."""

    async def unserved_work(
        self, now: float, grace: float = UNSERVED_GRACE, tenant: str | None = None
    ) -> list[UnservedWork]:
        """Claimable runs, by queue and workflow, that no live non-draining worker serves,
        where the oldest has waited at least `grace` seconds (of one tenant, or of all)."""
