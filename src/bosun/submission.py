"""Submitting runs: what `App.start`, `App.start_json` and `App.trigger` delegate to.

A submission is a workflow, its encoded input and its `SubmitOptions`. The `Submitter`
checks them (input size, session and queue names, webhook URL, deadline), stores the
idempotency key in the submitter's namespace (`bosun.idempotency`), applies the session's
double-texting policy to the session's unfinished runs, and creates the run: leased at once
to a worker of this process with a free slot (direct dispatch, saving a claim round trip),
else queued. A key used before returns the run it started.

The Submitter takes what it needs, never the App: the store (`bosun.hosts.StoreHost`), the
registered workflows, the queue limits, the workers of this process and the observability.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, get_args

from bosun import serde
from bosun.engine.runner import webhook_run
from bosun.errors import ConfigurationError, IdempotencyConflict, InvalidRunState, SessionBusy
from bosun.idempotency import event_key, is_user_key, shown_key, user_key
from bosun.ids import check_identifier, new_id
from bosun.records import TERMINAL_STATUSES, ClaimedRun, NewRun, RunRecord
from bosun.wire import DEFAULT_TENANT, KEY_SEPARATOR

if TYPE_CHECKING:
    from bosun.engine.definitions import WorkflowDef
    from bosun.hosts import StoreHost, Workflows

DoubleTexting = Literal["reject", "enqueue", "interrupt", "rollback"]
DOUBLE_TEXTING: tuple[DoubleTexting, ...] = get_args(DoubleTexting)
MAX_DEADLINE = timedelta(days=3660)  # ten years: later than that is a mistake


@dataclass(frozen=True, kw_only=True)
class SubmitOptions:
    """How a run is submitted, besides its workflow and inputs: `App.start`'s keywords.

    Attributes:
        idempotency_key: the tenant's key for this submission; a retry with the same key
            returns the run it started.
        queue: the queue the run waits in (default: its workflow's).
        priority: higher is claimed first.
        deadline: seconds from now, a timedelta or an absolute datetime; past it the run fails.
        tenant: whose run it is.
        session: the conversation the run belongs to (one of its runs runs at a time).
        webhook: a URL told when the run finishes.
        double_texting: what happens when the session has an unfinished run (`App.start`).
        traceparent: a W3C trace context the run's trace continues (an invalid one is ignored).
    """

    idempotency_key: str | None = None
    queue: str | None = None
    priority: int = 0
    deadline: float | timedelta | datetime | None = None
    tenant: str = DEFAULT_TENANT
    session: str | None = None
    webhook: str | None = None
    double_texting: DoubleTexting = "enqueue"
    traceparent: str | None = None


class SubmitKeywords(TypedDict, total=False):
    """`SubmitOptions` as keyword arguments: `App.start_json(workflow, data, **options)`."""

    idempotency_key: str | None
    queue: str | None
    priority: int
    deadline: float | timedelta | datetime | None
    tenant: str
    session: str | None
    webhook: str | None
    double_texting: DoubleTexting
    traceparent: str | None


def deadline_at(value: float | timedelta | datetime | None) -> float | None:
    """A deadline as UNIX seconds from seconds-from-now, a timedelta or a datetime; at most
    `MAX_DEADLINE` ahead."""
    if value is None:
        return None
    now = time.time()
    if isinstance(value, datetime):
        when = value.timestamp()
    elif isinstance(value, timedelta):
        when = now + value.total_seconds()
    else:
        when = now + float(value)
    if not math.isfinite(when) or when - now > MAX_DEADLINE.total_seconds():
        raise ConfigurationError(
            f"deadline {value!r} is not a time within {MAX_DEADLINE.days} days from now"
        )
    return when


class LocalWorker(Protocol):
    """A worker of this process, which may take a run as it is created (direct dispatch)."""

    @property
    def owner(self) -> str: ...

    @property
    def lease_ttl(self) -> float: ...

    @property
    def version(self) -> str: ...

    def reserve_slot(self, queue: str) -> bool: ...

    def adopt(self, claimed: ClaimedRun | None) -> None: ...


class SubmitObserver(Protocol):
    """What submitting and cancelling report (`bosun.observe.Observability` is one)."""

    def submission_traceparent(self, given: str | None) -> str | None: ...

    def run_submitted(self, workflow: str) -> None: ...

    def run_cancelled(self, run: RunRecord) -> None: ...


@dataclass(frozen=True)
class Submitted:
    """The run a submission created, or the one its idempotency key found (`created` False)."""

    run_id: str
    workflow: str
    created: bool


class Submitter:
    """Starts runs, and cancels them (as double texting does to a session's runs).

    Args:
        database: the store, opened on first use.
        workflows: the registered workflows; `trigger` starts an event's subscribers.
        queue_limits: the queues with a limit (shared with the App, updated in place): their
            runs go through the claim query, which enforces it, never straight to a worker.
        local_workers: the workers running in this process (shared, updated in place).
        observer: the observability to report to, made on first use.
        max_payload_bytes: largest serialised input; None: no limit.
    """

    def __init__(
        self,
        database: StoreHost,
        workflows: Workflows,
        *,
        queue_limits: Mapping[str, int],
        local_workers: Sequence[LocalWorker],
        observer: Callable[[], SubmitObserver],
        max_payload_bytes: int | None,
    ) -> None:
        self._database = database
        self._workflows = workflows
        self._queue_limits = queue_limits
        self._local_workers = local_workers
        self._observer = observer
        self.max_payload_bytes = max_payload_bytes

    async def submit(
        self,
        definition: WorkflowDef,
        payload: str,
        options: SubmitOptions,
        *,
        stored_key: str | None = None,
    ) -> Submitted:
        """Start a run of `definition` with its encoded input. `stored_key` is a key bosun
        made (an event's), stored instead of the submitter's `options.idempotency_key`."""
        where = f"input of workflow {definition.name!r}"
        payload = serde.check_size(payload, self.max_payload_bytes, where)
        if options.session is not None:
            check_identifier(options.session, "session")
        if options.queue is not None:
            check_identifier(options.queue, "queue")
        await self._database.open()
        if options.webhook is not None:
            from bosun.webhooks import check_url  # hmac, ipaddress: only for a webhook

            check_url(options.webhook)
        stored_key = stored_key or user_key(options.tenant, options.idempotency_key)
        # Every check (the deadline's too) before double texting may cancel the session's
        # other runs: a refused submission leaves them as they were.
        run = self._new_run(definition, payload, options, stored_key)
        if options.session is not None:
            await self._double_texting(options.tenant, options.session, options.double_texting)
        return await self._create(run)

    async def trigger(
        self, event: str, data: Any, *, event_id: str, tenant: str
    ) -> list[Submitted]:
        """Start every workflow declared with `on_event=event`, passing `data` as its input:
        one run per (tenant, event, workflow, event id), whose key no submitter can take."""
        started = []
        for definition in self._workflows.workflows.values():
            if event not in definition.on_event:
                continue
            payload = definition.encode_input((data,), {})
            key = event_key(tenant, event, definition.name, event_id)
            options = SubmitOptions(tenant=tenant)
            started.append(await self.submit(definition, payload, options, stored_key=key))
        return started

    async def cancel(self, run_id: str) -> list[str]:
        """Cancel a run and its unfinished children; return the ids cancelled. Runs
        submitted with a webhook get their `run.cancelled` call."""
        await self._database.open()
        store = self._database.store
        ids = await store.cancel_run(run_id)
        for rid in ids:
            record = await store.get_run(rid)
            if record is not None:
                self._observer().run_cancelled(record)
            if record is not None and record.webhook_url:
                await store.create_run(webhook_run(record))
        return ids

    def _new_run(
        self, definition: WorkflowDef, payload: str, options: SubmitOptions, stored_key: str | None
    ) -> NewRun:
        concurrency_key, concurrency_limit, fairness_key = definition.keys_for(payload)
        if options.session is not None and concurrency_key is None:
            # One active run per session unless the workflow says otherwise.
            concurrency_key = f"session:{options.tenant}{KEY_SEPARATOR}{options.session}"
            concurrency_limit = 1
        return NewRun(
            id=new_id(),
            workflow=definition.name,
            queue=options.queue or definition.queue,
            input=payload,
            priority=options.priority,
            idempotency_key=stored_key,
            deadline=deadline_at(options.deadline),
            concurrency_key=concurrency_key,
            concurrency_limit=concurrency_limit,
            fairness_key=fairness_key,
            tenant=options.tenant,
            session=options.session,
            webhook_url=options.webhook,
            traceparent=self._observer().submission_traceparent(options.traceparent),
        )

    async def _create(self, new: NewRun) -> Submitted:
        """Create the run: leased to a local worker with a free slot, else queued."""
        store = self._database.store
        # Runs under flow control must go through the claim query, which enforces it.
        direct = new.concurrency_key is None and new.queue not in self._queue_limits
        worker = None
        if direct:
            worker = next((w for w in self._local_workers if w.reserve_slot(new.queue)), None)
        if worker is not None:
            claimed = None
            try:
                claimed = await store.create_claimed_run(
                    new, worker.owner, worker.lease_ttl, version=worker.version
                )
            finally:
                worker.adopt(claimed)
            if claimed is not None:
                self._observer().run_submitted(new.workflow)
                return Submitted(new.id, new.workflow, created=True)
        run_id, created = await store.create_run(new)
        if created:
            self._observer().run_submitted(new.workflow)
        elif new.idempotency_key is not None:
            await self._check_same_submission(run_id, new, new.idempotency_key)
        return Submitted(run_id, new.workflow, created)

    async def _check_same_submission(self, run_id: str, new: NewRun, stored_key: str) -> None:
        """An idempotency key finds the run it started, never a run of another workflow; and
        a submitter's key (not an event's or a schedule's, whose redelivery keeps the first
        run) never a run started with other input: a retry sends what the first try sent,
        so other input under the same key is a mistake that must not pass as a success."""
        existing = await self._database.store.get_run(run_id)
        if existing is None:
            return
        key = shown_key(stored_key)
        if existing.workflow != new.workflow:
            raise IdempotencyConflict(
                f"idempotency key {key!r} already belongs to run {run_id} of workflow "
                f"{existing.workflow!r}; a run of {new.workflow!r} needs a key of its own (a "
                f"retried submission must name the same workflow)"
            )
        if is_user_key(stored_key) and not same_json(existing.input, new.input):
            raise IdempotencyConflict(
                f"idempotency key {key!r} already belongs to run {run_id} of workflow "
                f"{new.workflow!r}, started with other input; a retried submission must send "
                f"the same input, and a new run needs a key of its own"
            )

    async def _double_texting(self, tenant: str, session: str, policy: DoubleTexting) -> None:
        """Apply the submission's policy to the session's unfinished runs."""
        if policy not in DOUBLE_TEXTING:
            raise ConfigurationError(
                f"double_texting must be one of {', '.join(DOUBLE_TEXTING)}, not {policy!r}"
            )
        store = self._database.store
        if policy == "enqueue":
            await store.ensure_session(tenant, session)
            return
        active = [
            run
            for run in await store.session_runs(tenant, session)
            if run.status not in TERMINAL_STATUSES and run.parent_id is None
        ]
        if active and policy == "reject":
            raise SessionBusy(
                f"session {session!r} has an unfinished run ({active[0].id}); submit with "
                f"double_texting='enqueue', 'interrupt' or 'rollback', or wait for it"
            )
        # Newest first: cancelling the run that holds the session first would let a worker
        # claim the one queued behind it, which would start (and add to the history) before
        # its own cancellation came.
        for run in reversed(active):
            with contextlib.suppress(InvalidRunState):  # it finished meanwhile
                await self.cancel(run.id)
            if policy == "rollback":
                await store.drop_run_messages(tenant, session, run.id)
        await store.ensure_session(tenant, session)


def same_json(stored: str, submitted: str) -> bool:
    """Whether two serialized inputs hold the same value (key order aside: a client may
    serialize a retried body's object in another order)."""
    if stored == submitted:
        return True
    try:
        return _same_value(json.loads(stored), json.loads(submitted))
    except ValueError:
        return False


def _same_value(a: Any, b: Any) -> bool:
    """JSON equality: Python's `==` would take `true` for `1` (and `false` for `0`)."""
    if type(a) is bool or type(b) is bool:
        return a is b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same_value, a, b))
    return bool(a == b)  # a dict or list never equals anything else
