"""Run PydanticAI agents durably inside bosun workflows.

Attach `BosunDurability()` to a `pydantic_ai.Agent` (as PydanticAI's own `TemporalDurability` and
`DBOSDurability` are attached), or call `run(ctx, agent, prompt)` for an agent built without it,
and every model request, tool call and toolset discovery of the agent's runs inside a bosun
workflow becomes a journaled step: a worker killed mid-run resumes on another one without
calling the model, or a finished tool, again. Outside a workflow the capability does nothing,
and the agent runs as it always did.

It is built on PydanticAI's public extension point for durable engines
(`pydantic_ai.durable_exec`): a `BaseDurabilityCapability`, which wraps the agent's model in a
`WrapperModel` and its leaf toolsets (function tools, MCP servers, dynamic toolsets) in
`WrapperToolset`s whose requests and calls go through a `CallableOperationBackend`, whose
`execute` is bosun's `Execution.call_step`. Nothing is monkey-patched. Payloads are journaled as
JSON with PydanticAI's `JSON_CODEC`.

What bosun adds to each kind of unit:

- a model request is a step of kind `llm` named `llm:<alias>` (the alias defaults to the model's
  name), recorded like a `ctx.llm` call: the run's and the tenant's budgets are checked before
  a new request (`BudgetExceeded`), its tokens and cost feed them and the `usage` table (cost at
  the alias's prices when bosun has the alias configured, else PydanticAI's genai-prices
  estimate), a rate limit registered as `llm:<alias>` is reserved before it and settled with the
  real usage after it, and retryable errors (429, 5xx, timeouts) are retried on durable timers,
  honouring a provider's Retry-After;
- a tool call is a step of kind `tool` named `tool:<name>`, run once (`tool_retry=` to retry);
  a tool marked `durable=False` (or with metadata `{"bosun": False}`) runs as workflow code
  instead, so it may wait for a signal; per-tool options go in metadata
  `{"bosun": {"retry": bosun.Retry(...), "timeout": 30}}`;
- a call of a tool that needs approval (`requires_approval=True`, or one raising
  `ApprovalRequired`: PydanticAI's deferred tools) waits for a human's decision through bosun's
  approvals (`bosun.agents.approvals`), in the capability's `handle_deferred_tool_calls` hook:
  the run suspends holding no worker, the call is listed in the run's `pending_approvals`, and
  `approve`, `reject` (its message is the `ToolDenied` the model reads) or `edit` (PydanticAI's
  `ToolApproved(override_args=…)`) continues the same agent run. `approvals=False` leaves them to
  PydanticAI (the run ends with `DeferredToolRequests` output);
- everything else (MCP and dynamic toolset discovery, an event stream handler's events…) is a
  plain step named as PydanticAI names it.

Positions in the journal: each agent run takes one position of the workflow and numbers its
units under it; each tool call numbers its own under the run step and tool call id, so tools
that run in parallel replay into the right calls whatever order they finished in.
"""

from __future__ import annotations

import contextvars
import json
import math
import time
import uuid
import weakref
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

try:
    from pydantic_ai import Agent, ModelResponse
    from pydantic_ai.agent import AbstractAgent, EventStreamHandler
    from pydantic_ai.capabilities.abstract import (
        WrapRunHandler,
        WrapToolExecuteHandler,
        WrapToolValidateHandler,
    )
    from pydantic_ai.durable_exec import (
        JSON_CODEC,
        BaseDurabilityCapability,
        CallableOperationBackend,
        DurabilityEngineSpec,
        DurableOperationBackend,
        DurableOperationId,
        JournalOperationNamer,
        ModelCompactMessagesId,
        ModelRequestId,
        RoleBasedOperationConfig,
        ToolsetCallToolId,
        ToolsetGetInstructionsId,
        ToolsetGetToolsId,
        ToolsetKind,
        conversation_id_from_run_id,
    )
    from pydantic_ai.exceptions import (
        ModelQuotaExceededError,
        ModelRequestRejectedError,
        ModelRequestTimeout,
        UnexpectedModelBehavior,
        UsageLimitExceeded,
        UserError,
    )
    from pydantic_ai.messages import (
        AgentStreamEvent,
        ModelRequest,
        PartDeltaEvent,
        PartStartEvent,
        TextPart,
        TextPartDelta,
        ThinkingPart,
        ThinkingPartDelta,
        ToolCallPart,
    )
    from pydantic_ai.models import Model
    from pydantic_ai.run import AgentRunResult
    from pydantic_ai.tools import (
        AgentDepsT,
        DeferredToolRequests,
        DeferredToolResults,
        RunContext,
        ToolApproved,
        ToolDefinition,
        ToolDenied,
    )
    from pydantic_ai.toolsets import ToolsetTool
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "bosun.integrations.pydantic_ai needs PydanticAI: pip install 'bosun[pydantic-ai]'"
    ) from exc

