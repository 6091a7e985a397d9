"""The worker registry: workers announce themselves, retire, and are found dead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bosun.records import HeldLease, WorkerRecord


class WorkerStore(Protocol):
    """Which workers are alive, and the leases they hold."""

    async def announce_worker(self, worker: WorkerRecord) -> None:
        """Insert or refresh a worker's row (it counts as alive until `expires_at`); forget
        workers dead for over an hour."""

    async def retire_worker(self, worker_id: str) -> None:
        """Remove a worker that stopped cleanly."""

    async def list_workers(self) -> list[WorkerRecord]:
        """Every worker that announced itself recently, oldest first (dead ones included
        until they are forgotten: compare `expires_at` with the clock)."""

    async def expire_worker(self, worker_id: str, now: float) -> list[str]:
        """End now the leases of a worker known to be dead (its process is gone), rather
        than when they expire: its runs become claimable at once, a claim of them is a
        takeover, and their tokens are void, so any late write under them fails as after a
        takeover (and renewing them fails too). Its registry row counts as gone from `now`.
        Returns the runs whose leases ended."""

    async def leases_held_by(
        self,
        owners: Sequence[str],
        queues: Sequence[str],
        workflows: Sequence[str],
        now: float,
        limit: int,
    ) -> list[HeldLease]:
        """Up to `limit` runs of these queues and workflows leased to these workers, their
        leases not yet expired at `now`, soonest to expire first (reads running runs only)."""
