"""What the engine tells an observer about the runs it executes.

The engine does no I/O of its own for metrics, traces or logs: it calls a `RunObserver` at
execution and step boundaries, and the worker installs one (`bosun.observe.Observer`). Only
work that actually executes is reported; replayed journal entries are not. Every call is on
the hot path of a step, so implementations do a few in-memory updates and return.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from bosun.records import Lease, Outcome, RunRecord

StepStatus = Literal["completed", "retrying", "failed"]


class ObservedExecution(Protocol):
    """What an observer reads of an execution: an `Execution`, or the `ClaimedRun` of a run
    handed back unexecuted (`bosun.engine.runner.hand_back`)."""

    @property
    def run(self) -> RunRecord: ...

    @property
    def lease(self) -> Lease: ...

    @property
    def took_over(self) -> bool: ...


@dataclass(frozen=True)
class LlmCall:
    """One model call that returned, as `ctx.llm` reports it.

    Attributes:
        alias: the model alias code used (`default`).
        model: the provider-side model name.
        provider: `openai` (any OpenAI-compatible server) or `scripted`.
        input_tokens, output_tokens, cached_tokens: the usage the provider reported.
        cost: its price in USD at the alias's rates.
        seconds: from the request to the end of the answer's stream.
        cache_write_tokens: input tokens the provider wrote to its prompt cache.
        response_model: the model that answered, as the provider names it.
        response_id: the provider's id of the answer.
        finish_reason: why generation stopped (`stop`, `tool_calls`, `length`, …).
        temperature, max_tokens: what the request asked for, when it did.
        content: the request's and the answer's messages in the OpenTelemetry GenAI form
            (`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions`),
            made only when an observer asks: message content is opt-in.
    """

    alias: str
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost: float
    seconds: float
    cache_write_tokens: int = 0
    response_model: str = ""
    response_id: str | None = None
    finish_reason: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    content: Callable[[], GenAiContent] | None = None


@dataclass(frozen=True)
class GenAiContent:
    """A model call's messages as OpenTelemetry's GenAI conventions write them: lists of
    `{"role", "parts": [...]}` objects (instructions: a list of parts)."""

    system_instructions: list[dict[str, Any]]
    input_messages: list[dict[str, Any]]
    output_messages: list[dict[str, Any]]


@dataclass(frozen=True)
class AgentInvocation:
    """An agent's run inside a workflow (`bosun.Agent.run`), as the agent reports it.

    Attributes:
        name: the agent's name.
        model: the alias of its model.
        position: the journal position it starts at: the same on every replay, so it names
            the invocation across executions.
        started_at: when it first started (its first journal entry's time, when replayed).
        resumed: it started by replay, in an earlier execution.
    """

    name: str
    model: str
    position: str
    started_at: float
    resumed: bool


class RunObserver(Protocol):
    """Receives what a worker executes. `step_started` returns a token that comes back to
    `step_finished`; a step interrupted by cancellation or a crash never finishes."""

    def run_submitted(self, workflow: str) -> None:
        """A run was created (a child run, from inside an execution)."""

    def execution_started(self, execution: ObservedExecution) -> None:
        """A worker starts (or resumes) executing a claimed run."""

    def execution_finished(self, execution: ObservedExecution, outcome: Outcome | None) -> None:
        """The execution ended with a durable `outcome`, or None when it was abandoned or
        interrupted."""

    def step_started(
        self, execution: ObservedExecution, seq: str, name: str, kind: str, attempt: int
    ) -> object:
        """A step (an LLM call, a tool call) begins executing: not a replayed one."""

    def step_finished(
        self, started: object, status: StepStatus, seconds: float, error: BaseException | None
    ) -> None:
        """The step of `started` ended: completed, failed for good, or waiting to retry."""

    def llm_called(self, execution: ObservedExecution, call: LlmCall) -> None:
        """A model answered, inside the step of an LLM call."""

    def agent_started(self, execution: ObservedExecution, agent: AgentInvocation) -> object:
        """An agent begins (or resumes by replay) its loop; returns a token for
        `agent_finished`."""

    def agent_finished(self, started: object, error: BaseException | None, *, done: bool) -> None:
        """The agent of `started` returned (`done`, `error` None), failed (`done`, with the
        `error`), or stopped without finishing (not `done`: its run suspended, was handed
        back or interrupted; a later execution resumes it)."""

    def sandbox_ran(self, backend: str, outcome: str, seconds: float) -> None:
        """Code ran in `bosun.sandbox`: `outcome` is `ok`, `error` (non-zero exit),
        `killed` (a signal) or the name of the limit that stopped it."""


class NullObserver:
    """Observes nothing (executions outside a worker that installs an observer)."""

    def run_submitted(self, workflow: str) -> None:
        return None

    def execution_started(self, execution: ObservedExecution) -> None:
        return None

    def execution_finished(self, execution: ObservedExecution, outcome: Outcome | None) -> None:
        return None

    def step_started(
        self, execution: ObservedExecution, seq: str, name: str, kind: str, attempt: int
    ) -> object:
        return None

    def step_finished(
        self, started: object, status: StepStatus, seconds: float, error: BaseException | None
    ) -> None:
        return None

    def llm_called(self, execution: ObservedExecution, call: LlmCall) -> None:
        return None

    def agent_started(self, execution: ObservedExecution, agent: AgentInvocation) -> object:
        return None

    def agent_finished(self, started: object, error: BaseException | None, *, done: bool) -> None:
        return None

    def sandbox_ran(self, backend: str, outcome: str, seconds: float) -> None:
        return None


NULL_OBSERVER: RunObserver = NullObserver()

# The observer of the execution this task (or a step's thread) belongs to, for code below
# the engine that has no Execution at hand (`bosun.sandbox`).
current_observer: contextvars.ContextVar[RunObserver] = contextvars.ContextVar(
    "bosun_observer", default=NULL_OBSERVER
)