from bosun import ratelimit
from bosun.agents import approvals as _approvals
from bosun.agents import budget
from bosun.agents.llm import ESTIMATED_COMPLETION, REASONING_DELTA, TEXT_DELTA, DeltaBatcher
from bosun.agents.messages import ToolCall, ToolSpec, Usage
from bosun.agents.registry import MODELS
from bosun.engine.context import WorkflowContext
from bosun.engine.control import Abandon, Release, Suspend
from bosun.engine.definitions import StepDef
from bosun.engine.execution import (
    Cursor,
    Execution,
    current_cursor,
    current_execution,
    current_step,
)
from bosun.engine.hooks import LlmCall
from bosun.errors import BosunError, ConfigurationError, DeterminismError
from bosun.retry import NO_RETRY, Retry

__all__ = ["MODEL_RETRY", "BosunDurability", "run"]

MODEL_RETRY = Retry(
    attempts=5,
    initial=1.0,
    backoff=2.0,
    max_interval=60.0,
    # What another attempt of the same request cannot fix (PydanticAI's own durable engines
    # leave these unretried too): a rejected request (bad key, unknown model, context
    # overflow), an exhausted quota, a deadline gone, an answer the model cannot give.
    non_retryable=(
        ModelRequestRejectedError,
        ModelQuotaExceededError,
        ModelRequestTimeout,
        UnexpectedModelBehavior,
        UsageLimitExceeded,
        UserError,
    ),
)
"""How a model request is retried by default: five attempts on durable timers."""

DISCOVERY_RETRY = Retry(attempts=3)
"""How toolset discovery (an MCP server's tool list…) is retried by default."""

_RUN_IDS = uuid.UUID("0b05e2a1-7d4e-4c55-8f0e-5a1d7ca7a1d0")


# -- per agent run -----------------------------------------------------------------------------


@dataclass
class _AgentRun:
    """The journal positions of one agent run inside a workflow."""

    seq: str  # the workflow position the agent run takes
    main: Cursor = field(init=False)
    calls: dict[tuple[int, str], Cursor] = field(default_factory=dict)
    named: dict[str, Cursor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.main = Cursor(f"{self.seq}.")

    def call(self, run_step: int, tool_call_id: str) -> Cursor:
        """The cursor of one tool call's units (its validation, its call, what it journals)."""
        key = (run_step, tool_call_id)
        cursor = self.calls.get(key)
        if cursor is None:
            cursor = self.calls[key] = Cursor(f"{self.seq}.s{run_step}.{tool_call_id}.")
        return cursor

    def of(self, name: str) -> Cursor:
        """The cursor of units that may run concurrently with others (toolset discovery)."""
        cursor = self.named.get(name)
        if cursor is None:
            cursor = self.named[name] = Cursor(f"{self.seq}.{name}.")
        return cursor


_agent_run: contextvars.ContextVar[_AgentRun | None] = contextvars.ContextVar(
    "bosun_pydantic_ai_run", default=None
)
_tool_call: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "bosun_pydantic_ai_tool", default=None
)
# Agent runs started at one workflow position in one execution (run ids stay distinct).
_run_counts: weakref.WeakKeyDictionary[Execution, dict[str, int]] = weakref.WeakKeyDictionary()


@contextmanager
def _cursor(cursor: Cursor) -> Iterator[None]:
    token = current_cursor.set(cursor)
    try:
        yield
    finally:
        current_cursor.reset(token)


def _workflow_execution() -> Execution | None:
    """The execution whose workflow code runs here (None in a step, or outside bosun)."""
    if current_step.get() is not None:
        return None
    return current_execution.get()


