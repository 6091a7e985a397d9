"""The domain records: runs, journal entries, signals, events, leases, workers, queues, keys,
usage, sessions, memories and schedules, as plain dataclasses. JSON payloads stay as text here.

Foundations layer (docs/architecture.md): every layer above (store ports and connectors,
engine, services, worker, app, server, client, CLI, plug-ins) may import it; it imports
nothing of bosun's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RunStatus = Literal["queued", "running", "suspended", "completed", "failed", "cancelled", "blocked"]
RUN_STATUSES: tuple[RunStatus, ...] = (
    "queued",
    "running",
    "suspended",
    "completed",
    "failed",
    "cancelled",
    "blocked",
)
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})

EntryKind = Literal[
    "step",
    "llm",
    "tool",
    "sleep",
    "signal",
    "child",
    "version",
    "now",
    "uuid",
    "random",
    "event",
    "reserve",
    "settle",
]
EntryStatus = Literal["completed", "failed", "waiting", "retrying"]


@dataclass(frozen=True)
class NewRun:
    """A run to create."""

    id: str
    workflow: str
    queue: str
    input: str
    priority: int = 0
    idempotency_key: str | None = None
    parent_id: str | None = None
    parent_seq: str | None = None
    deadline: float | None = None
    concurrency_key: str | None = None
    concurrency_limit: int | None = None
    fairness_key: str | None = None
    tenant: str = "default"
    session: str | None = None
    webhook_url: str | None = None
    traceparent: str | None = None  # W3C trace context the submitter gave (tracing)


@dataclass(frozen=True)
class RunRecord:
    """A run as stored."""

    id: str
    workflow: str
    queue: str
    status: RunStatus
    input: str
    result: str | None
    error: dict[str, Any] | None
    priority: int
    idempotency_key: str | None
    parent_id: str | None
    parent_seq: str | None
    deadline: float | None
    ready_at: float | None
    lease_owner: str | None
    lease_expires_at: float | None
    attempts: int
    created_at: float
    updated_at: float
    finished_at: float | None
    tenant: str = "default"
    session: str | None = None
    webhook_url: str | None = None
    version: str | None = None  # the deployment version it runs on (None: not started yet)
    traceparent: str | None = None  # W3C trace context it was submitted with, if any


@dataclass
class JournalEntry:
    """One journaled operation of a run, keyed by its position `seq` in the workflow.

    `seq` is a dotted path: "3" is the third operation at the top level, "4.1.2" the second
    operation of branch 1 of the `gather` at position 4.
    """

    seq: str
    kind: EntryKind
    name: str
    status: EntryStatus
    output: str | None = None
    error: dict[str, Any] | None = None
    attempt: int = 1
    started_at: float | None = None
    finished_at: float | None = None
    wake_at: float | None = None
    child_id: str | None = None


@dataclass(frozen=True)
class SignalRecord:
    """A signal delivered to a run and not yet consumed."""

    id: int
    name: str
    payload: str
    created_at: float


@dataclass(frozen=True)
class EventRecord:
    """A durable event of a run; `seq` is its position in the run (1, 2, 3, … without gaps,
    in commit order)."""

    seq: int
    run_id: str
    type: str
    data: str
    created_at: float


@dataclass(frozen=True)
class Lease:
    """Proof that a worker owns a run; every write is fenced by `token`."""

    run_id: str
    owner: str
    token: str
    wake_seq: int


@dataclass(frozen=True)
class ClaimedRun:
    """A run handed to a worker with everything needed to replay it."""

    run: RunRecord
    lease: Lease
    journal: dict[str, JournalEntry]
    signals: list[SignalRecord]
    took_over: bool = False  # claimed from a worker whose lease had expired


OutcomeKind = Literal["suspend", "release", "complete", "fail", "block"]


@dataclass(frozen=True)
class Outcome:
    """How a worker leaves a run: suspended until `wake_at`, released, or finished."""

    kind: OutcomeKind
    wake_at: float | None = None
    result: str | None = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class SessionAppend:
    """Messages a run adds to its session, written with the progress that journals them.

    `source` is the journal position that records the append: with the run's id it makes
    each message's insert idempotent (`{source}:{index}`)."""

    tenant: str
    session: str
    run_id: str
    source: str
    messages: tuple[str, ...]  # each a message as JSON


@dataclass
class Progress:
    """Everything one fenced write of a worker records for one run, atomically."""

    journal: list[JournalEntry] = field(default_factory=list)
    consumed_signals: list[tuple[int, str]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    children: list[NewRun] = field(default_factory=list)
    outcome: Outcome | None = None
    session_appends: list[SessionAppend] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.journal
            or self.consumed_signals
            or self.events
            or self.children
            or self.outcome
            or self.session_appends
        )


@dataclass(frozen=True)
class RunFilter:
    """Filters for listing runs; `before` is a cursor (created_at, id) for paging."""

    status: RunStatus | None = None
    workflow: str | None = None
    queue: str | None = None
    parent_id: str | None = None
    tenant: str | None = None
    session: str | None = None
    version: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    limit: int = 50
    before: tuple[float, str] | None = None


WORKER_FORGET_AFTER = 3600.0  # seconds a dead worker's row stays listed, for post-mortems
# Seconds a queue stays known (in the queue stats, at zero) after its last run finished.
QUEUE_FORGET_AFTER = 3600.0


