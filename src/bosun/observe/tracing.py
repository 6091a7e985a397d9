"""OpenTelemetry spans of runs (the `bosun[otel]` extra).

One trace per run (see `bosun.observe.tracecontext`). Spans, all children of the run's
root span, so that none is orphaned when a worker dies mid-run:

- `run <workflow>`: the root, sent once when the run ends (from its creation to its end).
- `execute <workflow>`: one per execution by a worker (until it suspended, finished, was
  handed back or abandoned), with the worker's name: suspensions show as gaps between them.
- `step <name>`, `chat <model>` (LLM calls, with the GenAI semantic conventions' attributes)
  and `execute_tool <name>`: one per executed attempt; replayed steps make none.

This module imports OpenTelemetry's SDK; import it only when tracing is on.
"""

from __future__ import annotations

import contextvars
import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace import TraceFlags as OtelTraceFlags

import bosun
from bosun.errors import ConfigurationError
from bosun.observe.tracecontext import RunTrace, run_trace

if TYPE_CHECKING:
    from bosun.engine.hooks import LlmCall, ObservedExecution, StepStatus
    from bosun.store.records import Outcome, RunRecord

log = logging.getLogger("bosun.observe")

# Per task: the run being executed (its trace and the segment span), the step in flight.
_run: contextvars.ContextVar[_RunSpans | None] = contextvars.ContextVar(
    "bosun_trace_run", default=None
)
_step: contextvars.ContextVar[trace.Span | None] = contextvars.ContextVar(
    "bosun_trace_step", default=None
)
# Ids the next span must take (the run's root span has fixed ones).
_chosen_ids: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "bosun_trace_ids", default=None
)


class _ChosenIds(RandomIdGenerator):
    """Random ids, except while `_chosen_ids` holds the ids of a run's root span."""

    def generate_span_id(self) -> int:
        chosen = _chosen_ids.get()
        return chosen[1] if chosen is not None else super().generate_span_id()

    def generate_trace_id(self) -> int:
        chosen = _chosen_ids.get()
        return chosen[0] if chosen is not None else super().generate_trace_id()


@dataclass
class _RunSpans:
    parent: otel_context.Context  # the run's root span, as a parent for every other span
    segment: trace.Span


@dataclass
class StepSpan:
    """A step's span and the context token to restore when it ends."""

    span: trace.Span
    token: object


