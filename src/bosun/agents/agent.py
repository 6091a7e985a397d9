"""`bosun.Agent`: a tool-calling loop whose every turn and tool call is journaled.

The loop asks the model, runs the tools it calls (in parallel, through `ctx.gather`), hands
back their results, and repeats until the model answers without tool calls or `max_turns`
pass. A crash loses at most the call in flight: on replay, finished turns and tool calls
return their recorded results.

A tool is a plain function (sync or async) whose JSON schema comes from its type hints and
docstring. It runs as a journaled step (kind `tool`), so it completes once. A tool whose first
parameter is the `bosun.Context` runs as workflow code instead: it may wait for a signal (a
human approval), sleep, or start children, and its own steps are journaled. A tool's
exception, and arguments that do not fit its parameters, go back to the model as an error
message; the run goes on.

A tool declared `app.tool(needs_approval=…)`, or named in `Agent(approve=[…])`, waits for a
human's decision before it runs (`bosun.agents.approvals`): the run suspends holding no
worker, and goes on when someone approves, rejects or edits the call.

The model may also hand the conversation to another agent (`handoffs=`, see
`bosun.agents.handoffs`), and guardrails may stop a run on its input or its answer
(`input_guardrails=`, `output_guardrails=`, see `bosun.agents.guardrails`).

Tools may also come from a `ToolSource` (an MCP server: `bosun.mcp.stdio(...)`), passed
beside the functions. Each `run` asks every source for its tools before its first model call
(a journaled step, so a replay sees the same tools) and calls them as journaled steps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from bosun.agents import approvals, guardrails, oneshot, sessions
from bosun.agents.approvals import Approval
from bosun.agents.errors import AgentError, InvalidToolArguments
from bosun.agents.guardrails import Guardrail, GuardrailCheck, as_guardrail, input_text
from bosun.agents.handoffs import Handoff, as_handoff, handoff_table, record_handoff, split
from bosun.agents.invocation import observed
from bosun.agents.llm import DEFAULT_IDLE_TIMEOUT, LLM, step_failed_message
from bosun.agents.messages import Content, Message, ToolCall, ToolSpec
from bosun.agents.structured import validate
from bosun.agents.tools import (
    SourcedTool,
    ToolSource,
    call_arguments,
    tool_spec,
    wants_context,
)
from bosun.engine.definitions import StepDef
from bosun.errors import ConfigurationError, StepFailed
from bosun.retry import Retry

if TYPE_CHECKING:
    from bosun.engine.context import WorkflowContext


@dataclass(frozen=True)
class _Tool:
    fn: Callable[..., Any]
    spec: ToolSpec
    step: StepDef | None  # None: runs as workflow code (takes the Context)
    approval: Approval | None = None  # a human decides on each call it applies to first


@dataclass
class _Talk:
    """One `Agent.run`'s conversation, carried from agent to agent across handoffs."""

    session: str | None
    history: list[Message]  # without the instructions: each agent puts its own first
    max_turns: int  # the first agent's: turns add up across handoffs
    turns: int = 0


