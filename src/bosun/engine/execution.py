"""Replay of one run against its journal.

Every journaled operation takes the next position (`seq`) of the current cursor. If the
journal already holds that position, its recorded outcome is returned (after checking the
code still does the same thing there); otherwise the operation runs and its outcome is added
to the pending progress. Pending progress becomes durable, fenced by the lease, before any
step's side effects start and when the run suspends or finishes: a crash loses at most the
step in flight.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bosun import events, serde
from bosun.engine.control import Abandon, Release, Suspend
from bosun.engine.definitions import StepDef, WorkflowDef
from bosun.engine.extensions import Extensions
from bosun.engine.hooks import NULL_OBSERVER, RunObserver
from bosun.errors import (
    ChildFailed,
    ConfigurationError,
    DeterminismError,
    LeaseLost,
    SignalTimeout,
    StepFailed,
    StoreError,
    StoreUnavailable,
)
from bosun.records import (
    ClaimedRun,
    EntryKind,
    JournalEntry,
    Lease,
    NewRun,
    Progress,
    SessionAppend,
)

if TYPE_CHECKING:
    from bosun.buckets import RateLimit
    from bosun.store.base import Store

log = logging.getLogger("bosun.engine")
FLUSH_PATIENCE = 120.0  # seconds a worker keeps retrying a write while the database is away
_CHILD_NAMESPACE = uuid.UUID("6f1d0a1e-4b5c-4e1a-9d7e-b05a11e5e7a1")


class Cursor:
    """Hands out positions: "1", "2", … at the top level, "3.0.1", … inside gather branches."""

    __slots__ = ("count", "prefix")

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}"


@dataclass(frozen=True)
class StepScope:
    """What a running step can ask about itself."""

    run_id: str
    seq: str
    attempt: int
    name: str = ""


current_execution: contextvars.ContextVar[Execution | None] = contextvars.ContextVar(
    "bosun_execution", default=None
)
current_cursor: contextvars.ContextVar[Cursor] = contextvars.ContextVar("bosun_cursor")
current_step: contextvars.ContextVar[StepScope | None] = contextvars.ContextVar(
    "bosun_step", default=None
)


def error_dict(exc: BaseException) -> dict[str, Any]:
    """A JSON-able description of an exception."""
    kind = type(exc)
    return {
        "type": f"{kind.__module__}.{kind.__qualname__}"
        if kind.__module__ != "builtins"
        else kind.__qualname__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)[-20:]),
    }


@dataclass
class Spent:
    """Tokens (prompt + completion) and US dollars of LLM calls."""

    tokens: int = 0
    cost: float = 0.0


@dataclass(frozen=True)
class RunEnvironment:
    """What a worker gives every run it executes."""

    store: Store
    resolve_workflow: Callable[[Any], WorkflowDef]
    lease_ttl: float
    is_draining: Callable[[], bool]
    executor: Callable[[Callable[[], Any]], Awaitable[Any]]
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    max_payload_bytes: int | None = None
    lease_deadline: Callable[[str], float | None] = lambda _run_id: None
    # Called when a run's code is done and only the write of its outcome is left: the
    # worker may give its slot to another run while that write commits.
    settling: Callable[[str], None] = lambda _run_id: None
    # Metrics, traces and log context of what this worker executes (`bosun.observe`).
    observer: RunObserver = NULL_OBSERVER
    # What plug-ins give runs, each under its own typed key (`bosun.engine.extensions`):
    # the agents' model aliases and tenant budgets, the sandbox's workspace roots…
    extensions: Extensions = field(default_factory=Extensions)
    # What a workflow is handed as its first argument (`bosun.Context`, which adds the
    # plug-ins' parts); the engine's own `WorkflowContext` when None.
    context: Callable[[Execution], object] | None = None


async def save_progress(env: RunEnvironment, lease: Lease, progress: Progress) -> None:
    """Make `progress` of the run `lease` holds durable, fenced by the lease, retrying while
    the database is unreachable (see `Execution.flush`).

    Raises:
        Abandon: the lease is lost, the database refused the write, or stayed out of reach
            for `FLUSH_PATIENCE` seconds.
    """
    delay, waited = 0.05, 0.0
    while True:
        try:
            await env.store.save_progress(lease, progress, env.lease_ttl)
            return
        except StoreUnavailable as exc:
            if waited >= FLUSH_PATIENCE:
                raise Abandon(exc) from exc
            log.warning("run %s: cannot record progress (%s); retrying", lease.run_id, exc)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)
        except StoreError as exc:  # LeaseLost, or a write the database refused
            raise Abandon(exc) from exc


class Execution:
    """The state of one run while a worker executes it."""

    def __init__(self, claimed: ClaimedRun, workflow: WorkflowDef, env: RunEnvironment) -> None:
        self.run = claimed.run
        self.lease = claimed.lease
        self.journal = claimed.journal
        self.signals = list(claimed.signals)
        self.took_over = claimed.took_over
        self.workflow = workflow
        self.env = env
        self.pending = Progress()
        self.visited: set[str] = set()
        # What the run has spent on LLM calls, kept by `bosun.agents.budget` while it has a
        # budget: None until its first call (then the journal's calls, plus each one since).
        self.spent: Spent | None = None

    # -- journal plumbing -----------------------------------------------------------------

    def _position(self, kind: EntryKind, name: str) -> tuple[str, JournalEntry | None]:
        """Take the next position; return it with its journal entry after a determinism check."""
        seq = current_cursor.get().next()
        entry = self.journal.get(seq)
        self.visited.add(seq)
        if entry is not None and (entry.kind != kind or entry.name != name):
            raise DeterminismError(
                f"run {self.run.id} diverged from its journal at position {seq}: the journal "
                f"recorded {entry.kind} {entry.name!r} but the code now calls {kind} {name!r}. "
                f"Deploy the code the run started with (or branch with ctx.version()), then "
                f"`bosun runs resume {self.run.id}`"
            )
        return seq, entry

    def dump(self, value: Any, hint: Any, where: str) -> str:
        """Serialise a value the run produces, within the app's payload size limit."""
        return serde.check_size(serde.dump(value, hint, where), self.env.max_payload_bytes, where)

    def record(self, entry: JournalEntry) -> None:
        self.pending.journal.append(entry)

    def append_to_session(self, session: str, messages: list[str]) -> None:
        """Add messages to the run's session with its next write, atomically with the
        journal entry (`session.append`) that records them: no commit of its own, and once,
        since a replay finds the entry and adds nothing."""
        seq, entry = self._position("step", "session.append")
        if entry is not None:
            return
        now = time.time()
        self.record(
            JournalEntry(
                seq,
                "step",
                "session.append",
                "completed",
                # An integer, as the step that wrote them before recorded: a release of that
                # time replaying this journal loads it as its step's result.
                output=str(len(messages)),
                attempt=1,
                started_at=now,
                finished_at=now,
            )
        )
        run = self.run
        self.pending.session_appends.append(
            SessionAppend(run.tenant, session, run.id, seq, tuple(messages))
        )

    async def flush(self) -> None:
        """Make pending progress durable, fenced by the lease.

        While the database is unreachable, retry with back-off for up to `FLUSH_PATIENCE`
        seconds: the progress is kept, and fencing makes a late write after a takeover fail
        cleanly. Past that the error propagates and the lease lapses, so another worker
        resumes the run from its last durable point.
        """
        if not self.pending:
            return
        progress, self.pending = self.pending, Progress()
        await save_progress(self.env, self.lease, progress)

    def recorded_next(self) -> JournalEntry | None:
        """The journal entry at the position the next operation will take, if any (so code
        can tell a replayed operation from a new one before making it)."""
        return self.journal.get(self.next_position())

    def next_position(self) -> str:
        """The position the next operation will take (the same on every replay)."""
        cursor = current_cursor.get()
        return f"{cursor.prefix}{cursor.count + 1}"

    def unvisited(self) -> list[JournalEntry]:
        return [e for s, e in self.journal.items() if s not in self.visited and e.kind != "version"]

    # -- steps ----------------------------------------------------------------------------

    async def call_step(
        self,
        step: StepDef,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        kind: EntryKind = "step",
    ) -> Any:
        """Run a step (an LLM call, a tool call) once; on replay return its recorded outcome."""
        seq, entry = self._position(kind, step.name)
        attempt = 1
        if entry is not None:
            if entry.status == "completed":
                return serde.load(entry.output, step.return_hint)
            if entry.status == "failed":
                raise _step_failed(step.name, entry)
            if entry.wake_at is not None and entry.wake_at > time.time():
                raise Suspend(entry.wake_at)
            attempt = entry.attempt + 1
        if self.env.is_draining():
            raise Release()
        self._check_lease(seq)  # a lapsed lease saves the write below
        # Announce the step with the commit that precedes it. With nothing to commit (the
        # first step after a claim), its record waits for the step's end, and streams that
        # follow the run get it live meanwhile.
        announce = bool(self.pending)
        started_event = events.step_started(seq, step.name, attempt)
        self.pending.events.append(started_event)
        if announce:
            await self.flush()
        else:
            await self._go_live(started_event)
        try:
            # Again after the await: on a starved event loop the commit can return after
            # the lease lapsed, and another worker may have started this very step since.
            self._check_lease(seq)
        except Abandon:
            if not announce:
                self.env.store.notifier.live_ended(self.run.id, started_event)
            raise
        started = time.time()
        observed = self.env.observer.step_started(self, seq, step.name, kind, attempt)
        token = current_step.set(StepScope(self.run.id, seq, attempt, step.name))
        try:
            result = await self._invoke(step, args, kwargs)
        except Exception as exc:
            return self._step_error(step, seq, attempt, started, exc, kind, observed)
        finally:
            current_step.reset(token)
            if not announce:
                self.env.store.notifier.live_ended(self.run.id, started_event)
        self._step_completed(step, seq, kind, attempt, started, result, observed)
        return result

    def _step_completed(
        self,
        step: StepDef,
        seq: str,
        kind: EntryKind,
        attempt: int,
        started: float,
        result: Any,
        observed: object,
    ) -> None:
        """Add a step's result to the pending progress, and report it."""
        try:
            output = self.dump(result, step.return_hint, f"step {step.name!r}")
        except Exception as exc:
            self.env.observer.step_finished(observed, "failed", time.time() - started, exc)
            raise
        finished = time.time()
        self.record(
            JournalEntry(
                seq,
                kind,
                step.name,
                "completed",
                output=output,
                attempt=attempt,
                started_at=started,
                finished_at=finished,
            )
        )
        duration = round(finished - started, 6)
        self.pending.events.append(events.step_completed(seq, step.name, attempt, duration))
        self.env.observer.step_finished(observed, "completed", finished - started, None)

    def _check_lease(self, seq: str) -> None:
        """Start no side effect once the lease may have lapsed: heartbeats could not renew
        it in time (the database was away, the process starved), so another worker may own
        the run by now."""
        deadline = self.env.lease_deadline(self.run.id)
        if deadline is not None and time.time() >= deadline:
            raise Abandon(LeaseLost(f"run {self.run.id}: lease lapsed before step {seq}"))

    async def _go_live(self, event: tuple[str, str]) -> None:
        """Show a step's start, whose record waits for its end, to the run's streams now.

        Sent only while a stream follows the run (no store round trip otherwise); kept as
        the run's live event while the step runs, for a stream that joins meanwhile.
        """
        notifier = self.env.store.notifier
        notifier.live_started(self.run.id, event)
        if notifier.watched(self.run.id):
            try:
                await self.env.store.publish(self.run.id, *event)
            except BaseException:  # cancelled: the step never starts
                notifier.live_ended(self.run.id, event)
                raise

    async def _invoke(self, step: StepDef, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if step.is_async:
            call: Awaitable[Any] = step.fn(*args, **kwargs)
        else:
            ctx = contextvars.copy_context()
            call = self.env.executor(functools.partial(ctx.run, step.fn, *args, **kwargs))
        if step.timeout is None:
            return await call
        try:
            # Not wait_for: on Python 3.11 it returns the step's result when a cancellation
            # (a lost lease, a drain) arrives as the step finishes, and the run goes on.
            async with asyncio.timeout(step.timeout):
                return await call
        except TimeoutError as exc:
            raise TimeoutError(f"step {step.name!r} timed out after {step.timeout} s") from exc

    def _step_error(
        self,
        step: StepDef,
        seq: str,
        attempt: int,
        started: float,
        exc: Exception,
        kind: EntryKind,
        observed: object = None,
    ) -> Any:
        now = time.time()
        error = error_dict(exc)
        if step.retry.should_retry(exc, attempt):
            # An error may say how long to wait (a provider's Retry-After).
            hinted = getattr(exc, "retry_after", None)
            wait = step.retry.delay(attempt)
            if isinstance(hinted, int | float) and hinted > wait:
                wait = min(float(hinted), 3600.0)
            wake_at = now + wait
            self.record(
                JournalEntry(
                    seq,
                    kind,
                    step.name,
                    "retrying",
                    error=error,
                    attempt=attempt,
                    started_at=started,
                    finished_at=now,
                    wake_at=wake_at,
                )
            )
            self.pending.events.append(
                events.step_retrying(seq, step.name, attempt, error, wake_at)
            )
            self.env.observer.step_finished(observed, "retrying", now - started, exc)
            raise Suspend(wake_at)
        entry = JournalEntry(
            seq,
            kind,
            step.name,
            "failed",
            error=error,
            attempt=attempt,
            started_at=started,
            finished_at=now,
        )
        self.record(entry)
        self.pending.events.append(events.step_failed(seq, step.name, attempt, error))
        self.env.observer.step_finished(observed, "failed", now - started, exc)
        raise _step_failed(step.name, entry) from exc

    # -- timers and signals ---------------------------------------------------------------

    async def sleep_until(self, wake_at: float) -> None:
        seq, entry = self._position("sleep", "sleep")
        if entry is not None:
            if entry.status == "completed":
                return
            wake_at = entry.wake_at if entry.wake_at is not None else wake_at
        now = time.time()
        if now >= wake_at:
            self.record(
                JournalEntry(
                    seq,
                    "sleep",
                    "sleep",
                    "completed",
                    wake_at=wake_at,
                    started_at=now,
                    finished_at=now,
                )
            )
            return
        if entry is None:
            self.record(
                JournalEntry(seq, "sleep", "sleep", "waiting", wake_at=wake_at, started_at=now)
            )
        raise Suspend(wake_at)

    async def wait_for_signal(
        self, name: str, timeout: float | None, request: str | None = None
    ) -> Any:
        """Wait for the next signal `name`; `request` (JSON) is what the run asks for, kept
        as the waiting entry's output so that readers of the journal can show it (a tool
        call awaiting approval) until the signal's payload replaces it."""
        seq, entry = self._position("signal", name)
        now = time.time()
        deadline = None if timeout is None else now + timeout
        if entry is not None:
            if entry.status == "completed":
                return serde.load(entry.output, Any)
            if entry.status == "failed":
                raise SignalTimeout(f"no signal {name!r} arrived before the timeout")
            deadline = entry.wake_at
        for signal in self.signals:
            if signal.name == name:
                self.signals.remove(signal)
                self.pending.consumed_signals.append((signal.id, seq))
                self.record(
                    JournalEntry(
                        seq,
                        "signal",
                        name,
                        "completed",
                        output=signal.payload,
                        started_at=now,
                        finished_at=now,
                    )
                )
                return serde.load(signal.payload, Any)
        if deadline is not None and now >= deadline:
            self.record(
                JournalEntry(
                    seq,
                    "signal",
                    name,
                    "failed",
                    wake_at=deadline,
                    error={"type": "SignalTimeout", "message": "timed out"},
                    started_at=now,
                    finished_at=now,
                )
            )
            raise SignalTimeout(f"no signal {name!r} arrived before the timeout")
        if entry is None:
            self.record(
                JournalEntry(
                    seq,
                    "signal",
                    name,
                    "waiting",
                    output=request,
                    wake_at=deadline,
                    started_at=now,
                )
            )
        raise Suspend(deadline)

    # -- children -------------------------------------------------------------------------

    async def child(self, workflow: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        wf = self.env.resolve_workflow(workflow)
        seq, entry = self._position("child", wf.name)
        if entry is not None:
            if entry.status == "completed":
                return serde.load(entry.output, wf.return_hint)
            if entry.status == "failed":
                error = entry.error or {}
                raise ChildFailed(
                    entry.child_id or "?",
                    str(error.get("status", "failed")),
                    f"{error.get('type', 'Error')}: {error.get('message', '')}",
                )
            raise Suspend(None)
        child_id = uuid.uuid5(_CHILD_NAMESPACE, f"{self.run.id}/{seq}").hex
        payload = serde.check_size(
            wf.encode_input(args, kwargs), self.env.max_payload_bytes, f"child {wf.name!r} input"
        )
        concurrency_key, concurrency_limit, fairness_key = wf.keys_for(payload)
        self.env.observer.run_submitted(wf.name)
        self.pending.children.append(
            NewRun(
                id=child_id,
                workflow=wf.name,
                queue=wf.queue,
                input=payload,
                concurrency_key=concurrency_key,
                concurrency_limit=concurrency_limit,
                fairness_key=fairness_key,
                priority=self.run.priority,
                tenant=self.run.tenant,
                parent_id=self.run.id,
                parent_seq=seq,
                deadline=self.run.deadline,
            )
        )
        self.record(
            JournalEntry(
                seq, "child", wf.name, "waiting", child_id=child_id, started_at=time.time()
            )
        )
        raise Suspend(None)

    # -- deterministic helpers ------------------------------------------------------------

    def recorded_value(self, kind: EntryKind, make: Callable[[], Any]) -> Any:
        """Return the journaled value at this position, or make, record and return a new one."""
        seq, entry = self._position(kind, kind)
        if entry is not None:
            return json.loads(entry.output or "null")
        value = make()
        now = time.time()
        self.record(
            JournalEntry(
                seq,
                kind,
                kind,
                "completed",
                output=json.dumps(value),
                started_at=now,
                finished_at=now,
            )
        )
        return value

    def version(self, change_id: str, latest: int) -> int:
        seq = f"v:{change_id}"
        entry = self.journal.get(seq)
        if entry is not None:
            return int(json.loads(entry.output or "0"))
        # History beyond this point means the run passed here before the change existed.
        value = 0 if self.unvisited() else latest
        self.journal[seq] = JournalEntry(
            seq, "version", change_id, "completed", output=json.dumps(value)
        )
        self.record(self.journal[seq])
        return value

    def emit(self, event_type: str, data: Any) -> None:
        if not event_type or event_type.startswith(events.RESERVED_PREFIXES):
            raise ConfigurationError(
                f"event type {event_type!r} is empty or reserved: names starting with "
                f"{', '.join(events.RESERVED_PREFIXES)} belong to bosun's own events"
            )
        seq, entry = self._position("event", event_type)
        if entry is not None:
            return
        now = time.time()
        self.pending.events.append((event_type, self.dump(data, Any, f"event {event_type!r}")))
        self.record(
            JournalEntry(seq, "event", event_type, "completed", started_at=now, finished_at=now)
        )


def _step_failed(name: str, entry: JournalEntry) -> StepFailed:
    error = entry.error or {}
    return StepFailed(
        name, str(error.get("type", "Error")), str(error.get("message", "")), entry.attempt
    )