class Tracing:
    """Spans of the runs this process executes and finishes, sent to `exporter`.

    Args:
        exporter: where spans go: an OTLP exporter, `ConsoleSpanExporter`, or
            `InMemorySpanExporter` in tests.
        batch: export in the background, in batches (the default); False exports each span
            as it ends.
        service_name: the `service.name` resource attribute, unless `OTEL_SERVICE_NAME` or
            `OTEL_RESOURCE_ATTRIBUTES` give one.
    """

    def __init__(
        self, exporter: SpanExporter, *, batch: bool = True, service_name: str = "bosun"
    ) -> None:
        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: service_name}))
        # Sampler from OTEL_TRACES_SAMPLER (default: parent-based, always on).
        self.provider = TracerProvider(resource=resource, id_generator=_ChosenIds())
        self.tracer = self.provider.get_tracer("bosun", bosun.__version__)
        self.add_exporter(exporter, batch=batch)

    def add_exporter(self, exporter: SpanExporter, *, batch: bool = True) -> None:
        """Send spans to one more exporter."""
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        self.provider.add_span_processor(processor)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], service_name: str) -> Tracing | None:
        """Tracing as the standard `OTEL_*` variables configure it, or None when they ask
        for none: `OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none`, or neither an
        exporter nor an OTLP endpoint given."""
        if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None
        names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
        names = [n for n in names if n and n != "none"]
        if not names and "OTEL_TRACES_EXPORTER" not in environ:
            endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
                "OTEL_EXPORTER_OTLP_ENDPOINT"
            )
            names = ["otlp"] if endpoint else []
        if not names:
            return None
        tracing: Tracing | None = None
        for name in names:
            exporter, batch = _exporter(name, environ)
            if tracing is None:
                tracing = cls(exporter, batch=batch, service_name=service_name)
            else:
                tracing.add_exporter(exporter, batch=batch)
        return tracing

    def shutdown(self) -> None:
        """Export what is buffered and stop."""
        self.provider.shutdown()

    def force_flush(self) -> None:
        self.provider.force_flush()

    # -- executions -----------------------------------------------------------------------

    def execution_started(self, execution: ObservedExecution) -> None:
        run = execution.run
        parent = self._root_context(run_trace(run.id, run.traceparent))
        segment = self.tracer.start_span(
            f"execute {run.workflow}",
            context=parent,
            attributes={
                "bosun.run.id": run.id,
                "bosun.workflow": run.workflow,
                "bosun.queue": run.queue,
                "bosun.tenant": run.tenant,
                "bosun.worker": execution.lease.owner,
                "bosun.run.attempt": run.attempts,
                "bosun.lease.takeover": execution.took_over,
            },
        )
        _run.set(_RunSpans(parent, segment))

    def execution_finished(self, outcome: Outcome | None) -> None:
        spans = _run.get()
        if spans is None:
            return
        _run.set(None)
        spans.segment.set_attribute("bosun.outcome", outcome.kind if outcome else "abandoned")
        if outcome is None:
            spans.segment.set_status(Status(StatusCode.ERROR, "abandoned or interrupted"))
        spans.segment.end()

    def step_started(self, seq: str, name: str, kind: str, attempt: int) -> StepSpan | None:
        spans = _run.get()
        if spans is None:
            return None
        attributes: dict[str, Any] = {
            "bosun.step.seq": seq,
            "bosun.step.name": name,
            "bosun.step.kind": kind,
            "bosun.step.attempt": attempt,
        }
        span_kind = SpanKind.INTERNAL
        if kind == "llm":
            title = f"chat {name.removeprefix('llm:')}"
            attributes["gen_ai.operation.name"] = "chat"
            span_kind = SpanKind.CLIENT
        elif kind == "tool":
            tool = name.removeprefix("tool:")
            title = f"execute_tool {tool}"
            attributes["gen_ai.operation.name"] = "execute_tool"
            attributes["gen_ai.tool.name"] = tool
        else:
            title = f"step {name}"
        span = self.tracer.start_span(
            title, context=spans.parent, kind=span_kind, attributes=attributes
        )
        _step.set(span)
        # Spans that code inside the step makes (an instrumented HTTP client) nest under it.
        token = otel_context.attach(trace.set_span_in_context(span))
        return StepSpan(span, token)

    def step_finished(
        self, started: StepSpan, status: StepStatus, error: BaseException | None
    ) -> None:
        otel_context.detach(started.token)  # type: ignore[arg-type]
        _step.set(None)
        span = started.span
        span.set_attribute("bosun.step.status", status)
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()

    def llm_called(self, call: LlmCall) -> None:
        span = _step.get()
        if span is None:
            return
        span.update_name(f"chat {call.model}")
        span.set_attributes(
            {
                "gen_ai.system": call.provider,
                "gen_ai.provider.name": call.provider,
                "gen_ai.request.model": call.model,
                "gen_ai.usage.input_tokens": call.input_tokens,
                "gen_ai.usage.output_tokens": call.output_tokens,
                "bosun.llm.alias": call.alias,
                "bosun.llm.cached_input_tokens": call.cached_tokens,
                "bosun.llm.cost_usd": call.cost,
            }
        )

    # -- the run's root span --------------------------------------------------------------

    def run_finished(
        self, run: RunRecord, status: str, error: Mapping[str, Any] | None, ended_at: float
    ) -> None:
        """Send the run's root span: from its creation to `ended_at`, with the fixed ids
        that the other spans of the run name as their parent."""
        ids = run_trace(run.id, run.traceparent)
        parent = otel_context.Context()
        if ids.parent is not None:
            submitter = SpanContext(
                int(ids.parent.trace_id, 16),
                int(ids.parent.span_id, 16),
                is_remote=True,
                trace_flags=OtelTraceFlags(ids.parent.flags),
            )
            parent = trace.set_span_in_context(NonRecordingSpan(submitter), parent)
        token = _chosen_ids.set((int(ids.trace_id, 16), int(ids.root_span_id, 16)))
        try:
            span = self.tracer.start_span(
                f"run {run.workflow}",
                context=parent,
                start_time=int(run.created_at * 1e9),
                attributes={
                    "bosun.run.id": run.id,
                    "bosun.workflow": run.workflow,
                    "bosun.queue": run.queue,
                    "bosun.tenant": run.tenant,
                    "bosun.run.status": status,
                },
            )
        finally:
            _chosen_ids.reset(token)
        if error:
            message = f"{error.get('type', 'Error')}: {error.get('message', '')}"
            span.set_status(Status(StatusCode.ERROR, message))
        span.end(end_time=int(ended_at * 1e9))

    def _root_context(self, ids: RunTrace) -> otel_context.Context:
        """A context whose current span is the run's root span (remote: it is sent by
        whichever worker finishes the run), sampled as the root span will be."""
        if ids.parent is not None:
            sampled = ids.parent.sampled
        else:
            result = self.provider.sampler.should_sample(None, int(ids.trace_id, 16), "run")
            sampled = result.decision == Decision.RECORD_AND_SAMPLE
        root = SpanContext(
            int(ids.trace_id, 16),
            int(ids.root_span_id, 16),
            is_remote=True,
            trace_flags=OtelTraceFlags(OtelTraceFlags.SAMPLED if sampled else 0),
        )
        return trace.set_span_in_context(NonRecordingSpan(root))


def _exporter(name: str, environ: Mapping[str, str]) -> tuple[SpanExporter, bool]:
    """The exporter an `OTEL_TRACES_EXPORTER` name stands for, and whether to batch."""
    if name == "console":
        # One JSON object per line on stdout, written as each span ends.
        return ConsoleSpanExporter(formatter=lambda span: span.to_json(indent=None) + "\n"), False
    if name != "otlp":
        raise ConfigurationError(f"OTEL_TRACES_EXPORTER={name}: bosun knows otlp, console and none")
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol == "grpc":
        try:
            grpc = importlib.import_module("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
        except ImportError:
            raise ConfigurationError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the gRPC exporter: "
                "pip install opentelemetry-exporter-otlp-proto-grpc (or use http/protobuf)"
            ) from None
        return grpc.OTLPSpanExporter(), True
    if protocol != "http/protobuf":
        raise ConfigurationError(
            f"OTLP protocol {protocol!r} is not supported: use http/protobuf or grpc"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(), True