@dataclass(frozen=True)
class WorkerRecord:
    """A worker process as it announced itself: what it serves, how busy it is, which
    deployment version it runs, and until when it counts as alive."""

    id: str  # equal to the `lease_owner` of the runs it holds
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    busy: int
    version: str
    compatible: tuple[str, ...]
    draining: bool
    started_at: float
    last_seen: float
    expires_at: float
    # The workflows it executes (None: a worker of an earlier release, which claims any).
    workflows: tuple[str, ...] | None = None
    # Which process it is, for a worker on the same machine to tell that it died (see
    # bosun.worker.liveness): the machine's boot id and the PID namespace `pid` is counted
    # in, and the process's start time in clock ticks since boot (which tells a reused pid).
    # None where unknown (no /proc, or a worker of an earlier release).
    pid_namespace: str | None = None
    pid_started: int | None = None


@dataclass(frozen=True)
class HeldLease:
    """A run leased to a worker, as another worker sees it while it waits to take it over."""

    run_id: str
    owner: str
    token: str | None
    expires_at: float


@dataclass(frozen=True)
class QueueStats:
    """Depth of one queue. A known queue without unfinished runs has a row of zeros (see
    `Store.queue_stats`).

    `runnable` is what autoscalers scale on: the in-flight runs plus the ready runs that flow
    control admits now (the queue's limit, the runs' concurrency keys); the other ready runs
    wait for a slot, not for a worker. None where it was not counted: `ready + in_flight`.
    """

    queue: str
    ready: int
    in_flight: int
    waiting: int
    oldest_ready_age: float
    runnable: int | None = None

    @property
    def demand(self) -> int:
        """The runs a pool serving this queue has work for: `runnable`, or without it
        `ready + in_flight`."""
        return self.ready + self.in_flight if self.runnable is None else self.runnable


UNSERVED_GRACE = 60.0  # seconds a run may wait for a worker of its workflow before it shows


@dataclass(frozen=True)
class UnservedWork:
    """Runs ready in `queue` that no live worker can execute: none serves `workflow` there.

    Workers claim only the workflows they registered, so such runs wait, holding nothing,
    until a worker that knows the workflow starts (or the app that has it is deployed)."""

    queue: str
    workflow: str
    ready: int
    oldest_ready_age: float


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key as stored: the SHA-256 `hash` of its secret, never the secret itself."""

    id: str
    tenant: str
    name: str
    hash: str
    scopes: tuple[str, ...]
    created_at: float
    revoked_at: float | None = None


@dataclass(frozen=True)
class UsageTotals:
    """LLM usage summed over some calls (a run's, a session's, a tenant's)."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost: float

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_row(cls, row: Any) -> UsageTotals:
        return cls(
            calls=int(row["calls"]),
            prompt_tokens=int(row["prompt_tokens"]),
            completion_tokens=int(row["completion_tokens"]),
            cached_tokens=int(row["cached_tokens"]),
            cost=float(row["cost"]),
        )


@dataclass(frozen=True)
class SessionRecord:
    """A conversation: metadata and state are JSON objects (as text)."""

    tenant: str
    id: str
    metadata: str
    state: str
    last_seq: int
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Any) -> SessionRecord:
        return cls(
            tenant=row["tenant"],
            id=row["id"],
            metadata=row["metadata"],
            state=row["state"],
            last_seq=int(row["last_seq"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class SessionMessage:
    """One message of a session's history (`message` is the JSON of an agent Message)."""

    seq: int
    run_id: str | None
    message: str
    created_at: float

    @classmethod
    def from_row(cls, row: Any) -> SessionMessage:
        return cls(int(row["seq"]), row["run_id"], row["message"], row["created_at"])


@dataclass(frozen=True)
class NewMemory:
    """A text to remember, with its embedding (normalised to length 1)."""

    id: str
    tenant: str
    namespace: str
    text: str
    metadata: str
    embedding: list[float]
    model: str


@dataclass(frozen=True)
class MemoryHit:
    """A remembered text and its cosine similarity to the query."""

    id: str
    text: str
    metadata: str
    score: float
    created_at: float


# -- schedules ---

MissedPolicy = Literal["skip", "catch_up"]
ScheduleSource = Literal["code", "cli"]


@dataclass(frozen=True)
class NewSchedule:
    """A schedule to create or (for `source="code"`) to declare.

    `next_tick` is the first tick (whole UNIX seconds) the schedule will start; `input` is a
    JSON object of named workflow inputs; `queue` None means the workflow's own queue.
    """

    name: str
    workflow: str
    cron: str
    timezone: str
    input: str
    queue: str | None
    missed: MissedPolicy
    max_catch_up: int
    next_tick: int
    source: ScheduleSource


@dataclass(frozen=True)
class ScheduleRecord(NewSchedule):
    """A schedule as stored, with what it last did."""

    paused: bool
    last_tick: int | None
    last_run_id: str | None
    last_error: str | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Any) -> ScheduleRecord:
        """From a database row (a mapping of column names)."""
        return cls(
            name=row["name"],
            workflow=row["workflow"],
            cron=row["cron"],
            timezone=row["timezone"],
            input=row["input"],
            queue=row["queue"],
            missed=row["missed"],
            max_catch_up=int(row["max_catch_up"]),
            next_tick=int(row["next_tick"]),
            source=row["source"],
            paused=bool(row["paused"]),
            last_tick=None if row["last_tick"] is None else int(row["last_tick"]),
            last_run_id=row["last_run_id"],
            last_error=row["last_error"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class Firing:
    """What one scheduler decided for a due schedule: applied only if `next_tick` still equals
    `expected_tick` (a compare-and-set), together with the runs, in one transaction."""

    name: str
    expected_tick: int
    next_tick: int
    runs: list[NewRun] = field(default_factory=list)
    last_tick: int | None = None
    error: str | None = None

    def params(self, now: float) -> dict[str, Any]:
        """Parameters of the compare-and-set (`advance_schedule`)."""
        return {
            "name": self.name,
            "expected": self.expected_tick,
            "next_tick": self.next_tick,
            "last_tick": self.last_tick,
            "error": self.error,
            "now": now,
        }
