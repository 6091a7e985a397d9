"""`App`: the registry of workflows and steps, and the entry point for starting runs."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, overload

from bosun import serde, settings
from bosun.agents.budget import Budget
from bosun.agents.registry import Models
from bosun.agents.sandboxed import sandboxed
from bosun.buckets import RateLimit
from bosun.context import Context
from bosun.engine.definitions import FlowControl, KeyFrom, StepDef, WorkflowDef
from bosun.engine.execution import current_execution, current_step
from bosun.engine.runner import webhook_run
from bosun.errors import (
    ConfigurationError,
    IdempotencyConflict,
    InvalidRunState,
    SessionBusy,
    StoreError,
    WorkflowNotFound,
)
from bosun.handles import RunHandle
from bosun.idempotency import event_key, shown_key, user_key
from bosun.ids import check_identifier, new_id
from bosun.retry import Retry
from bosun.sandbox.spec import Limits as SandboxLimits
from bosun.schedules import DEFAULT_MAX_CATCH_UP, Declared, declare
from bosun.sessions import Session
from bosun.store import Store, store_for_url
from bosun.store.records import TERMINAL_STATUSES, MissedPolicy, NewRun
from bosun.webhook_delivery import register_delivery
from bosun.webhooks import check_url
from bosun.wire import DEFAULT_TENANT, KEY_SEPARATOR
from bosun.worker.worker import Worker, WorkerOptions

if TYPE_CHECKING:
    from bosun.observe import Observability

P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
DEFAULT_RETENTION = timedelta(days=30)
MAX_DEADLINE = timedelta(days=3660)  # ten years: later than that is a mistake


class Step(Generic[P, R]):
    """A function whose completion is journaled. Call it from a workflow and await it.

    Outside a workflow (or from inside another step) it simply runs the function.
    """

    def __init__(self, definition: StepDef) -> None:
        self.definition = definition
        self.__doc__ = definition.fn.__doc__
        self.__name__ = definition.name

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        return self._call(args, kwargs)

    async def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        execution = current_execution.get()
        if execution is None or current_step.get() is not None:
            result = self.definition.fn(*args, **kwargs)
            if self.definition.is_async:
                result = await result
            return result  # type: ignore[no-any-return]
        return await execution.call_step(self.definition, args, kwargs)  # type: ignore[no-any-return]


class Workflow(Generic[P, R]):
    """A registered workflow; pass it to `App.start` or `Context.child`."""

    def __init__(self, definition: WorkflowDef) -> None:
        self.definition = definition
        self.__doc__ = definition.fn.__doc__
        self.__name__ = definition.name

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def queue(self) -> str:
        return self.definition.queue


class Registry:
    """Workflows and steps of one App, by name."""

    def __init__(self) -> None:
        self.workflows: dict[str, WorkflowDef] = {}
        self.steps: dict[str, StepDef] = {}
        self.schedules: dict[str, Declared] = {}
        self.rate_limits: dict[str, RateLimit] = {}

    def add_workflow(self, definition: WorkflowDef) -> None:
        if definition.name in self.workflows:
            raise ConfigurationError(f"a workflow named {definition.name!r} is already registered")
        self.workflows[definition.name] = definition

    def add_step(self, definition: StepDef) -> None:
        if definition.name in self.steps:
            raise ConfigurationError(f"a step named {definition.name!r} is already registered")
        self.steps[definition.name] = definition

    def workflow(self, name: str) -> WorkflowDef:
        try:
            return self.workflows[name]
        except KeyError:
            public = (n for n in self.workflows if not n.startswith("bosun."))
            known = ", ".join(sorted(public)) or "none"
            raise WorkflowNotFound(
                f"no workflow named {name!r} is registered (known: {known})"
            ) from None

    def resolve(self, workflow: Any) -> WorkflowDef:
        """Accept a Workflow object, its definition, or its name."""
        if isinstance(workflow, Workflow):
            return workflow.definition
        if isinstance(workflow, WorkflowDef):
            return workflow
        if isinstance(workflow, str):
            return self.workflow(workflow)
        raise ConfigurationError(
            f"expected a workflow (decorated with @app.workflow) or its name, got {workflow!r}"
        )


@dataclass(frozen=True)
class _Options:
    """How a run is submitted, besides its workflow and inputs."""

    idempotency_key: str | None
    queue: str | None
    priority: int
    deadline: float | timedelta | datetime | None
    tenant: str
    session: str | None
    webhook: str | None
    double_texting: DoubleTexting = "enqueue"
    traceparent: str | None = None
    bosun_key: str | None = None  # a stored key bosun made (an event's), not a submitter's


DoubleTexting = Literal["reject", "enqueue", "interrupt", "rollback"]
DOUBLE_TEXTING: tuple[DoubleTexting, ...] = ("reject", "enqueue", "interrupt", "rollback")


def _deadline(value: float | timedelta | datetime | None) -> float | None:
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


class _StepDecorator:
    def __init__(self, app: App, retry: Retry | None, timeout: float | None, name: str | None):
        self._app, self._retry, self._timeout, self._name = app, retry, timeout, name

    @overload
    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Step[P, R]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Step[P, R]: ...
    def __call__(self, fn: Callable[P, Any]) -> Step[P, Any]:
        definition = StepDef.build(fn, self._name, self._retry, self._timeout)
        self._app.registry.add_step(definition)
        return Step(definition)


class App:
    """The one object a bosun user creates: registers workflows and steps, starts runs.

    Args:
        name: the application's name.
        database: database URL; defaults to `BOSUN_DATABASE_URL`, then
            `sqlite:///.bosun/bosun.db`. `sqlite:///…` or `postgresql://…`.
        lease_ttl: seconds a worker's claim on a run lasts without renewal.
        max_payload_bytes: largest serialised input, step output, result, signal or event
            (default 4 MiB); larger ones fail with `PayloadTooLarge`. None: no limit.
        retention: how long finished runs are kept before workers prune them, with their
            journals and events (default 30 days). None: keep forever.
        webhook_secret: key that signs outbound webhooks; defaults to
            `BOSUN_WEBHOOK_SECRET`. None: webhooks are sent unsigned.
        webhook_allow: host names, addresses and CIDR networks webhooks may reach although
            they are private, loopback or link-local (refused by default, so a tenant's
            webhook cannot call the internal network); defaults to `BOSUN_WEBHOOK_ALLOW`
            (comma-separated).
    """

    def __init__(
        self,
        name: str,
        *,
        database: str | None = None,
        lease_ttl: float = 30.0,
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        retention: timedelta | None = DEFAULT_RETENTION,
        webhook_secret: str | None = None,
        webhook_allow: Sequence[str] | None = None,
    ):
        self.name = name
        self.webhook_secret = webhook_secret or settings.webhook_secret()
        self.webhook_allow: tuple[str, ...] = (
            settings.webhook_allow() if webhook_allow is None else tuple(webhook_allow)
        )
        self.database = database or settings.database_url()
        self.lease_ttl = lease_ttl
        self.max_payload_bytes = max_payload_bytes
        self.retention = retention
        self.registry = Registry()
        self._store: Store | None = None
        self._open_lock = asyncio.Lock()
        self._local_workers: list[Worker] = []
        self.queue_limits: dict[str, int] = {}
        #: Model aliases for `ctx.llm` and agents: from BOSUN_MODELS / BOSUN_LLM_* (read on
        #: first use), or registered in code with `app.models.register(alias, provider)`.
        self.models = Models()
        self.tenant_budgets: dict[str | None, Budget] = {}
        #: Where this process's tool calls keep session workspaces; its workers remove those
        #: of deleted sessions (`bosun.sandbox.workspace_sweep`).
        self.workspace_roots: set[Path] = set()
        self._observability: Observability | None = None
        register_delivery(self)

    # -- registration ---------------------------------------------------------------------

    def workflow(
        self,
        *,
        name: str | None = None,
        queue: str = "default",
        concurrency_key: KeyFrom | None = None,
        concurrency_limit: int = 1,
        fairness_key: KeyFrom | None = None,
        schedule: str | None = None,
        timezone: str = "UTC",
        schedule_missed: MissedPolicy = "skip",
        schedule_max_catch_up: int = DEFAULT_MAX_CATCH_UP,
        on_event: str | list[str] | None = None,
        budget: Budget | None = None,
    ) -> Callable[[Callable[Concatenate[Context, P], Awaitable[R]]], Workflow[P, R]]:
        """Register an async function `(ctx, …) -> result` as a workflow.

        Args:
            name: journal and API name (default: the function's qualified name).
            queue: queue its runs wait in.
            concurrency_key: an input name (or a function of the inputs) whose value groups
                runs: at most `concurrency_limit` of a group are started and unfinished at a
                time; the rest wait in submission order (e.g. one active run per session).
            concurrency_limit: runs per key value allowed at once.
            fairness_key: an input name (or function) such as a tenant: runs of one queue are
                claimed round robin across its values.
            schedule: a cron expression (`"*/5 * * * *"`, `"@daily"`): workers start a run at
                each tick, exactly once. The workflow must need no inputs, except an optional
                `scheduled_at: datetime`, which receives the tick. See `bosun.schedules`.
            timezone: IANA time zone the cron expression is read in (default UTC).
            schedule_missed: ticks missed while no worker ran: `"skip"` them, or `"catch_up"`
                by starting the latest `schedule_max_catch_up` of them.
            schedule_max_catch_up: missed ticks started at most with `"catch_up"`.
            on_event: event name(s) that start this workflow (`POST /v1/events/{name}` or
                `App.trigger`); the workflow takes one input, the event's body.
            budget: tokens and/or dollars each run may spend on LLM calls; a run that
                reaches it fails with `BudgetExceeded` before its next call.
        """
        check_identifier(queue, "queue")
        flow = FlowControl(concurrency_key, concurrency_limit, fairness_key)
        events = (on_event,) if isinstance(on_event, str) else tuple(on_event or ())

        def decorate(fn: Callable[Concatenate[Context, P], Awaitable[R]]) -> Workflow[P, R]:
            definition = WorkflowDef.build(fn, name, queue, flow, events)
            definition.budget = budget
            declared = None
            if schedule is not None:
                declared = declare(
                    definition, schedule, timezone, schedule_missed, schedule_max_catch_up
                )
            self.registry.add_workflow(definition)
            if declared is not None:
                self.registry.schedules[definition.name] = declared
            return Workflow(definition)

        return decorate

    def step(
        self, *, retry: Retry | None = None, timeout: float | None = None, name: str | None = None
    ) -> _StepDecorator:
        """Register a sync or async function as a step: journaled, retried, timed out.

        Args:
            retry: retry policy (default: one attempt).
            timeout: start-to-close seconds per attempt.
            name: journal name (default: the function's qualified name). Keep it stable.
        """
        return _StepDecorator(self, retry, timeout, name)

    def tenant_budget(self, budget: Budget, *, tenant: str | None = None) -> None:
        """Limit what a tenant's runs spend on LLM calls (every tenant's when `tenant` is
        None), usually per rolling window: `Budget(cost=20, per=timedelta(days=1))`."""
        if not isinstance(budget, Budget):
            raise ConfigurationError(f"tenant_budget takes a bosun.Budget, got {budget!r}")
        self.tenant_budgets[tenant] = budget

    def tool(
        self,
        *,
        sandbox: bool = False,
        limits: SandboxLimits | None = None,
        network_hosts: Sequence[str] = (),
    ) -> Callable[[F], F]:
        """Mark a function as an agent tool. With `sandbox=True` its code runs in
        `bosun.sandbox` on every call: it must then be self-contained (standard library,
        imports inside the body); see `bosun.agents.sandboxed`. `network_hosts` lets that
        code reach these hosts over HTTP(S) (see `bosun.sandbox.hosts`); none by default."""

        def decorate(fn: F) -> F:
            if not sandbox:
                if network_hosts:
                    raise ConfigurationError("network_hosts applies to sandbox=True tools only")
                return fn
            return sandboxed(fn, limits=limits, network_hosts=network_hosts)

        return decorate

    def register_model_rate_limits(self) -> None:
        """Register the rate limits model aliases declare (`requests_per_minute`,
        `tokens_per_minute`) as `llm:<alias>`, unless code registered one already."""
        for alias, config in self.models.configs.items():
            rpm, tpm = config.requests_per_minute, config.tokens_per_minute
            if rpm is not None or tpm is not None:
                limit = RateLimit(requests=rpm, tokens=tpm, per=60.0)
                self.registry.rate_limits.setdefault(f"llm:{alias}", limit)

    def queue_limit(self, queue: str, max_running: int) -> None:
        """Allow at most `max_running` runs of `queue` to execute at once, across every
        worker on the database (workers record the limit when they start)."""
        if max_running < 0:
            raise ConfigurationError("max_running must be >= 0")
        self.queue_limits[check_identifier(queue, "queue")] = max_running

    def rate_limit(self, name: str, limit: RateLimit) -> None:
        """Register a rate limit shared by every worker on the database, such as an LLM
        model's requests and tokens per minute; workflows take from it with
        `ctx.reserve(name, tokens=…)`."""
        if not isinstance(limit, RateLimit):
            raise ConfigurationError(
                f"rate_limit({name!r}, …) takes a bosun.RateLimit, got {limit!r}"
            )
        known = self.registry.rate_limits.get(name)
        if known is not None and known != limit:
            raise ConfigurationError(f"a rate limit named {name!r} is already registered: {known}")
        self.registry.rate_limits[name] = limit

    @property
    def observability(self) -> Observability:
        """The App's metrics and tracing (`bosun.observe`), made on first use."""
        if self._observability is None:
            from bosun.observe import Observability  # prometheus_client: only when used

            self._observability = Observability(self.name)
        return self._observability

    # -- store ----------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            raise StoreError("the app is not open: use `async with app:` or `await app.open()`")
        return self._store

    def use_database(self, url: str) -> None:
        """Point a not-yet-open app at another database (the CLI's --database)."""
        if self._store is not None:
            raise ConfigurationError("cannot change the database of an open app")
        self.database = url

    async def open(self) -> None:
        """Connect to the database and apply migrations (idempotent)."""
        if self._store is not None:  # every start/result/status calls this: no lock then
            return
        async with self._open_lock:
            if self._store is None:
                store = store_for_url(self.database)
                await store.open()
                self._store = store

    async def close(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await store.close()

    async def __aenter__(self) -> App:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- runs -----------------------------------------------------------------------------

    async def start(
        self,
        workflow: Workflow[P, R] | str,
        *args: Any,
        idempotency_key: str | None = None,
        queue: str | None = None,
        priority: int = 0,
        deadline: float | timedelta | datetime | None = None,
        tenant: str = DEFAULT_TENANT,
        session: str | None = None,
        webhook: str | None = None,
        double_texting: DoubleTexting = "enqueue",
        **kwargs: Any,
    ) -> RunHandle[R]:
        """Start a run; with an `idempotency_key` the tenant used before, return that run
        (`IdempotencyConflict` if that run is of another workflow).

        `deadline` is seconds from now, a timedelta, or an absolute datetime. `session`
        groups a conversation's runs: unless the workflow has its own `concurrency_key`, one
        of them runs at a time, in order. `webhook` is a URL told when the run finishes
        (checked now: `InvalidRequest` if it is not one bosun can deliver to).

        `double_texting` says what happens when the session already has an unfinished run:
        `"enqueue"` this one after it (the default), `"reject"` this one
        (`SessionBusy`), `"interrupt"` the other (cancelled; the history it added stays),
        or `"rollback"` the other (cancelled, and its messages removed from the history).
        """
        definition = self.registry.resolve(workflow)
        payload = self._checked(definition.encode_input(args, kwargs), definition)
        options = _Options(
            idempotency_key, queue, priority, deadline, tenant, session, webhook, double_texting
        )
        return await self._submit(definition, payload, options)

    async def start_json(
        self,
        workflow: str,
        data: Any,
        *,
        idempotency_key: str | None = None,
        queue: str | None = None,
        priority: int = 0,
        deadline: float | timedelta | datetime | None = None,
        tenant: str = DEFAULT_TENANT,
        session: str | None = None,
        webhook: str | None = None,
        double_texting: DoubleTexting = "enqueue",
        traceparent: str | None = None,
    ) -> RunHandle[Any]:
        """Start a run from JSON input (an object of named inputs or an array).

        `traceparent` (a W3C trace context header) makes the run's trace continue the
        caller's; an invalid one is ignored.
        """
        definition = self.registry.workflow(workflow)
        payload = self._checked(definition.encode_json_input(data), definition)
        options = _Options(
            idempotency_key,
            queue,
            priority,
            deadline,
            tenant,
            session,
            webhook,
            double_texting,
            traceparent,
        )
        return await self._submit(definition, payload, options)

    async def trigger(
        self,
        event: str,
        data: Any,
        *,
        event_id: str | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> list[tuple[str, RunHandle[Any], bool]]:
        """Start every workflow declared with `on_event=event`, passing `data` as its input.

        The same `event_id` starts nothing new: each (tenant, event, workflow, event id) is
        one run, whose key no submitted `idempotency_key` can take.
        Returns (workflow name, handle, whether it was created now) per subscribed workflow.
        """
        event_id = event_id or new_id()
        started = []
        for definition in self.registry.workflows.values():
            if event not in definition.on_event:
                continue
            payload = self._checked(definition.encode_input((data,), {}), definition)
            key = event_key(tenant, event, definition.name, event_id)
            options = _Options(None, None, 0, None, tenant, None, None, bosun_key=key)
            handle = await self._submit(definition, payload, options)
            started.append((definition.name, handle, handle.created))
        return started

    def _checked(self, payload: str, definition: WorkflowDef) -> str:
        where = f"input of workflow {definition.name!r}"
        return serde.check_size(payload, self.max_payload_bytes, where)

    async def _submit(
        self, definition: WorkflowDef, payload: str, options: _Options
    ) -> RunHandle[Any]:
        if options.session is not None:
            check_identifier(options.session, "session")
        if options.queue is not None:
            check_identifier(options.queue, "queue")
        await self.open()
        if options.webhook is not None:
            check_url(options.webhook)
        stored_key = options.bosun_key or user_key(options.tenant, options.idempotency_key)
        if options.session is not None:
            await self._double_texting(options)
        concurrency_key, concurrency_limit, fairness_key = definition.keys_for(payload)
        if options.session is not None and concurrency_key is None:
            # One active run per session unless the workflow says otherwise.
            concurrency_key = f"session:{options.tenant}{KEY_SEPARATOR}{options.session}"
            concurrency_limit = 1
        new = NewRun(
            id=new_id(),
            workflow=definition.name,
            queue=options.queue or definition.queue,
            input=payload,
            priority=options.priority,
            idempotency_key=stored_key,
            deadline=_deadline(options.deadline),
            concurrency_key=concurrency_key,
            concurrency_limit=concurrency_limit,
            fairness_key=fairness_key,
            tenant=options.tenant,
            session=options.session,
            webhook_url=options.webhook,
            traceparent=self.observability.submission_traceparent(options.traceparent),
        )
        # Runs under flow control must go through the claim query, which enforces it.
        direct = concurrency_key is None and new.queue not in self.queue_limits
        worker = None
        if direct:
            worker = next((w for w in self._local_workers if w.reserve_slot(new.queue)), None)
        if worker is not None:
            # Direct dispatch: create the run already leased to a local worker with a free
            # slot, saving a commit and a claim round trip.
            claimed = None
            try:
                claimed = await self.store.create_claimed_run(
                    new, worker.owner, worker.lease_ttl, version=worker.version
                )
            finally:
                worker.adopt(claimed)
            if claimed is not None:
                self.observability.run_submitted(new.workflow)
                return RunHandle(self, new.id, workflow=new.workflow, fresh=True, created=True)
        run_id, created = await self.store.create_run(new)
        if created:
            self.observability.run_submitted(new.workflow)
        elif stored_key is not None:
            await self._check_same_workflow(run_id, new.workflow, stored_key)
        return RunHandle(self, run_id, workflow=new.workflow, fresh=created, created=created)

    async def _check_same_workflow(self, run_id: str, workflow: str, stored_key: str) -> None:
        """An idempotency key finds the run it started, never a run of another workflow."""
        existing = await self.store.get_run(run_id)
        if existing is not None and existing.workflow != workflow:
            raise IdempotencyConflict(
                f"idempotency key {shown_key(stored_key)!r} already belongs to run {run_id} "
                f"of workflow {existing.workflow!r}; a run of {workflow!r} needs a key of its "
                f"own (a retried submission must name the same workflow)"
            )

    async def _double_texting(self, options: _Options) -> None:
        """Apply the submission's policy to the session's unfinished runs."""
        policy = options.double_texting
        if policy not in DOUBLE_TEXTING:
            raise ConfigurationError(
                f"double_texting must be one of {', '.join(DOUBLE_TEXTING)}, not {policy!r}"
            )
        session = options.session or ""
        if policy == "enqueue":
            await self.store.ensure_session(options.tenant, session)
            return
        active = [
            run
            for run in await self.store.session_runs(options.tenant, session)
            if run.status not in TERMINAL_STATUSES and run.parent_id is None
        ]
        if active and policy == "reject":
            raise SessionBusy(
                f"session {session!r} has an unfinished run ({active[0].id}); submit with "
                f"double_texting='enqueue', 'interrupt' or 'rollback', or wait for it"
            )
        for run in active:
            with contextlib.suppress(InvalidRunState):  # it finished meanwhile
                await self.cancel(run.id)
            if policy == "rollback":
                await self.store.drop_run_messages(options.tenant, session, run.id)
        await self.store.ensure_session(options.tenant, session)

    async def cancel(self, run_id: str) -> list[str]:
        """Cancel a run and its unfinished children; return the ids cancelled. Runs
        submitted with a webhook get their `run.cancelled` call."""
        await self.open()
        ids = await self.store.cancel_run(run_id)
        for rid in ids:
            record = await self.store.get_run(rid)
            if record is not None:
                self.observability.run_cancelled(record)
            if record is not None and record.webhook_url:
                await self.store.create_run(webhook_run(record))
        return ids

    def session(self, session_id: str, *, tenant: str = DEFAULT_TENANT) -> Session:
        """A handle to a session: its history, state and metadata."""
        return Session(self, session_id, tenant)

    def get_handle(self, run_id: str) -> RunHandle[Any]:
        """A handle to an existing run."""
        return RunHandle(self, run_id)

    @asynccontextmanager
    async def worker(
        self,
        *,
        concurrency: int = 16,
        queues: list[str] | None = None,
        lease_ttl: float | None = None,
        poll_interval: float = 0.2,
        grace: float = 30.0,
        version: str | None = None,
        compatible_versions: tuple[str, ...] = (),
    ) -> AsyncIterator[Worker]:
        """Run a worker in this process for the duration of the `async with` block.

        `version` is the deployment version it advertises (default: a hash of the App's
        workflow and step code); see `WorkerOptions`."""
        served = tuple(check_identifier(q, "queue") for q in queues or ["default"])
        await self.open()
        worker = Worker(
            self,
            WorkerOptions(
                queues=served,
                concurrency=concurrency,
                lease_ttl=lease_ttl or self.lease_ttl,
                poll_interval=poll_interval,
                grace=grace,
                version=version,
                compatible_versions=compatible_versions,
            ),
        )
        task = asyncio.create_task(worker.run())
        self._local_workers.append(worker)
        try:
            yield worker
        finally:
            self._local_workers.remove(worker)
            worker.request_stop()
            await task
