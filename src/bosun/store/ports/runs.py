"""Runs and their journals: create, claim, lease, record progress, signal, cancel, prune."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bosun.records import (
    ClaimedRun,
    JournalEntry,
    Lease,
    NewRun,
    Progress,
    RunFilter,
    RunRecord,
)


class RunStore(Protocol):
    """Durable state of runs, their journals and signals."""

    async def create_run(self, run: NewRun) -> tuple[str, bool]:
        """Insert a run ready to claim; with an idempotency key already used, return that run.

        Returns the run id and whether it was created now.
        """

    async def create_claimed_run(
        self, run: NewRun, owner: str, lease_ttl: float, *, version: str | None = None
    ) -> ClaimedRun | None:
        """Insert a run already leased to `owner` (a local worker with a free slot), pinned
        to the worker's deployment `version`.

        Returns None, creating nothing, if the idempotency key is taken: use `create_run`.
        """

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run, or None."""

    async def finished_runs(self, run_ids: Sequence[str]) -> list[RunRecord]:
        """The records of those of `run_ids` that have finished (completed, failed or
        cancelled), in one query: what result waiters read (`bosun.store.waiters`)."""

    async def list_runs(self, where: RunFilter) -> list[RunRecord]:
        """Runs newest first."""

    async def get_journal(self, run_id: str, *, status: str | None = None) -> list[JournalEntry]:
        """The run's journal in the order entries were first written; with `status`, only its
        entries in that status (`"waiting"`: what the run waits for), read without the rest."""

    async def claim_runs(
        self,
        owner: str,
        queues: list[str],
        limit: int,
        lease_ttl: float,
        now: float,
        *,
        versions: Sequence[str] = (),
        workflows: Sequence[str] = (),
    ) -> list[ClaimedRun]:
        """Lease up to `limit` ready runs (new, due, or whose lease expired).

        `workflows` are the workflows the claimer can execute: runs of others stay queued
        for workers that can. Empty: any workflow (for tools; such a claim reads every ready
        run of its queues, where a claim of named workflows reads about what it takes).

        `versions` is the claimer's deployment version followed by the older versions it is
        compatible with. A run pinned to another version is claimed only once no live,
        non-draining worker of that version serves its queue; every claimed run is pinned to
        `versions[0]`. Empty: claim runs of any version and leave their pins alone.
        """

    async def save_progress(self, lease: Lease, progress: Progress, lease_ttl: float) -> None:
        """Record progress atomically if `lease` still holds; raise LeaseLost otherwise.

        With an outcome the run is suspended, released or finished and the lease dropped.
        Leases are extended by `renew_leases` (heartbeats), not here.
        """

    async def renew_leases(self, owner: str, leases: list[Lease], lease_ttl: float) -> list[Lease]:
        """Extend the leases still held; return those that were lost."""

    async def release_leases(self, owner: str, run_ids: list[str]) -> int:
        """Hand these runs, if still leased by `owner`, back to the queue at once (drain)."""

    async def send_signal(
        self, run_id: str, name: str, payload: str, *, waiting_at: str | None = None
    ) -> bool:
        """Buffer a signal for the run and wake it if it is suspended; return True.

        With `waiting_at` (a journal position), send it only while the entry there still
        waits, before its deadline, and no signal `name` is pending, in one transaction with
        the checks: return False, sending nothing, otherwise (the wait was answered or timed
        out already, even if no worker has recorded the timeout yet).
        """

    async def cancel_run(self, run_id: str) -> list[str]:
        """Cancel the run and its descendants that have not finished; return their ids."""

    async def resume_run(self, run_id: str) -> None:
        """Put a `blocked` run back in the queue."""

    async def prune_runs(self, finished_before: float, batch: int = 1000) -> int:
        """Delete up to `batch` runs that finished before `finished_before` (UNIX seconds),
        with their journals, signals and events; return how many went."""
