"""OpenTelemetry spans of runs (the `bosun[otel]` extra).

One trace per run (see `bosun.observe.tracecontext`). Spans, all children of the run's
root span, so that none is orphaned when a worker dies mid-run:

- `run <workflow>`: the root, sent once when the run ends (from its creation to its end).
- `execute <workflow>`: one per execution by a worker (until it suspended, finished, was
  handed back or abandoned), with the worker's name: suspensions show as gaps between them.
- `step <name>`, `chat <model>` (LLM calls, with the GenAI semantic conventions' attributes)
  and `execute_tool <name>`: one per executed attempt; replayed steps make none.
- `invoke_agent <name>`: one per `bosun.Agent.run`, the parent of the chat and tool spans made
  while it runs. Like the root, it has ids every worker derives alike (from the run and the
  agent's journal position) and is sent once, by the worker that sees the agent return or
  fail, from the time its first journal entry started: a suspension or a dead worker leaves
  its children a parent that arrives later, never none.

Message content (prompts, answers, tool arguments) goes on the chat spans only when
`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`, as the GenAI conventions'
`gen_ai.input.messages`, `gen_ai.output.messages` and `gen_ai.system_instructions`.

This module imports OpenTelemetry's SDK; import it only when tracing is on.
"""

from __future__ import annotations

import contextvars
import importlib
import json
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

from bosun.errors import ConfigurationError
from bosun.observe.tracecontext import RunTrace, run_trace, span_id_for
from bosun.version import __version__

if TYPE_CHECKING:
    from bosun.engine.hooks import AgentInvocation, LlmCall, ObservedExecution, StepStatus
    from bosun.records import Outcome, RunRecord

log = logging.getLogger("bosun.observe")

# The variable OpenTelemetry's GenAI instrumentations read to opt in to message content.
CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

# Per task: the run being executed (its trace and the segment span), the step in flight.
_run: contextvars.ContextVar[_RunSpans | None] = contextvars.ContextVar(
    "bosun_trace_run", default=None
)
_step: contextvars.ContextVar[trace.Span | None] = contextvars.ContextVar(
    "bosun_trace_step", default=None
)
# Per task: the agent invocation in flight, the parent of the chat and tool spans it makes.
_agent: contextvars.ContextVar[_AgentSpan | None] = contextvars.ContextVar(
    "bosun_trace_agent", default=None
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
class _AgentSpan:
    agent: AgentInvocation
    trace_id: int
    span_id: int
    parent: otel_context.Context  # a context whose current span is the agent's (remote)
    run: _RunSpans


@dataclass
class AgentToken:
    """What `agent_started` hands back: the invocation, and the context token to restore."""

    span: _AgentSpan
    token: contextvars.Token[_AgentSpan | None]


# gen_ai.provider.name of bosun's provider kinds (the conventions' well-known values).
_PROVIDER_NAMES = {"gemini": "gcp.gemini", "bedrock": "aws.bedrock"}


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
        capture_content: put the messages of model calls on their spans (opt-in: they may
            hold personal data).
    """

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        batch: bool = True,
        service_name: str = "bosun",
        capture_content: bool = False,
    ) -> None:
        self.capture_content = capture_content
        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: service_name}))
        # Sampler from OTEL_TRACES_SAMPLER (default: parent-based, always on).
        self.provider = TracerProvider(resource=resource, id_generator=_ChosenIds())
        self.tracer = self.provider.get_tracer("bosun", __version__)
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
        capture = environ.get(CAPTURE_CONTENT, "").strip().lower() == "true"
        for name in names:
            exporter, batch = _exporter(name, environ)
            if tracing is None:
                tracing = cls(
                    exporter, batch=batch, service_name=service_name, capture_content=capture
                )
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
        parent = spans.parent
        agent = _agent.get()
        if agent is not None and agent.run is spans:
            parent = agent.parent
            if kind in ("llm", "tool"):
                attributes["gen_ai.agent.name"] = agent.agent.name
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
        span = self.tracer.start_span(title, context=parent, kind=span_kind, attributes=attributes)
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
        provider = _PROVIDER_NAMES.get(call.provider, call.provider)
        attributes: dict[str, Any] = {
            "gen_ai.system": provider,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": call.model,
            "gen_ai.response.model": call.response_model or call.model,
            "gen_ai.usage.input_tokens": call.input_tokens,
            "gen_ai.usage.output_tokens": call.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": call.cached_tokens,
            "gen_ai.usage.cache_creation.input_tokens": call.cache_write_tokens,
            "bosun.llm.alias": call.alias,
            "bosun.llm.cached_input_tokens": call.cached_tokens,
            "bosun.llm.cost_usd": call.cost,
        }
        if call.response_id:
            attributes["gen_ai.response.id"] = call.response_id
        if call.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = [call.finish_reason]
        if call.temperature is not None:
            attributes["gen_ai.request.temperature"] = call.temperature
        if call.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = call.max_tokens
        if self.capture_content and call.content is not None:
            content = call.content()
            if content.system_instructions:
                attributes["gen_ai.system_instructions"] = _json(content.system_instructions)
            attributes["gen_ai.input.messages"] = _json(content.input_messages)
            attributes["gen_ai.output.messages"] = _json(content.output_messages)
        span.set_attributes(attributes)

    # -- agents ---------------------------------------------------------------------------

    def agent_started(self, execution: ObservedExecution, agent: AgentInvocation) -> object:
        spans = _run.get()
        if spans is None:
            return None
        ids = run_trace(execution.run.id, execution.run.traceparent)
        root = trace.get_current_span(spans.parent).get_span_context()
        trace_id = int(ids.trace_id, 16)
        span_id = int(span_id_for(execution.run.id, f"agent@{agent.position}"), 16)
        here = SpanContext(trace_id, span_id, is_remote=True, trace_flags=root.trace_flags)
        parent = trace.set_span_in_context(NonRecordingSpan(here))
        state = _AgentSpan(agent, trace_id, span_id, parent, spans)
        return AgentToken(state, _agent.set(state))

    def agent_finished(self, started: object, error: BaseException | None, *, done: bool) -> None:
        assert isinstance(started, AgentToken)
        _agent.reset(started.token)
        if not done:
            return  # the worker that sees it end sends its span
        state = started.span
        token = _chosen_ids.set((state.trace_id, state.span_id))
        try:
            span = self.tracer.start_span(
                f"invoke_agent {state.agent.name}",
                context=state.run.parent,
                kind=SpanKind.INTERNAL,
                start_time=int(state.agent.started_at * 1e9),
                attributes={
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": state.agent.name,
                    "bosun.llm.alias": state.agent.model,
                    "bosun.agent.position": state.agent.position,
                    "bosun.agent.resumed": state.agent.resumed,
                },
            )
        finally:
            _chosen_ids.reset(token)
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()

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


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


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
