"""The `RunObserver` a worker installs: metrics unless its process never exposes them, spans
when tracing is on."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bosun.engine.hooks import LlmCall, StepStatus

if TYPE_CHECKING:
    from bosun.engine.hooks import AgentInvocation, ObservedExecution
    from bosun.observe.metrics import Metrics
    from bosun.observe.tracing import StepSpan, Tracing
    from bosun.records import Outcome

# What an execution's outcome means for the run: its status when the run is over.
FINAL_STATUS = {"complete": "completed", "fail": "failed", "block": "blocked"}


class Observer:
    """Counts what one worker executes, and traces it when `tracing` is given.

    Args:
        metrics: the App's metrics, or None when this process never exposes them.
        tracing: the App's tracing, or None when tracing is off.
        concurrency: the worker's slots.
        is_draining: whether the worker has stopped taking work.
    """

    def __init__(
        self,
        metrics: Metrics | None,
        tracing: Tracing | None,
        concurrency: int,
        is_draining: Callable[[], bool],
    ) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self.slots = SlotCounter(concurrency, is_draining)
        if metrics is not None:
            metrics.slots.track(self.slots)

    def run_submitted(self, workflow: str) -> None:
        if self.metrics is not None:
            self.metrics.count(self.metrics.runs_submitted, workflow)

    def execution_started(self, execution: ObservedExecution) -> None:
        self.slots.busy += 1
        if execution.took_over and self.metrics is not None:
            self.metrics.lease_takeovers.labels(execution.run.queue).inc()
        if self.tracing is not None:
            self.tracing.execution_started(execution)

    def execution_finished(self, execution: ObservedExecution, outcome: Outcome | None) -> None:
        self.slots.busy -= 1
        run = execution.run
        kind = outcome.kind if outcome is not None else "abandoned"
        status = FINAL_STATUS.get(kind)
        if self.metrics is not None:
            self.metrics.count(self.metrics.executions, run.workflow, kind)
            if status is not None:
                self.metrics.count(self.metrics.runs_finished, run.workflow, status)
        if self.tracing is not None:
            self.tracing.execution_finished(outcome)
            if outcome is not None and status is not None and kind != "block":
                self.tracing.run_finished(run, status, outcome.error, time.time())

    def step_started(
        self, execution: ObservedExecution, seq: str, name: str, kind: str, attempt: int
    ) -> object:
        span = None
        if self.tracing is not None:
            span = self.tracing.step_started(seq, name, kind, attempt)
        return _Step(kind, name, span)

    def step_finished(
        self, started: object, status: StepStatus, seconds: float, error: BaseException | None
    ) -> None:
        assert isinstance(started, _Step)
        if self.metrics is not None:
            metrics = self.metrics
            key = (started.kind, started.name)
            metrics.series(metrics.step_seconds, *key, status).observe(seconds)
            if status == "retrying":
                metrics.count(metrics.step_retries, *key)
        if started.span is not None and self.tracing is not None:
            self.tracing.step_finished(started.span, status, error)

    def llm_called(self, execution: ObservedExecution, call: LlmCall) -> None:
        metrics, tenant = self.metrics, execution.run.tenant
        if metrics is not None:
            metrics.series(metrics.llm_seconds, call.model).observe(call.seconds)
            tokens = metrics.llm_tokens
            metrics.series(tokens, call.model, tenant, "input").inc(call.input_tokens)
            metrics.series(tokens, call.model, tenant, "output").inc(call.output_tokens)
            metrics.series(metrics.llm_cost, call.model, tenant).inc(call.cost)
        if self.tracing is not None:
            self.tracing.llm_called(call)

    def agent_started(self, execution: ObservedExecution, agent: AgentInvocation) -> object:
        if self.tracing is None:
            return None
        return self.tracing.agent_started(execution, agent)

    def agent_finished(self, started: object, error: BaseException | None, *, done: bool) -> None:
        if started is not None and self.tracing is not None:
            self.tracing.agent_finished(started, error, done=done)

    def sandbox_ran(self, backend: str, outcome: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.sandbox_runs.labels(backend, outcome).inc()


class SlotCounter:
    """One worker's slots: how many it has, how many execute a run now."""

    def __init__(self, concurrency: int, is_draining: Callable[[], bool]) -> None:
        self.concurrency = concurrency
        self.is_draining = is_draining
        self.busy = 0


class _Step:
    __slots__ = ("kind", "name", "span")

    def __init__(self, kind: str, name: str, span: StepSpan | None) -> None:
        self.kind = kind
        self.name = name
        self.span = span
