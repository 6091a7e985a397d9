"""What the engine tells an observer about the runs it executes.

The engine does no I/O of its own for metrics, traces or logs: it calls a `RunObserver` at
execution and step boundaries, and the worker installs one (`bosun.observe.Observer`). Only
work that actually executes is reported; replayed journal entries are not. Every call is on
the hot path of a step, so implementations do a few in-memory updates and return.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from bosun.store.records import Lease, Outcome, RunRecord

StepStatus = Literal["completed", "retrying", "failed"]


class ObservedExecution(Protocol):
    """What an observer reads of an execution (`bosun.engine.execution.Execution` is one)."""

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
    """

    alias: str
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost: float
    seconds: float


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

    def sandbox_ran(self, backend: str, outcome: str, seconds: float) -> None:
        return None


NULL_OBSERVER: RunObserver = NullObserver()

# The observer of the execution this task (or a step's thread) belongs to, for code below
# the engine that has no Execution at hand (`bosun.sandbox`).
current_observer: contextvars.ContextVar[RunObserver] = contextvars.ContextVar(
    "bosun_observer", default=NULL_OBSERVER
)