# -- the capability ----------------------------------------------------------------------------

_UnitConfig = Mapping[str, Any]


@dataclass(init=False, kw_only=True)
class BosunDurability(BaseDurabilityCapability[AgentDepsT]):
    """Makes a `pydantic_ai.Agent` durable when it runs inside a bosun workflow.

    ```python
    from pydantic_ai import Agent
    from bosun.integrations.pydantic_ai import BosunDurability

    agent = Agent("openai:gpt-5-mini", name="support", capabilities=[BosunDurability()])

    @app.workflow()
    async def support(ctx: bosun.Context, question: str) -> str:
        return (await agent.run(question)).output
    ```

    Args:
        alias: the bosun model alias that model requests are recorded, priced and rate limited
            under (`llm:<alias>`): a string, or a function of the PydanticAI model name; by
            default the model name itself.
        models: more models by id, for runs that switch models (PydanticAI's `models=`).
        name: the name of the agent's steps (by default the agent's `name`, which it then needs).
        event_stream_handler: PydanticAI's event stream handler: model events are handled live
            inside the model request's step, other events each in a step of their own.
        model_retry: retry policy of model requests (`MODEL_RETRY`).
        tool_retry: retry policy of tool calls (default: one attempt, as for `bosun.Agent`).
        model_timeout: seconds a model request's step may take (none by default).
        tool_timeout: seconds a tool call's step may take (none by default).
        approvals: decide the calls of tools that need approval through bosun's approvals
            (the default); False leaves them to PydanticAI's `DeferredToolRequests` output.
        approval_timeout: how long a call waits for a decision (for ever by default).
        on_timeout: with no decision in time, `"reject"` tells the model the call was not
            approved in time; `"fail"` fails the run with `ApprovalTimeout`.
    """

    engine_spec = DurabilityEngineSpec(
        engine_name="bosun",
        durable_unit_noun="step",
        durable_container_noun="workflow",
        codec=JSON_CODEC,  # the journal holds JSON
        wrapped_toolset_kinds=frozenset({"function", "mcp", "dynamic"}),
        toolset_lifecycles={
            "function": "enter-always",
            # Steps run in the worker's own process: one MCP session for the whole agent run.
            "mcp": "enter-in-durable-unit",
            "dynamic": "enter-never",
        },
        tool_call_result_upgrade_lenient=False,
        journal_discovery=True,
        sequential_tools_in_durable_context=False,  # each call has its own journal positions
        # Toolsets passed to one run are not wrapped: their calls would not be journaled.
        unsupported_runtime_toolset_kinds=frozenset({"function", "mcp", "dynamic"}),
        tool_config_key="bosun",
        control_flow_error_types=(Suspend, Release, Abandon),
        nondeterminism_error_types=(DeterminismError,),
    )

    def __init__(
        self,
        *,
        alias: str | Callable[[str], str] | None = None,
        models: Mapping[str, Model] | None = None,
        name: str | None = None,
        event_stream_handler: EventStreamHandler[AgentDepsT] | None = None,
        model_retry: Retry = MODEL_RETRY,
        tool_retry: Retry | None = None,
        model_timeout: float | None = None,
        tool_timeout: float | None = None,
        approvals: bool = True,
        approval_timeout: float | timedelta | None = None,
        on_timeout: _approvals.OnTimeout = "reject",
    ) -> None:
        super().__init__(models=models, event_stream_handler=event_stream_handler, name=name)
        self.alias = alias
        policy = _approvals.Approval.of(True, approval_timeout, on_timeout)
        self._approval = policy if approvals else None
        self._model_config: dict[str, Any] = {"retry": model_retry, "timeout": model_timeout}
        self._tool_config: dict[str, Any] = {
            "retry": tool_retry or NO_RETRY,
            "timeout": tool_timeout,
        }
        self._discovery_config: dict[str, Any] = {"retry": DISCOVERY_RETRY, "timeout": None}
        self._other_config: dict[str, Any] = {"retry": NO_RETRY, "timeout": None}
        self._backend: _BosunBackend | None = None

    # -- where we are

    @property
    def in_durable_context(self) -> bool:
        """Whether this is a bosun workflow's own code (not a step's, nor outside bosun)."""
        return _workflow_execution() is not None

    @property
    def in_durable_unit(self) -> bool:
        return current_step.get() is not None or super().in_durable_unit

    def alias_for(self, model_name: str) -> str:
        """The bosun model alias of requests to the model PydanticAI calls `model_name`."""
        if self.alias is None:
            return model_name
        if isinstance(self.alias, str):
            return self.alias
        return self.alias(model_name)

    # -- replay-stable identity and time

    def get_default_run_id(self) -> str | None:
        """An agent run's id, derived from the run and the workflow position it starts at."""
        execution = _workflow_execution()
        if execution is None:
            return None
        cursor = current_cursor.get()
        at = f"{cursor.prefix}{cursor.count + 1}"
        counts = _run_counts.setdefault(execution, {})
        nth = counts[at] = counts.get(at, 0) + 1
        return str(uuid.uuid5(_RUN_IDS, f"{execution.run.id}/{at}/{nth}"))

    def get_default_conversation_id(self, run_id: str) -> str | None:
        return conversation_id_from_run_id(run_id) if self.in_durable_context else None

    async def get_run_start_time(self, run_id: str) -> datetime | None:
        """When the agent run first started (journaled), for its `timeout=`."""
        execution = _workflow_execution()
        if execution is None:
            return None
        stamp = execution.recorded_value("now", time.time)
        return datetime.fromtimestamp(float(stamp), tz=UTC)

    async def durable_sleep(self, seconds: float) -> None:
        """A durable timer (waits between polls of a background response): the run suspends,
        holding no worker."""
        execution = _workflow_execution()
        assert execution is not None
        await execution.sleep_until(time.time() + max(seconds, 0.0))

    # -- streaming

    def _model_stream_event_handler(self) -> EventStreamHandler[AgentDepsT] | None:
        """Inside a streamed model request's step, publish its text (and reasoning) to the
        run's streams as `llm.delta` (`llm.reasoning.delta`) events, as `ctx.llm` does, then
        hand the events on to the agent's own handler, if it has one."""
        handler = super()._model_stream_event_handler()

        async def publish(
            ctx: RunContext[AgentDepsT], events: AsyncIterable[AgentStreamEvent]
        ) -> None:
            execution = current_execution.get()
            if execution is None or current_step.get() is None:
                if handler is not None:
                    await handler(ctx, events)
                else:
                    async for _ in events:
                        pass
                return
            async with DeltaBatcher(execution) as deltas:

                async def published() -> AsyncIterator[AgentStreamEvent]:
                    async for event in events:
                        delta = _delta(event)
                        if delta is not None:
                            await deltas.add(*delta)
                        yield event

                if handler is not None:
                    await handler(ctx, published())
                else:
                    async for _ in published():
                        pass

        return publish

    # -- journal positions

    async def wrap_run(
        self, ctx: RunContext[AgentDepsT], *, handler: WrapRunHandler
    ) -> AgentRunResult[Any]:
        """Give the agent run one position of the workflow, and its units positions under it."""
        if _workflow_execution() is None:
            return await super().wrap_run(ctx, handler=handler)
        state = _AgentRun(current_cursor.get().next())
        token = _agent_run.set(state)
        try:
            with _cursor(state.main):
                return await super().wrap_run(ctx, handler=handler)
        finally:
            _agent_run.reset(token)

    async def wrap_tool_validate(
        self,
        ctx: RunContext[AgentDepsT],
        *,
        call: ToolCallPart,
        tool_def: ToolDefinition,
        args: str | dict[str, Any],
        handler: WrapToolValidateHandler,
    ) -> dict[str, Any]:
        with self._tool_scope(ctx, call):
            return await handler(args)

    async def wrap_tool_execute(
        self,
        ctx: RunContext[AgentDepsT],
        *,
        call: ToolCallPart,
        tool_def: ToolDefinition,
        args: dict[str, Any],
        handler: WrapToolExecuteHandler,
    ) -> Any:
        with self._tool_scope(ctx, call):
            return await handler(args)

    @contextmanager
    def _tool_scope(self, ctx: RunContext[AgentDepsT], call: ToolCallPart) -> Iterator[None]:
        """Journal what one tool call does under positions of its own."""
        state = _agent_run.get()
        if state is None or _workflow_execution() is None:
            yield
            return
        token = _tool_call.set(call.tool_name)
        try:
            with _cursor(state.call(ctx.run_step, call.tool_call_id)):
                yield
        finally:
            _tool_call.reset(token)

    # -- approvals

    async def handle_deferred_tool_calls(
        self, ctx: RunContext[AgentDepsT], *, requests: DeferredToolRequests
    ) -> DeferredToolResults | None:
        """Decide the calls waiting for approval through bosun's approvals, all at once (each
        listed in the run's `pending_approvals`); other deferred calls are left to the next
        capability, or to the run's `DeferredToolRequests` output."""
        execution = _workflow_execution()
        if execution is None or self._approval is None or not requests.approvals:
            return await super().handle_deferred_tool_calls(ctx, requests=requests)
        workflow = WorkflowContext(execution)
        verdicts = await workflow.gather(
            *(self._decision(workflow, ctx, call) for call in requests.approvals)
        )
        return DeferredToolResults(
            approvals={
                call.tool_call_id: verdict
                for call, verdict in zip(requests.approvals, verdicts, strict=True)
            }
        )

    async def _decision(
        self, workflow: WorkflowContext, ctx: RunContext[AgentDepsT], call: ToolCallPart
    ) -> ToolApproved | ToolDenied:
        assert self._approval is not None
        tool = ctx.tool_manager.get_tool_def(call.tool_name) if ctx.tool_manager else None
        spec = ToolSpec(
            name=call.tool_name,
            description=(tool.description if tool is not None else None) or "",
            parameters=tool.parameters_json_schema if tool is not None else {},
        )
        proposed = call.args_as_json_str()
        asked = ToolCall(id=call.tool_call_id, name=call.tool_name, arguments=proposed)
        verdict = await _approvals.request_decision(workflow, asked, spec, self._approval)
        if verdict.arguments is None:
            return ToolDenied(verdict.answer)
        if verdict.arguments == proposed:
            return ToolApproved()
        return ToolApproved(override_args=json.loads(verdict.arguments))

    # -- the backend

    def get_durable_operation_backend(self) -> DurableOperationBackend[Any]:
        if self._backend is None:

            def tool_config(
                operation_id: DurableOperationId, tool: object | None, tool_name: str
            ) -> _UnitConfig | Literal[False]:
                if isinstance(operation_id, ToolsetGetToolsId | ToolsetGetInstructionsId):
                    return self._discovery_config
                resolve = self._build_resolve_tool_config(self._tool_config)
                config = resolve(cast("ToolsetTool[Any] | None", tool), tool_name)
                return False if config is False else _unit_config(config, tool_name)

            self._backend = _BosunBackend(
                self,
                config=RoleBasedOperationConfig(
                    model=self._model_config,
                    event=self._other_config,
                    capability=self._other_config,
                    tool=self._tool_config,
                    resolve_tool=tool_config,
                ),
            )
        return self._backend

    def _bind_to_agent(self, agent: AbstractAgent[AgentDepsT, Any]) -> None:
        self._backend = None  # the bound copy gets a backend of its own (named for its agent)
        super()._bind_to_agent(agent)

    def _toolset_base_config(self, kind: ToolsetKind) -> Any:
        """Options of a toolset's discovery steps (listing an MCP server's tools…)."""
        return self._tool_config if kind == "function" else self._discovery_config

    # -- model requests

    async def _model_step(
        self,
        execution: Execution,
        operation_id: ModelRequestId | ModelCompactMessagesId,
        body: Callable[[], Awaitable[object]],
        cache_key: tuple[object, ...],
        config: _UnitConfig,
    ) -> object:
        """One model request: reserved against `llm:<alias>`, checked against the budgets,
        journaled as an `llm` step with its usage and cost, and settled."""
        alias = self.alias_for(operation_id.model_name)
        limit = f"llm:{alias}"
        reservation = None
        if limit in execution.env.rate_limits:
            estimate = _estimate_tokens(cache_key) + _max_tokens(cache_key)
            reservation = await ratelimit.reserve(execution, limit, estimate)
        if execution.recorded_next() is None:  # about to make a new request, not replay one
            await budget.check(execution)

        async def request() -> dict[str, Any]:
            started = time.monotonic()
            payload = await body()
            response = payload if isinstance(payload, dict) else {}
            usage = _usage(response)
            cost = _cost(execution, alias, usage, response)
            budget.spend(execution, usage.total_tokens, cost)
            execution.env.observer.llm_called(
                execution,
                LlmCall(
                    alias=alias,
                    model=str(response.get("model_name") or operation_id.model_name),
                    provider=str(response.get("provider_name") or "pydantic_ai"),
                    input_tokens=usage.prompt_tokens,
                    output_tokens=usage.completion_tokens,
                    cached_tokens=usage.cached_tokens,
                    cost=cost,
                    seconds=time.monotonic() - started,
                ),
            )
            # The shape of a `ctx.llm` entry where budgets and the `usage` table read it.
            return {
                "response": {"usage": usage.model_dump(), "model": response.get("model_name")},
                "cost": cost,
                "pydantic_ai": payload,
            }

        step = StepDef(
            fn=request,
            name=limit,
            retry=config.get("retry") or MODEL_RETRY,
            timeout=config.get("timeout"),
            is_async=True,
            return_hint=Any,
        )
        recorded = await execution.call_step(step, (), {}, kind="llm")
        if reservation is not None:
            tokens = _usage(recorded["response"]).total_tokens
            await ratelimit.settle(execution, reservation, tokens)
        return recorded["pydantic_ai"]


