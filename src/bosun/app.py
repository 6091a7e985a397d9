"""`App`: where workflows and steps are registered (`bosun.registry`), and the facade over
the runtime services it wires: the database (`bosun.database`), submitting and cancelling
runs (`bosun.submission`), handles, sessions, webhook delivery and workers. Nothing below
this module imports it: each service takes what it needs (`bosun.hosts`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Literal,
    ParamSpec,
    TypeVar,
    Unpack,
    overload,
)

from bosun import settings
from bosun.buckets import RateLimit
from bosun.context import Context
from bosun.database import Database
from bosun.engine.definitions import FlowControl, KeyFrom, StepDef, WorkflowDef
from bosun.errors import ConfigurationError
from bosun.handles import RunHandle
from bosun.ids import check_identifier, new_id
from bosun.records import MissedPolicy
from bosun.registry import Registry, Step, Workflow
from bosun.retry import Retry
from bosun.schedules import DEFAULT_MAX_CATCH_UP, declare
from bosun.sessions import Session
from bosun.store import Store
from bosun.submission import DoubleTexting, SubmitKeywords, SubmitOptions, Submitted, Submitter
from bosun.webhook_delivery import register_delivery
from bosun.wire import DEFAULT_TENANT
from bosun.worker.worker import Worker, WorkerOptions

if TYPE_CHECKING:
    from bosun.agents.budget import Budget
    from bosun.agents.registry import Models
    from bosun.observe import Observability
    from bosun.sandbox.spec import Limits as SandboxLimits

P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")

DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
DEFAULT_RETENTION = timedelta(days=30)


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
        self._database = Database(database or settings.database_url())
        self.lease_ttl = lease_ttl
        self.retention = retention
        self.registry = Registry()
        self._local_workers: list[Worker] = []
        self.queue_limits: dict[str, int] = {}
        self._models: Models | None = None
        self.tenant_budgets: dict[str | None, Budget] = {}
        #: Where this process's tool calls keep session workspaces; its workers remove those
        #: of deleted sessions (`bosun.sandbox.workspace_sweep`).
        self.workspace_roots: set[Path] = set()
        self._observability: Observability | None = None
        self._submitter = Submitter(
            self._database,
            self.registry,
            queue_limits=self.queue_limits,
            local_workers=self._local_workers,
            observer=lambda: self.observability,
            max_payload_bytes=max_payload_bytes,
        )
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
            definition = WorkflowDef.build(fn, name, queue, flow, events, Context)
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
        from bosun.agents.budget import Budget

        if not isinstance(budget, Budget):
            raise ConfigurationError(f"tenant_budget takes a bosun.Budget, got {budget!r}")
        self.tenant_budgets[tenant] = budget

    def tool(
        self,
        *,
        sandbox: bool = False,
        limits: SandboxLimits | None = None,
        network_hosts: Sequence[str] = (),
        needs_approval: bool | Callable[[dict[str, Any]], bool] = False,
        approval_timeout: float | timedelta | None = None,
        on_timeout: Literal["reject", "fail"] = "reject",
    ) -> Callable[[F], F]:
        """Mark a function as an agent tool. With `sandbox=True` its code runs in
        `bosun.sandbox` on every call: it must then be self-contained (standard library,
        imports inside the body); see `bosun.agents.sandboxed`. `network_hosts` lets that
        code reach these hosts over HTTP(S) (see `bosun.sandbox.hosts`); none by default.

        With `needs_approval` (True, or a function of a call's arguments saying whether it
        needs asking) an agent's call of the tool waits, suspended, for a human to approve,
        reject or edit it; with no decision within `approval_timeout`, `on_timeout="reject"`
        tells the model so and `"fail"` fails the run (see `bosun.agents.approvals`)."""
        from bosun.agents.approvals import Approval, with_approval

        approval = Approval.of(needs_approval, approval_timeout, on_timeout)
        if approval_timeout is not None and needs_approval is False:
            raise ConfigurationError("approval_timeout applies to needs_approval tools only")

        def decorate(fn: F) -> F:
            if not sandbox:
                if network_hosts:
                    raise ConfigurationError("network_hosts applies to sandbox=True tools only")
                tool = fn
            else:
                from bosun.agents.sandboxed import sandboxed

                tool = sandboxed(fn, limits=limits, network_hosts=network_hosts)
            return tool if needs_approval is False else with_approval(tool, approval)

        return decorate

    def models_in_use(self) -> bool:
        """Whether code or the environment may define a model alias (`app.models` used,
        `BOSUN_MODELS`, `BOSUN_LLM_*` or a provider's `*_API_KEY` set): what a worker checks
        when it starts. Otherwise there is only the offline scripted `default`, and a worker
        of plain workflows need not import the agent toolkit to learn so."""
        return self._models is not None or any(
            name == "BOSUN_MODELS" or name.startswith("BOSUN_LLM_") or name.endswith("_API_KEY")
            for name in os.environ
        )

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

    def declared_queues(self) -> set[str]:
        """The queues this App knows of without asking the database: its workflows', those
        it limits and those its workers in this process serve. Where the App is at hand (the
        API, the UI, `/metrics`), they have a row in the queue stats, of zeros when empty."""
        queues = {d.queue for d in self.registry.workflows.values()}
        queues.update(self.queue_limits)
        for worker in self._local_workers:
            queues.update(worker.options.queues)
        return queues

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
    def models(self) -> Models:
        """Model aliases for `ctx.llm` and agents: from BOSUN_MODELS / BOSUN_LLM_* (read on
        first use), or registered in code with `app.models.register(alias, provider)`. Made
        on first use, so that a worker of plain workflows never imports the agent toolkit."""
        if self._models is None:
            from bosun.agents.registry import Models

            self._models = Models()
        return self._models

    @property
    def observability(self) -> Observability:
        """The App's metrics and tracing (`bosun.observe`), made on first use."""
        if self._observability is None:
            from bosun.observe import Observability  # prometheus_client: only when used

            self._observability = Observability(self.name)
        return self._observability

    # -- store ----------------------------------------------------------------------------

    @property
    def database(self) -> str:
        """The database URL (`sqlite:///…` or `postgresql://…`)."""
        return self._database.url

    @property
    def store(self) -> Store:
        return self._database.store

    def use_database(self, url: str) -> None:
        """Point a not-yet-open app at another database (the CLI's --database)."""
        self._database.use(url)

    async def open(self) -> None:
        """Connect to the database and apply migrations (idempotent)."""
        await self._database.open()

    async def close(self) -> None:
        await self._database.close()

    async def __aenter__(self) -> App:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- runs -----------------------------------------------------------------------------

    @property
    def max_payload_bytes(self) -> int | None:
        """Largest serialised input, step output, result, signal or event; None: no limit."""
        return self._submitter.max_payload_bytes

    @max_payload_bytes.setter
    def max_payload_bytes(self, value: int | None) -> None:
        self._submitter.max_payload_bytes = value

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
        (`IdempotencyConflict` if that run is of another workflow or had other input).

        `deadline` is seconds from now, a timedelta, or an absolute datetime. `session`
        groups a conversation's runs: unless the workflow has its own `concurrency_key`, one
        of them runs at a time, in order. `webhook` is a URL told when the run finishes
        (checked now: `InvalidRequest` if it is not one bosun can deliver to).

        `double_texting` says what happens when the session already has an unfinished run:
        `"enqueue"` this one after it (the default), `"reject"` this one
        (`SessionBusy`), `"interrupt"` the other (cancelled; the history it added stays),
        or `"rollback"` the other (cancelled, and its messages removed from the history).

        The keywords are those of `bosun.submission.SubmitOptions`; the others (and `args`)
        are the workflow's inputs.
        """
        definition = self.registry.resolve(workflow)
        options = SubmitOptions(
            idempotency_key=idempotency_key,
            queue=queue,
            priority=priority,
            deadline=deadline,
            tenant=tenant,
            session=session,
            webhook=webhook,
            double_texting=double_texting,
        )
        payload = definition.encode_input(args, kwargs)
        return self._handle(await self._submitter.submit(definition, payload, options))

    async def start_json(
        self, workflow: str, data: Any, **options: Unpack[SubmitKeywords]
    ) -> RunHandle[Any]:
        """Start a run from JSON input (an object of named inputs or an array), with the
        options of `start` (`bosun.submission.SubmitOptions`).

        `traceparent` (a W3C trace context header) makes the run's trace continue the
        caller's; an invalid one is ignored.
        """
        definition = self.registry.workflow(workflow)
        payload = definition.encode_json_input(data)
        submitted = await self._submitter.submit(definition, payload, SubmitOptions(**options))
        return self._handle(submitted)

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
        started = await self._submitter.trigger(event, data, event_id=event_id, tenant=tenant)
        return [(s.workflow, self._handle(s), s.created) for s in started]

    def _handle(self, submitted: Submitted) -> RunHandle[Any]:
        created = submitted.created  # fresh: the handle's first wait skips reading the run
        run_id, workflow = submitted.run_id, submitted.workflow
        return RunHandle(self, run_id, workflow=workflow, fresh=created, created=created)

    async def cancel(self, run_id: str) -> list[str]:
        """Cancel a run and its unfinished children; return the ids cancelled. Runs
        submitted with a webhook get their `run.cancelled` call."""
        return await self._submitter.cancel(run_id)

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