class Agent:
    """A model with tools, run inside a workflow.

    Args:
        model: the model alias.
        instructions: the system prompt, or a function of the run's context returning it
            (called in workflow code at each run and handoff: keep it deterministic).
        system: another name for `instructions` (pass one of them).
        tools: plain functions (sync or async), and tool sources such as MCP servers
            (`bosun.mcp.stdio(...)`); see the module docstring.
        handoffs: agents (or `bosun.handoff(agent, history=…)`) the model may hand the
            conversation to, in the same run; see `bosun.agents.handoffs`.
        input_guardrails: checks of the user's input before the model is called; functions
            or `bosun.guardrail(...)`s. See `bosun.agents.guardrails`.
        output_guardrails: checks of the final answer before it is returned.
        max_turns: model calls allowed (across the agents handed to) before `AgentError`.
        output: a type (pydantic model…) the final answer must parse as; None for text.
        temperature: sampling temperature of each model call (the provider's default: None).
        max_tokens: the most tokens each model call may generate.
        tool_retry: retry policy of tool steps (default: one attempt; the model sees errors).
        idle_timeout: seconds without a token before an LLM call fails over.
        history: what to do with session history that does not fit the model's context:
            `trim` drops the oldest messages; `summarize` folds them into a rolling summary
            kept in the session (see `bosun.agents.sessions`).
        summary_model: the model alias that writes summaries (default: `model`).
        approve: names of tools (functions or a source's) whose every call waits for a
            human's approval before it runs; a tool's own `needs_approval=` declaration
            gives its timeout. See `bosun.agents.approvals`.
        name: what traces, handoffs and `run_once` call the agent (`gen_ai.agent.name`).
        description: what the agent does, told to models that may hand over to it or call
            it as a tool (`as_tool`).
    """

    def __init__(
        self,
        *,
        model: str = "default",
        instructions: str | Callable[[WorkflowContext], str] | None = None,
        system: str | None = None,
        tools: Sequence[Callable[..., Any] | ToolSource] = (),
        handoffs: Sequence[Agent | Handoff[Agent]] = (),
        input_guardrails: Sequence[Guardrail | GuardrailCheck] = (),
        output_guardrails: Sequence[Guardrail | GuardrailCheck] = (),
        max_turns: int = 10,
        output: Any = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        tool_retry: Retry | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        history: Literal["trim", "summarize"] = "trim",
        summary_model: str | None = None,
        approve: Sequence[str] = (),
        name: str = "agent",
        description: str | None = None,
    ) -> None:
        if max_turns < 1:
            raise ConfigurationError("max_turns must be >= 1")
        if history not in ("trim", "summarize"):
            raise ConfigurationError(f"history must be 'trim' or 'summarize', got {history!r}")
        if instructions is not None and system is not None:
            raise ConfigurationError(
                "pass the system prompt once: instructions= (or its alias system=), not both"
            )
        self.name = name
        self.description = description
        self.history = history
        self.summary_model = summary_model or model
        self.model = model
        self.instructions = instructions if instructions is not None else system
        self.max_turns = max_turns
        self.output = output
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.idle_timeout = idle_timeout
        self.input_guardrails = [as_guardrail(g) for g in input_guardrails]
        self.output_guardrails = [as_guardrail(g) for g in output_guardrails]
        self.tools: dict[str, _Tool] = {}
        self.sources: list[ToolSource] = []
        for fn in tools:
            if isinstance(fn, ToolSource):
                self.sources.append(fn)
                continue
            spec = tool_spec(fn)
            if spec.name in self.tools:
                raise ConfigurationError(f"two tools are named {spec.name!r}")
            step = None
            if not wants_context(fn):
                step = StepDef.build(fn, f"tool:{spec.name}", tool_retry, None)
            self.tools[spec.name] = _Tool(fn, spec, step, approvals.approval_of(fn))
        #: Where the model may hand the conversation; append to it for agents that hand back.
        self.handoffs: list[Handoff[Agent]] = [as_handoff(h) for h in handoffs]
        for taken in self.handoffs:
            if not isinstance(taken.agent, Agent):
                raise ConfigurationError(f"a handoff goes to a bosun.Agent, got {taken.agent!r}")
        handoff_table(self.name, self.handoffs, self.tools)
        if isinstance(approve, str):
            raise ConfigurationError("approve takes a list of tool names, not one string")
        self.approve = frozenset(approve)
        unknown = self.approve - set(self.tools)
        if unknown and not self.sources:
            raise ConfigurationError(
                f"approve names {', '.join(sorted(unknown))}, which the agent has no tool "
                f"called (its tools: {', '.join(sorted(self.tools)) or 'none'})"
            )

    @property
    def system(self) -> str | None:
        """The system prompt when it is text (`instructions`)."""
        return self.instructions if isinstance(self.instructions, str) else None

    async def run(
        self, ctx: WorkflowContext, input: str | Sequence[Message], *, session: str | None = None
    ) -> Any:
        """Run the loop on `input` (a user message, or a conversation) and return the final
        answer: text, or a value of type `output`, from whichever agent gave it (after
        handoffs).

        In a session (`session=`, by default the one the run was submitted with), the loop
        starts from the session's history (trimmed or summarised to fit the model's context)
        and appends the input and every turn to it.

        Raises:
            GuardrailTripped: an input or output guardrail stopped the run.
            AgentError: no final answer within `max_turns`.
        """
        resolved = session if session is not None else ctx._execution.run.session
        return await self._run(ctx, input, resolved)

    run_once = oneshot.run_once
    as_tool = oneshot.as_tool

    async def _run(
        self, ctx: WorkflowContext, input: str | Sequence[Message], session: str | None
    ) -> Any:
        """`run` in `session` (None: none)."""
        execution = ctx._execution
        with observed(execution, self.name, self.model):
            new = [Message.user(input)] if isinstance(input, str) else list(input)
            await guardrails.check(ctx, self.input_guardrails, input_text(new), "input")
            system = self._instructions(ctx)
            history = await self._history(ctx, session, system + new)
            await sessions.append(execution, session, new)
            talk = _Talk(session, [*history, *new], self.max_turns)
            answer, handoff = await self._turns(ctx, talk)
            while handoff is not None:
                talk.history = handoff.shown(talk.history)
                agent = handoff.agent
                with observed(execution, agent.name, agent.model):
                    answer, handoff = await agent._turns(ctx, talk)
            return answer

    async def _turns(self, ctx: WorkflowContext, talk: _Talk) -> tuple[Any, Handoff[Agent] | None]:
        """Turns of this agent until it answers (the answer, None) or hands over (None, the
        handoff it took)."""
        execution = ctx._execution
        system = self._instructions(ctx)
        table = await self._tool_table(ctx)
        transfers = handoff_table(self.name, self.handoffs, table)
        specs = [t.spec for t in table.values()] + [h.spec for h in transfers.values()]
        while talk.turns < talk.max_turns:
            talk.turns += 1
            messages = [*system, *talk.history]
            response = await _llm(ctx).chat(
                messages=messages,
                model=self.model,
                tools=specs or None,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                idle_timeout=self.idle_timeout,
            )
            message = response.message
            talk.history.append(message)
            if not message.tool_calls:
                return await self._answer(ctx, talk, [*messages, message]), None
            turn = split(message.tool_calls, transfers)
            done: list[str] = []
            if turn.calls:
                done = await ctx.gather(*(self._call(ctx, call, table) for call in turn.calls))
            results = iter(done)
            answers = [
                Message.tool(call, turn.answers[i] if i in turn.answers else next(results))
                for i, call in enumerate(message.tool_calls)
            ]
            talk.history.extend(answers)
            await sessions.append(execution, talk.session, [message, *answers])
            if turn.taken is not None:
                await record_handoff(ctx, self, turn.taken)
                return None, turn.taken
        raise AgentError(f"the agent gave no final answer within {talk.max_turns} turns")

    async def _answer(self, ctx: WorkflowContext, talk: _Talk, messages: list[Message]) -> Any:
        """The final answer the model gave (the last of `messages`), once it passed the
        output guardrails; a session records it after them, so none keeps a stopped one."""
        message, session = messages[-1], talk.session
        if not self.output_guardrails:  # first: the order journals of earlier versions hold
            await sessions.append(ctx._execution, session, [message])
        answer = await self._final(ctx, messages, message.text)
        if self.output_guardrails:
            await guardrails.check(ctx, self.output_guardrails, answer, "output")
            await sessions.append(ctx._execution, session, [message])
        return answer

    def _instructions(self, ctx: WorkflowContext) -> list[Message]:
        """The system message this agent's model calls start with (none without one)."""
        text = self.instructions(ctx) if callable(self.instructions) else self.instructions
        return [] if text is None else [Message.system(text)]

    async def _history(
        self, ctx: WorkflowContext, session: str | None, keep: list[Message]
    ) -> list[Message]:
        """The session's history as this run's prompt shows it."""
        loaded = await sessions.load_history(ctx._execution, session)
        if session is None or not (loaded.messages or loaded.summary):
            return []
        summary = [] if loaded.summary is None else [sessions.summary_message(loaded.summary)]
        messages = [m for _, m in loaded.messages]
        context = _llm(ctx).context_tokens(self.model)
        start = sessions.fitting_from(messages, context, keep + summary)
        if self.history == "trim":
            return messages[start:]
        dropped = [(seq, m) for seq, m in loaded.messages[:start] if seq > loaded.summary_through]
        if not dropped:
            return summary + messages[start:]
        text = await self._summarize(ctx, loaded.summary, [m for _, m in dropped])
        await sessions.save_summary(ctx._execution, session, text, dropped[-1][0])
        return [sessions.summary_message(text), *messages[start:]]

    async def _summarize(
        self, ctx: WorkflowContext, previous: str | None, new: list[Message]
    ) -> str:
        """Fold `new` messages into the `previous` summary with one journaled LLM call."""
        prompt = sessions.SUMMARY_PROMPT.format(words=sessions.SUMMARY_WORDS)
        budget = _llm(ctx).context_tokens(self.summary_model)
        start = sessions.fitting_from(new, budget, [Message.system(prompt)])
        parts = [] if previous is None else [f"Summary so far:\n{previous}"]
        parts.append("New messages:\n" + sessions.transcript(new[start:]))
        response = await _llm(ctx).chat(
            "\n\n".join(parts),
            system=prompt,
            model=self.summary_model,
            idle_timeout=self.idle_timeout,
        )
        return response.message.text.strip()

    async def _final(self, ctx: WorkflowContext, messages: list[Message], text: str) -> Any:
        if self.output is None:
            return text
        value, problem = validate(self.output, text)
        if problem is None:
            return value
        return await _llm(ctx).structured(
            self.output,
            messages=[
                *messages,
                Message.user(f"That answer does not fit the required format: {problem}"),
            ],
            model=self.model,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            idle_timeout=self.idle_timeout,
        )

    async def _tool_table(self, ctx: WorkflowContext) -> dict[str, _Tool | SourcedTool]:
        """This run's tools: the functions, and what each source offers (journaled)."""
        table: dict[str, _Tool | SourcedTool] = dict(self.tools)
        if not self.sources:
            return table
        found = await ctx.gather(*(source.discover(ctx) for source in self.sources))
        for source, tools in zip(self.sources, found, strict=True):
            for tool in tools:
                if tool.spec.name in table:
                    raise ConfigurationError(
                        f"two tools are named {tool.spec.name!r}: {source!r} offers one beside "
                        f"another tool of the agent; rename one (a source's prefix=) or leave "
                        f"one out (its deny=)"
                    )
                table[tool.spec.name] = tool
        unknown = self.approve - set(table)
        if unknown:
            raise ConfigurationError(
                f"approve names {', '.join(sorted(unknown))}, which neither the agent's "
                f"functions nor its sources offer (tools: {', '.join(sorted(table))})"
            )
        return table

    async def _call(
        self, ctx: WorkflowContext, call: ToolCall, table: dict[str, _Tool | SourcedTool]
    ) -> Content:
        tool = table.get(call.name)
        if tool is None:
            known = ", ".join(sorted(table)) or "none"
            return f"error: there is no tool named {call.name!r} (tools: {known})"
        if isinstance(tool, SourcedTool):
            return await self._call_sourced(ctx, call, tool)
        try:
            arguments = call_arguments(tool.fn, call.arguments)
        except InvalidToolArguments as exc:
            return f"error: {exc}"
        approval = self._approval(call.name, tool.approval)
        if approval is not None and approval.applies(arguments):
            verdict = await approvals.request_decision(ctx, call, tool.spec, approval)
            if verdict.arguments is None:
                return verdict.answer
            try:
                arguments = call_arguments(tool.fn, verdict.arguments)
            except InvalidToolArguments as exc:
                return f"error: the arguments a human gave do not fit: {exc}"
        return await self._run_function(ctx, tool, arguments)

    def _approval(self, name: str, declared: Approval | None) -> Approval | None:
        """The approval a call of tool `name` needs: its own, or the agent's `approve=`."""
        if name not in self.approve:
            return declared
        if declared is None:
            return Approval()
        return Approval(True, declared.timeout, declared.on_timeout)

    async def _call_sourced(
        self, ctx: WorkflowContext, call: ToolCall, tool: SourcedTool
    ) -> Content:
        arguments = call.arguments
        approval = self._approval(call.name, None)
        if approval is not None:
            verdict = await approvals.request_decision(ctx, call, tool.spec, approval)
            if verdict.arguments is None:
                return verdict.answer
            arguments = verdict.arguments
        try:
            return await tool.call(ctx, arguments)
        except InvalidToolArguments as exc:
            return f"error: {exc}"
        except StepFailed as exc:
            return step_failed_message(exc)

    async def _run_function(
        self, ctx: WorkflowContext, tool: _Tool, arguments: dict[str, Any]
    ) -> str:
        if tool.step is None:
            try:
                result = await tool.fn(ctx, **arguments)
            except Exception as exc:  # suspension and drain are BaseExceptions: they pass
                return f"error: {type(exc).__name__}: {exc}"
        else:
            try:
                result = await ctx._execution.call_step(tool.step, (), arguments, kind="tool")
            except StepFailed as exc:
                return step_failed_message(exc)
        return result if isinstance(result, str) else json.dumps(result, default=str)


def _llm(ctx: WorkflowContext) -> LLM:
    """`ctx.llm`, for any context a workflow may pass (the agents build it themselves)."""
    return LLM(ctx._execution)