class _BosunBackend(CallableOperationBackend[_UnitConfig]):
    """Runs each of PydanticAI's durable units as a bosun step."""

    def __init__(
        self, owner: BosunDurability[Any], *, config: RoleBasedOperationConfig[_UnitConfig]
    ) -> None:
        super().__init__(namer=JournalOperationNamer(owner.name or "agent"), config=config)
        self._owner = owner

    def execution_attempt(self) -> int:
        scope = current_step.get()
        return 1 if scope is None else scope.attempt

    async def execute(
        self,
        *,
        operation_id: DurableOperationId,
        name: str,
        body: Callable[[], Awaitable[object]],
        cache_key: tuple[object, ...],
        config: _UnitConfig,
    ) -> object:
        execution = _workflow_execution()
        if execution is None:  # a nested agent run inside a step: the step is the unit
            return await body()
        config = _unit_config(config, name)
        if isinstance(operation_id, ModelRequestId | ModelCompactMessagesId):
            return await self._owner._model_step(execution, operation_id, body, cache_key, config)
        kind: Literal["tool", "step"] = "step"
        step_name = name
        if isinstance(operation_id, ToolsetCallToolId):
            kind = "tool"
            step_name = f"tool:{_tool_call.get() or _tool_name(cache_key) or name}"
        step = StepDef(
            fn=body,
            name=step_name,
            retry=config.get("retry") or NO_RETRY,
            timeout=config.get("timeout"),
            is_async=True,
            return_hint=Any,
        )
        state = _agent_run.get()
        if state is not None and isinstance(
            operation_id, ToolsetGetToolsId | ToolsetGetInstructionsId
        ):
            # Toolsets are listed concurrently: each toolset numbers its own listings.
            with _cursor(state.of(operation_id.toolset_id)):
                return await execution.call_step(step, (), {}, kind=kind)
        return await execution.call_step(step, (), {}, kind=kind)


