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
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from bosun.agents import sessions
from bosun.agents.errors import AgentError, InvalidToolArguments
from bosun.agents.llm import DEFAULT_IDLE_TIMEOUT, step_failed_message
from bosun.agents.messages import Message, ToolCall, ToolSpec
from bosun.agents.structured import validate
from bosun.agents.tools import call_arguments, tool_spec, wants_context
from bosun.engine.definitions import StepDef
from bosun.errors import ConfigurationError, StepFailed
from bosun.retry import Retry

if TYPE_CHECKING:
    from bosun.context import Context


@dataclass(frozen=True)
class _Tool:
    fn: Callable[..., Any]
    spec: ToolSpec
    step: StepDef | None  # None: runs as workflow code (takes the Context)


class Agent:
    """A model with tools, run inside a workflow.

    Args:
        model: the model alias.
        system: the system prompt.
        tools: plain functions (sync or async); see the module docstring.
        max_turns: model calls allowed before `AgentError`.
        output: a type (pydantic model…) the final answer must parse as; None for text.
        tool_retry: retry policy of tool steps (default: one attempt; the model sees errors).
        idle_timeout: seconds without a token before an LLM call fails over.
        history: what to do with session history that does not fit the model's context:
            `trim` drops the oldest messages; `summarize` folds them into a rolling summary
            kept in the session (see `bosun.agents.sessions`).
        summary_model: the model alias that writes summaries (default: `model`).
    """

    def __init__(
        self,
        *,
        model: str = "default",
        system: str | None = None,
        tools: Sequence[Callable[..., Any]] = (),
        max_turns: int = 10,
        output: Any = None,
        tool_retry: Retry | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        history: Literal["trim", "summarize"] = "trim",
        summary_model: str | None = None,
    ) -> None:
        if max_turns < 1:
            raise ConfigurationError("max_turns must be >= 1")
        if history not in ("trim", "summarize"):
            raise ConfigurationError(f"history must be 'trim' or 'summarize', got {history!r}")
        self.history = history
        self.summary_model = summary_model or model
        self.model = model
        self.system = system
        self.max_turns = max_turns
        self.output = output
        self.idle_timeout = idle_timeout
        self.tools: dict[str, _Tool] = {}
        for fn in tools:
            spec = tool_spec(fn)
            if spec.name in self.tools:
                raise ConfigurationError(f"two tools are named {spec.name!r}")
            step = None
            if not wants_context(fn):
                step = StepDef.build(fn, f"tool:{spec.name}", tool_retry, None)
            self.tools[spec.name] = _Tool(fn, spec, step)

    async def run(
        self, ctx: Context, input: str | Sequence[Message], *, session: str | None = None
    ) -> Any:
        """Run the loop on `input` (a user message, or a conversation) and return the final
        answer: text, or a value of type `output`.

        In a session (`session=`, by default the one the run was submitted with), the loop
        starts from the session's history (trimmed or summarised to fit the model's context)
        and appends the input and every turn to it.
        """
        execution = ctx._execution
        session = session if session is not None else execution.run.session
        new = [Message.user(input)] if isinstance(input, str) else list(input)
        system = [] if self.system is None else [Message.system(self.system)]
        history = await self._history(ctx, session, system + new)
        await sessions.append(execution, session, new)
        messages = [*system, *history, *new]
        specs = [tool.spec for tool in self.tools.values()]
        for _ in range(self.max_turns):
            response = await ctx.llm.chat(
                messages=messages,
                model=self.model,
                tools=specs or None,
                idle_timeout=self.idle_timeout,
            )
            message = response.message
            messages.append(message)
            if not message.tool_calls:
                await sessions.append(execution, session, [message])
                return await self._final(ctx, messages, message.content or "")
            results = await ctx.gather(*(self._call(ctx, call) for call in message.tool_calls))
            answers = [
                Message.tool(call, result)
                for call, result in zip(message.tool_calls, results, strict=True)
            ]
            messages.extend(answers)
            await sessions.append(execution, session, [message, *answers])
        raise AgentError(f"the agent gave no final answer within {self.max_turns} turns")

    async def _history(
        self, ctx: Context, session: str | None, keep: list[Message]
    ) -> list[Message]:
        """The session's history as this run's prompt shows it."""
        loaded = await sessions.load_history(ctx._execution, session)
        if session is None or not (loaded.messages or loaded.summary):
            return []
        summary = [] if loaded.summary is None else [sessions.summary_message(loaded.summary)]
        messages = [m for _, m in loaded.messages]
        context = ctx.llm.context_tokens(self.model)
        start = sessions.fitting_from(messages, context, keep + summary)
        if self.history == "trim":
            return messages[start:]
        dropped = [(seq, m) for seq, m in loaded.messages[:start] if seq > loaded.summary_through]
        if not dropped:
            return summary + messages[start:]
        text = await self._summarize(ctx, loaded.summary, [m for _, m in dropped])
        await sessions.save_summary(ctx._execution, session, text, dropped[-1][0])
        return [sessions.summary_message(text), *messages[start:]]

    async def _summarize(self, ctx: Context, previous: str | None, new: list[Message]) -> str:
        """Fold `new` messages into the `previous` summary with one journaled LLM call."""
        prompt = sessions.SUMMARY_PROMPT.format(words=sessions.SUMMARY_WORDS)
        budget = ctx.llm.context_tokens(self.summary_model)
        start = sessions.fitting_from(new, budget, [Message.system(prompt)])
        parts = [] if previous is None else [f"Summary so far:\n{previous}"]
        parts.append("New messages:\n" + sessions.transcript(new[start:]))
        response = await ctx.llm.chat(
            "\n\n".join(parts),
            system=prompt,
            model=self.summary_model,
            idle_timeout=self.idle_timeout,
        )
        return (response.message.content or "").strip()

    async def _final(self, ctx: Context, messages: list[Message], text: str) -> Any:
        if self.output is None:
            return text
        value, problem = validate(self.output, text)
        if problem is None:
            return value
        return await ctx.llm.structured(
            self.output,
            messages=[
                *messages,
                Message.user(f"That answer does not fit the required format: {problem}"),
            ],
            model=self.model,
            idle_timeout=self.idle_timeout,
        )

    async def _call(self, ctx: Context, call: ToolCall) -> str:
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return f"error: there is no tool named {call.name!r} (tools: {known})"
        try:
            arguments = call_arguments(tool.fn, call.arguments)
        except InvalidToolArguments as exc:
            return f"error: {exc}"
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
