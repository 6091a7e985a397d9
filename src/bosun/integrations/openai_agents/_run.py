"""`run`: an Agents SDK agent run inside a bosun workflow, every model call, function-tool
call and handoff journaled (see the package docstring)."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from agents import (
    Agent,
    FunctionTool,
    Handoff,
    Model,
    RunConfig,
    RunContextWrapper,
    RunHooks,
    Runner,
    RunResult,
    Session,
    TResponseInputItem,
    handoff,
)
from agents.tool_context import ToolContext
from pydantic import BaseModel

from bosun.agents.approvals import Approval, OnTimeout
from bosun.agents.llm import DEFAULT_IDLE_TIMEOUT
from bosun.engine.definitions import StepDef
from bosun.engine.execution import Cursor, current_cursor
from bosun.integrations.openai_agents._approvals import decided
from bosun.integrations.openai_agents._models import Provider, journaled
from bosun.integrations.openai_agents._scope import Scope
from bosun.integrations.openai_agents._session import BosunSession
from bosun.retry import Retry

if TYPE_CHECKING:
    from bosun.engine.context import WorkflowContext


async def run(
    ctx: WorkflowContext,
    agent: Agent[Any],
    input: str | list[TResponseInputItem],
    *,
    context: Any = None,
    max_turns: int = 10,
    hooks: RunHooks[Any] | None = None,
    run_config: RunConfig | None = None,
    session: str | Session | None = None,
    stream: bool = True,
    tool_retry: Retry | None = None,
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    approval_timeout: float | timedelta | None = None,
    on_timeout: OnTimeout = "reject",
) -> RunResult:
    """Run `agent` on `input` as `Runner.run` would, durably: each model call, function-tool
    call and handoff is journaled, so a replay (a signal, a crash, another worker) makes
    none of them again.

    Args:
        ctx: the workflow's context.
        agent: the starting agent; neither it nor the agents it hands off to are changed
            (the run uses durable copies).
        input: a user message, or a list of conversation items.
        context: the SDK's run context object, handed to tools and hooks.
        max_turns: model calls allowed before the SDK raises `MaxTurnsExceeded`.
        hooks: the SDK's run hooks. They run as workflow code: on every replay too.
        run_config: the SDK's run configuration; its `model_provider` (the SDK's default
            when not given) serves the model names that are not bosun aliases.
        session: a bosun session name (by default the one the run was submitted with, if
            any), whose history the agent starts from and appends to (`BosunSession`); or
            an SDK `Session` object, used as it is (not journaled).
        stream: stream the answers of SDK models, their tokens published to the run's
            event stream as `llm.delta` events (bosun aliases always stream).
        tool_retry: retry policy of the function-tool steps (default: one attempt; the SDK
            hands a tool's error to the model).
        idle_timeout: seconds without a token before a call to a bosun alias fails over.
        approval_timeout: how long a tool call that needs approval (`function_tool(
            needs_approval=…)`) waits for a human's decision; for ever by default.
        on_timeout: with no decision in time, `"reject"` tells the model the call was not
            approved in time; `"fail"` fails the run with `ApprovalTimeout`.

    Returns:
        The SDK's `RunResult` (`result.final_output`, `result.new_items`, `result.last_agent`…),
        never one with `interruptions`: calls that need approval are decided by humans through
        bosun's approvals while the run waits (see `_approvals`).
    """
    approval = Approval.of(True, approval_timeout, on_timeout)
    execution = ctx._execution
    scope = Scope(
        execution=execution,
        stream=stream,
        idle_timeout=idle_timeout,
        tool_retry=tool_retry or Retry(attempts=1),
    )
    config = copy.copy(run_config) if run_config is not None else RunConfig()
    fallback = config.model_provider  # the SDK's default provider, when made here
    config.model_provider = Provider(scope, fallback)
    if isinstance(config.model, Model):
        config.model = journaled(scope, config.model)
    if session is None:
        session = execution.run.session
    memory = BosunSession(execution, session) if isinstance(session, str) else session
    starting = _Durable(scope).agent(agent)
    # The run's own positions: one position of the workflow, and the run's below it (as a
    # gather's branches), so that what the SDK does cannot collide with what follows.
    token = current_cursor.set(Cursor(f"{current_cursor.get().next()}."))
    try:
        result = await Runner.run(
            starting,
            input,
            context=context,
            max_turns=max_turns,
            hooks=hooks,
            run_config=config,
            session=memory,
        )
        while result.interruptions:
            state = await decided(ctx, scope, result, approval)
            result = await Runner.run(
                starting, state, max_turns=max_turns, hooks=hooks, run_config=config, session=memory
            )
        return result
    finally:
        current_cursor.reset(token)
        if run_config is None:  # as Runner.run closes the provider it made
            await fallback.aclose()


class _Durable:
    """Durable copies of an agent and of every agent it can hand off to."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._copies: dict[int, Agent[Any]] = {}
        self._by_name: dict[str, Agent[Any]] = {}

    def agent(self, agent: Agent[Any]) -> Agent[Any]:
        """The durable copy of `agent`: its model journaled (when it is a `Model`; a name is
        resolved through the run's provider, which journals it), its function tools and
        handoffs journaled steps."""
        done = self._copies.get(id(agent))
        if done is not None:
            return done
        durable = agent.clone()
        self._copies[id(agent)] = self._copies[id(durable)] = durable  # a copy is its own
        self._by_name.setdefault(agent.name, durable)
        if isinstance(agent.model, Model):
            durable.model = journaled(self._scope, agent.model)
        durable.tools = [
            self._tool(tool) if isinstance(tool, FunctionTool) else tool for tool in agent.tools
        ]
        durable.handoffs = [self._handoff(target) for target in agent.handoffs]
        return durable

    def _tool(self, tool: FunctionTool) -> FunctionTool:
        """A copy of `tool` whose calls are journaled steps (kind `tool`, `tool:<name>`)."""
        scope = self._scope
        invoke_original = tool.on_invoke_tool
        name = tool.name

        async def invoke(tool_context: ToolContext[Any], arguments: str) -> Any:
            execution = scope.execution
            # The call's own positions: under its model answer's, or else the run's next one.
            prefix = scope.namespace(tool_context.tool_call_id)
            if prefix is None:
                prefix = f"{current_cursor.get().next()}."
            token = current_cursor.set(Cursor(prefix))
            # A human's edit of the call, when it needed approval.
            arguments = scope.edits.get(tool_context.tool_call_id, arguments)
            step = StepDef(
                fn=functools.partial(_invoked, invoke_original, tool_context, arguments),
                name=f"tool:{name}",
                retry=scope.tool_retry,
                is_async=True,
                return_hint=Any,
            )
            try:
                return await execution.call_step(step, (), {}, kind="tool")
            finally:
                current_cursor.reset(token)
                # What the step journaled inside (an agent used as a tool: its model calls)
                # belongs to its result: a replay that returns the result passes it.
                execution.visited.update(s for s in execution.journal if s.startswith(prefix))

        durable = copy.copy(tool)
        durable.on_invoke_tool = invoke
        return durable

    def _handoff(self, target: Agent[Any] | Handoff[Any, Any]) -> Handoff[Any, Any]:
        """A copy of the handoff whose invocation is a journaled step (`handoff:<agent>`),
        the agent it hands to made durable. On replay the step gives the target's name, and
        the `on_handoff` callback does not run again when that agent is known here."""
        if isinstance(target, Agent):
            target = handoff(self.agent(target))
        else:
            # Know the agent a `handoff(agent, …)` hands to by its name, so that a replay need
            # not invoke the handoff (and its `on_handoff` callback) again to find it.
            reference = getattr(target, "_agent_ref", None)
            known = reference() if callable(reference) else None
            if isinstance(known, Agent):
                self.agent(known)
        invoke_original = target.on_invoke_handoff
        scope = self._scope

        async def invoke(run_context: RunContextWrapper[Any], arguments: str) -> Agent[Any]:
            chosen: list[Agent[Any]] = []

            async def call() -> str:
                agent = await invoke_original(run_context, arguments)
                chosen.append(agent)
                return str(agent.name)

            step = StepDef(fn=call, name=f"handoff:{target.agent_name}", is_async=True)
            name = await scope.execution.call_step(step, (), {}, kind="tool")
            agent = chosen[0] if chosen else self._by_name.get(name)
            if agent is None:  # a handoff that makes its agent: ask it again
                agent = await invoke_original(run_context, arguments)
            return self.agent(agent)

        durable = copy.copy(target)
        durable.on_invoke_handoff = invoke
        return durable


async def _invoked(
    invoke: Callable[[ToolContext[Any], str], Awaitable[Any]],
    tool_context: ToolContext[Any],
    arguments: str,
) -> Any:
    """A tool's output as JSON the journal keeps: the SDK's own output models (text, image,
    file) as the dicts it also takes, JSON values as they are, anything else as its text (the
    SDK would send the model `str()` of it)."""
    output = await invoke(tool_context, arguments)
    return _jsonable(output)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return str(value)
    return value