def _unit_config(config: object, name: str) -> dict[str, Any]:
    """A unit's options, checked: `retry` (a `bosun.Retry`) and `timeout` (seconds)."""
    if not isinstance(config, Mapping):
        raise ConfigurationError(f"{name}: bosun options must be a dict, got {config!r}")
    unknown = set(config) - {"retry", "timeout"}
    if unknown:
        raise ConfigurationError(
            f"{name}: unknown bosun option(s) {sorted(unknown)}; known: retry, timeout"
        )
    retry = config.get("retry")
    if retry is not None and not isinstance(retry, Retry):
        raise ConfigurationError(f"{name}: retry must be a bosun.Retry, got {retry!r}")
    timeout = config.get("timeout")
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise ConfigurationError(f"{name}: timeout must be a positive number of seconds")
    return dict(config)


def _delta(event: object) -> tuple[str, str] | None:
    """The text or reasoning a model stream event adds, as (bosun event type, text)."""
    if isinstance(event, PartStartEvent):
        part = event.part
        if isinstance(part, TextPart) and part.content:
            return TEXT_DELTA, part.content
        if isinstance(part, ThinkingPart) and part.content:
            return REASONING_DELTA, part.content
    elif isinstance(event, PartDeltaEvent):
        delta = event.delta
        if isinstance(delta, TextPartDelta) and delta.content_delta:
            return TEXT_DELTA, delta.content_delta
        if isinstance(delta, ThinkingPartDelta) and delta.content_delta:
            return REASONING_DELTA, delta.content_delta
    return None


