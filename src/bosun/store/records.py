"""Plain records that cross the Store boundary. JSON payloads stay as text here."""

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

EntryKind = Literal["step", "sleep", "signal", "child", "version", "now", "uuid", "random", "event"]
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
    """A durable event of a run."""

    id: int
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


OutcomeKind = Literal["suspend", "release", "complete", "fail", "block"]


@dataclass(frozen=True)
class Outcome:
    """How a worker leaves a run: suspended until `wake_at`, released, or finished."""

    kind: OutcomeKind
    wake_at: float | None = None
    result: str | None = None
    error: dict[str, Any] | None = None


@dataclass
class Progress:
    """Everything one fenced write of a worker records for one run, atomically."""

    journal: list[JournalEntry] = field(default_factory=list)
    consumed_signals: list[tuple[int, str]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    children: list[NewRun] = field(default_factory=list)
    outcome: Outcome | None = None

    def __bool__(self) -> bool:
        return bool(
            self.journal or self.consumed_signals or self.events or self.children or self.outcome
        )


@dataclass(frozen=True)
class RunFilter:
    """Filters for listing runs; `before` is a cursor (created_at, id) for paging."""

    status: RunStatus | None = None
    workflow: str | None = None
    parent_id: str | None = None
    limit: int = 50
    before: tuple[float, str] | None = None


@dataclass(frozen=True)
class QueueStats:
    """Depth of one queue: what autoscalers scale on (`ready + in_flight`)."""

    queue: str
    ready: int
    in_flight: int
    waiting: int
    oldest_ready_age: float
