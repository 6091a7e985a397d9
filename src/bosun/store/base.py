"""The Store protocol: the domain operations the engine, worker and CLI need.

Connectors (`bosun.store.sqlite`, later `bosun.store.postgres`) hold only SQL and driver
code; nothing above this line imports a database driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from bosun.store.notify import LocalNotifier
from bosun.store.records import (
    UNSERVED_GRACE,
    ApiKeyRecord,
    ClaimedRun,
    EventRecord,
    Firing,
    JournalEntry,
    Lease,
    MemoryHit,
    NewMemory,
    NewRun,
    NewSchedule,
    Progress,
    QueueStats,
    RunFilter,
    RunRecord,
    ScheduleRecord,
    SessionMessage,
    SessionRecord,
    UnservedWork,
    UsageTotals,
    WorkerRecord,
)
from bosun.store.workload import WorkloadSample

if TYPE_CHECKING:
    from bosun.buckets import BucketState, RateLimit


class Store(Protocol):
    """Durable state of runs, journals, signals and events."""

    url: str
    notifier: LocalNotifier
    # How often an event stream re-reads the database when no notification arrives: other
    # processes' writes reach this one by NOTIFY on PostgreSQL, only by reading on SQLite.
    events_poll_interval: float
    schema_latest: int  # the schema version this code migrates to

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
        self, run: NewRun, owner: str, lease_ttl: float, *, version: str | None = None
    ) -> ClaimedRun | None:
        """Insert a run already leased to `owner` (a local worker with a free slot), pinned
        to the worker's deployment `version`.

        Returns None, creating nothing, if the idempotency key is taken: use `create_run`.
        """

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run, or None."""

    async def list_runs(self, where: RunFilter) -> list[RunRecord]:
        """Runs newest first."""

    async def get_journal(self, run_id: str) -> list[JournalEntry]:
        """The run's journal in the order entries were first written."""

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

    async def set_queue_limit(self, queue: str, max_running: int | None) -> None:
        """Cap how many runs of `queue` may be running at once across all workers (None
        removes the cap)."""

    async def queue_stats(self, tenant: str | None = None) -> list[QueueStats]:
        """Per queue: ready, in-flight and waiting runs, and the oldest ready run's age (of
        one tenant's runs, or of all)."""

    async def unserved_work(
        self, now: float, grace: float = UNSERVED_GRACE, tenant: str | None = None
    ) -> list[UnservedWork]:
        """Claimable runs, by queue and workflow, that no live non-draining worker serves,
        where the oldest has waited at least `grace` seconds (of one tenant, or of all)."""

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

    async def announce_worker(self, worker: WorkerRecord) -> None:
        """Insert or refresh a worker's row (it counts as alive until `expires_at`); forget
        workers dead for over an hour."""

    async def retire_worker(self, worker_id: str) -> None:
        """Remove a worker that stopped cleanly."""

    async def list_workers(self) -> list[WorkerRecord]:
        """Every worker that announced itself recently, oldest first (dead ones included
        until they are forgotten: compare `expires_at` with the clock)."""

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

    async def prune_runs(self, finished_before: float, batch: int = 1000) -> int:
        """Delete up to `batch` runs that finished before `finished_before` (UNIX seconds),
        with their journals, signals and events; return how many went."""

    async def usage_totals(
        self,
        *,
        tenant: str | None = None,
        session: str | None = None,
        run_id: str | None = None,
        since: float = 0.0,
    ) -> UsageTotals:
        """LLM usage of the completed `ctx.llm` calls matching every filter given."""

    async def workload_sample(self, since: float, limit: int = 20_000) -> WorkloadSample:
        """Runs created since `since`: hourly counts of all, details of the newest `limit`
        (for `bosun plan --from-db`)."""

    # -- sessions ---

    async def ensure_session(
        self, tenant: str, session_id: str, metadata: str | None = None
    ) -> SessionRecord:
        """The session, created if missing; `metadata` (a JSON object) replaces the old."""

    async def get_session(self, tenant: str, session_id: str) -> SessionRecord | None: ...

    async def list_sessions(
        self, tenant: str, limit: int = 50, before: tuple[float, str] | None = None
    ) -> list[SessionRecord]:
        """The tenant's sessions, most recently updated first; `before` is a cursor."""

    async def update_session(
        self, tenant: str, session_id: str, *, state: str | None, metadata: str | None
    ) -> SessionRecord | None:
        """Replace the state and/or metadata (JSON objects); None if there is no session."""

    async def delete_session(self, tenant: str, session_id: str) -> bool:
        """Delete the session, its messages and its memories (its runs stay)."""

    async def append_messages(
        self,
        tenant: str,
        session_id: str,
        messages: list[str],
        *,
        run_id: str | None = None,
        source: str | None = None,
    ) -> int:
        """Append messages (JSON texts), creating the session if needed; return the last
        position. Messages a run already appended under the same `source` are not added
        again (a write retried after a crash)."""

    async def session_messages(
        self, tenant: str, session_id: str, after: int = 0, limit: int = 1000
    ) -> list[SessionMessage]:
        """Messages after position `after`, oldest first."""

    async def drop_run_messages(self, tenant: str, session_id: str, run_id: str) -> int:
        """Delete the messages one run appended (a rolled-back run); return how many."""

    async def session_runs(self, tenant: str, session_id: str) -> list[RunRecord]:
        """The session's runs, oldest first."""

    # -- memories ---

    async def add_memory(self, memory: NewMemory) -> None:
        """Store a memory (an id stored before is left as it is)."""

    async def search_memories(
        self, tenant: str, namespace: str, query: list[float], k: int
    ) -> list[MemoryHit]:
        """The `k` memories of the namespace most similar to `query` (normalised), best
        first: exact cosine similarity."""

    # -- API keys ---

    async def create_api_key(self, key: ApiKeyRecord) -> None:
        """Store a new API key (its hash)."""

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, revoked or not."""

    async def list_api_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        """Every key, or a tenant's keys, oldest first."""

    async def revoke_api_key(self, key_id: str) -> bool:
        """Revoke a key; False when there is no such live key."""

    # -- schedules ---

    async def add_schedule(self, schedule: NewSchedule) -> ScheduleRecord:
        """Insert a schedule; `InvalidSchedule` if its name is taken."""

    async def declare_schedules(self, workflows: list[str], schedules: list[NewSchedule]) -> None:
        """Upsert the schedules declared in code, and delete code-declared schedules of
        `workflows` that are no longer declared, in one transaction.

        A declared schedule keeps its next tick and paused state unless its cron expression or
        time zone changed.
        """

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        """The schedule, or None."""

    async def list_schedules(self) -> list[ScheduleRecord]:
        """All schedules by name."""

    async def set_schedule_paused(
        self, name: str, paused: bool, next_tick: int | None = None
    ) -> ScheduleRecord:
        """Pause or resume a schedule (moving its next tick if given); `ScheduleNotFound`."""

    async def delete_schedule(self, name: str) -> None:
        """Delete a schedule (its runs stay); `ScheduleNotFound` if there is none."""

    async def due_schedules(
        self, workflows: list[str], now: float, limit: int
    ) -> list[ScheduleRecord]:
        """Unpaused schedules of these workflows whose next tick is at or before `now`."""

    async def fire_schedule(self, firing: Firing, now: float) -> list[str] | None:
        """Apply a scheduler's decision atomically: advance the schedule to `firing.next_tick`
        only if it is still at `firing.expected_tick`, and insert `firing.runs` (whose
        idempotency keys make a tick's run unique) in the same transaction.

        Returns the ids of the runs created, or None if another scheduler moved it first.
        """

    # -- rate limits ---------------------------------------------------------------------

    async def reserve_rate(
        self,
        name: str,
        limit: RateLimit,
        requests: int,
        tokens: int,
        *,
        now: float | None = None,
        lease: Lease | None = None,
        entry: JournalEntry | None = None,
    ) -> float:
        """Refill the named buckets, then take `requests` and `tokens` if both hold enough.

        Atomic across every process sharing the database; `limit` (from the code) replaces
        the stored one. Returns 0 when granted, else the seconds until both buckets would
        hold enough (nothing taken). With `lease`, a grant also writes `entry` to that run's
        journal in the same transaction, its `finished_at` set to the grant's time on the
        buckets' clock; `LeaseLost` (nothing written) if the lease is gone. `now` defaults
        to the database's clock.
        """

    async def settle_rate(
        self,
        name: str,
        limit: RateLimit,
        tokens: int,
        *,
        now: float | None = None,
        lease: Lease | None = None,
        entry: JournalEntry | None = None,
    ) -> None:
        """Refill, then give `tokens` back to the token bucket (negative: take more, into
        debt); with `lease`, fenced and journaled like `reserve_rate`."""

    async def get_rate_buckets(self, name: str) -> BucketState | None:
        """The stored (not refilled) buckets of a rate limit, or None if never used."""