# -- usage, cost, estimates --------------------------------------------------------------------


def _usage(response: Mapping[str, Any]) -> Usage:
    """The usage of a journaled response, in bosun's terms (from PydanticAI's or bosun's)."""
    raw = response.get("usage")
    usage = raw if isinstance(raw, Mapping) else {}
    if "prompt_tokens" in usage:
        return Usage.model_validate(usage)
    return Usage(
        prompt_tokens=int(usage.get("input_tokens") or 0),
        completion_tokens=int(usage.get("output_tokens") or 0),
        cached_tokens=int(usage.get("cache_read_tokens") or 0),
    )


def _cost(execution: Execution, alias: str, usage: Usage, response: Mapping[str, Any]) -> float:
    """US dollars: at the alias's prices when bosun has the alias, else genai-prices' estimate."""
    models = execution.env.extensions.get(MODELS)
    if models is not None:
        try:
            config = models.configs.get(alias)
        except ConfigurationError:
            config = None
        if config is not None:
            return config.cost(usage)
    try:
        price = cast(ModelResponse, JSON_CODEC.load(ModelResponse, response)).cost()
        total = float(price.total_price)
    except Exception:  # an unknown model or provider: no price
        return 0.0
    return total if math.isfinite(total) and total >= 0 else 0.0


def _text_length(value: object) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_text_length(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_text_length(v) for v in value)
    return 0


def _estimate_tokens(cache_key: tuple[object, ...]) -> int:
    """About four characters a token, over the text of the request's messages."""
    messages = next(
        (v for v in cache_key if isinstance(v, list) and all(_is_message(m) for m in v)), []
    )
    chars = 0
    for message in messages:
        for part in getattr(message, "parts", ()):
            chars += _text_length(getattr(part, "content", None))
            chars += _text_length(getattr(part, "args", None))
    return math.ceil(chars / 4) + 4 * len(messages)


def _is_message(value: object) -> bool:
    return isinstance(value, ModelRequest | ModelResponse)


def _max_tokens(cache_key: tuple[object, ...]) -> int:
    for value in cache_key:
        if isinstance(value, Mapping) and isinstance(value.get("max_tokens"), int):
            return int(value["max_tokens"])
    return ESTIMATED_COMPLETION


def _tool_name(cache_key: tuple[object, ...]) -> str | None:
    for value in cache_key:
        if isinstance(value, RunContext) and value.tool_name:
            return value.tool_name
    first = cache_key[0] if cache_key else None
    return first if isinstance(first, str) else None


# -- running an agent --------------------------------------------------------------------------


async def run(
    ctx: WorkflowContext,
    agent: AbstractAgent[AgentDepsT, Any],
    user_prompt: str | Sequence[Any] | None = None,
    **options: Any,
) -> AgentRunResult[Any]:
    """Run `agent` in the workflow `ctx` belongs to, durably, and return PydanticAI's result.

    `options` are `agent.run`'s (`deps=`, `message_history=`, `usage_limits=`, `output_type=`…).
    An agent built without `BosunDurability` gets one for this run (its steps are named after
    the agent's `name`, which it then needs); one built with it runs as it is.
    """
    if ctx._execution is not current_execution.get() or current_step.get() is not None:
        raise BosunError("bosun.integrations.pydantic_ai.run belongs in workflow code")
    if BosunDurability.from_agent(agent) is not None:
        return await agent.run(user_prompt, **options)
    if not isinstance(agent, Agent):
        raise ConfigurationError(
            f"{agent!r} has no BosunDurability capability, and only a pydantic_ai.Agent can be "
            f"given one for a run: build the agent with capabilities=[BosunDurability()]"
        )
    capabilities = [*agent.root_capability.capabilities, BosunDurability()]
    with agent.override(capabilities=capabilities):
        return await agent.run(user_prompt, **options)
