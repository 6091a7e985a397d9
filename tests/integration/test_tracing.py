"""OpenTelemetry spans of runs, in an in-memory exporter: one trace per run, spans for
executed steps, LLM and tool calls only, and the submitter's trace context honoured."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import bosun
from bosun.agents.messages import ChatResponse, Message, Usage
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import ScriptedProvider
from bosun.errors import ConfigurationError
from bosun.observe.tracecontext import run_trace
from bosun.observe.tracing import Tracing
from bosun.server import ServerConfig
from tests.helpers.serving import serve
from tests.helpers.wait import wait_until


def _hex(value: int, digits: int) -> str:
    return f"{value:0{digits}x}"


def traced_app(db_url: str) -> tuple[bosun.App, InMemorySpanExporter]:
    app = bosun.App("traced", database=db_url)
    exporter = InMemorySpanExporter()
    app.observability.use_tracing(Tracing(exporter, batch=False))
    return app, exporter


def build(db_url: str) -> tuple[bosun.App, InMemorySpanExporter]:
    """A run with a step, a timer, a retried step, an LLM call and an agent's tool call."""
    app, exporter = traced_app(db_url)

    @app.step(name="prepare")
    async def prepare() -> int:
        return 1

    @app.step(name="flaky", retry=bosun.Retry(attempts=2, initial=0.05))
    async def flaky() -> int:
        if bosun.current_context().attempt == 1:
            raise RuntimeError("transient")
        return 2

    def lookup(order_id: str) -> str:
        """Find an order."""
        return f"order {order_id}: a kettle"

    agent = bosun.Agent(name="support", tools=[lookup], system="Help.")

    @app.workflow(name="traced")
    async def traced(ctx: bosun.Context) -> str:
        await prepare()
        await ctx.sleep(0.05)
        await flaky()
        return await agent.run(ctx, "where is order 7?")

    answer = ChatResponse(
        message=Message.assistant("It is a kettle."),
        usage=Usage(prompt_tokens=50, completion_tokens=7),
        model="tiny-2026-01",
        finish_reason="stop",
        raw_id="answer-1",
    )
    provider = ScriptedProvider(script=[ScriptedProvider.tool_call("lookup", order_id="7"), answer])
    config = ModelConfig(alias="default", provider="scripted", model="tiny", input_per_million=10)
    app.models.register("default", provider, config)
    return app, exporter


def _by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_one_trace_per_run_with_executed_steps_llm_and_tool_calls(db_url: str) -> None:
    app, exporter = build(db_url)
    async with app, app.worker(concurrency=2):
        handle = await app.start("traced")
        assert await handle.result(timeout=30) == "It is a kettle."
    spans = exporter.get_finished_spans()
    ids = run_trace(handle.run_id, None)
    assert ids.trace_id == handle.run_id  # no submitter trace: the run id is the trace id
    assert {_hex(s.context.trace_id, 32) for s in spans} == {handle.run_id}

    [root] = _by_name(spans, "run traced")
    assert _hex(root.context.span_id, 16) == ids.root_span_id and root.parent is None
    assert root.attributes is not None and root.attributes["bosun.run.status"] == "completed"
    [agent] = _by_name(spans, "invoke_agent support")
    agent_span = _hex(agent.context.span_id, 16)
    in_agent = {"chat tiny", "execute_tool lookup"}
    for span in spans:
        if span is not root:
            parent = agent_span if span.name in in_agent else ids.root_span_id
            assert span.parent is not None and _hex(span.parent.span_id, 16) == parent, span.name

    # Executed once each, although the run was replayed after the timer and the retry.
    assert len(_by_name(spans, "step prepare")) == 1
    statuses = [s.attributes["bosun.step.status"] for s in _by_name(spans, "step flaky")]
    assert statuses == ["retrying", "completed"]
    retrying = _by_name(spans, "step flaky")[0]
    assert retrying.status.status_code.name == "ERROR"
    assert any(event.name == "exception" for event in retrying.events)

    chats = _by_name(spans, "chat tiny")
    assert len(chats) == 2  # the tool call, then the answer
    final: dict[str, Any] = dict(chats[1].attributes or {})
    assert final["gen_ai.system"] == "scripted"
    assert final["gen_ai.request.model"] == "tiny"
    assert final["gen_ai.usage.input_tokens"] == 50
    assert final["gen_ai.usage.output_tokens"] == 7
    assert final["gen_ai.response.model"] == "tiny-2026-01"
    assert final["gen_ai.response.id"] == "answer-1"
    assert final["gen_ai.response.finish_reasons"] == ("stop",)
    assert final["gen_ai.agent.name"] == "support"
    assert "gen_ai.input.messages" not in final  # message content is opt-in
    assert final["bosun.llm.cost_usd"] == pytest.approx(50 * 10 / 1e6)
    assert chats[1].kind.name == "CLIENT"
    [tool] = _by_name(spans, "execute_tool lookup")
    assert tool.attributes is not None and tool.attributes["gen_ai.tool.name"] == "lookup"

    executions = _by_name(spans, "execute traced")
    outcomes = [s.attributes["bosun.outcome"] for s in executions]
    assert outcomes == ["suspend", "suspend", "complete"]  # the timer, the retry, the end

    assert agent.attributes is not None
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "support"
    assert agent.start_time is not None and agent.end_time is not None
    assert all(agent.start_time <= c.start_time for c in chats if c.start_time is not None)


async def test_message_content_goes_on_chat_spans_when_asked(db_url: str) -> None:
    app = bosun.App("traced", database=db_url)
    exporter = InMemorySpanExporter()
    app.observability.use_tracing(Tracing(exporter, batch=False, capture_content=True))
    agent = bosun.Agent(name="helper", system="Be brief.")

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "what is 2+2?")

    provider = ScriptedProvider(script=[Message.assistant("4")])
    app.models.register("default", provider)
    async with app, app.worker(concurrency=1):
        assert await (await app.start("ask")).result(timeout=30) == "4"
    [chat] = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    attributes: dict[str, Any] = dict(chat.attributes or {})
    assert json.loads(attributes["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "Be brief."}
    ]
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "what is 2+2?"}]}
    ]
    [output] = json.loads(attributes["gen_ai.output.messages"])
    assert output["role"] == "assistant"
    assert output["parts"] == [{"type": "text", "content": "4"}]


async def test_an_agent_that_waits_for_a_human_has_one_span_sent_when_it_ends(
    db_url: str,
) -> None:
    """The agent's run spans two executions (it suspends on a signal inside a tool): one
    `invoke_agent` span, sent by the execution that sees it end, parent of both chats."""
    app, exporter = traced_app(db_url)

    async def approve(ctx: bosun.Context, amount: int) -> str:
        """Ask a human to approve a refund."""
        decision = await ctx.wait_for_signal("approval")
        return f"approved {amount}: {decision}"

    agent = bosun.Agent(name="refunds", tools=[approve])

    @app.workflow(name="refund")
    async def refund(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "refund 40")

    provider = ScriptedProvider(
        script=[ScriptedProvider.tool_call("approve", amount=40), Message.assistant("done")]
    )
    app.models.register("default", provider)
    async with app, app.worker(concurrency=1):
        handle = await app.start("refund")

        async def waiting() -> bool:
            run = await app.store.get_run(handle.run_id)
            return run is not None and run.status == "suspended"

        await wait_until(waiting, 60, "the run to wait for its signal")
        await handle.signal("approval", "yes")
        assert await handle.result(timeout=30) == "done"
    spans = exporter.get_finished_spans()
    [agent_span] = _by_name(spans, "invoke_agent refunds")
    assert agent_span.attributes is not None and agent_span.attributes["bosun.agent.resumed"]
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == 2
    for chat in chats:
        assert chat.parent is not None and chat.parent.span_id == agent_span.context.span_id
    assert agent_span.start_time is not None and chats[0].start_time is not None
    assert agent_span.start_time <= chats[0].start_time


def test_the_traceparent_header_on_submit_sets_the_runs_trace(db_url: str) -> None:
    app, exporter = traced_app(db_url)

    @app.workflow(name="hello")
    async def hello(ctx: bosun.Context) -> str:
        return "hi"

    caller_trace, caller_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    with serve(app, ServerConfig(worker_concurrency=2, rate_limit=0)) as served:
        key = served.key("acme", "submit", "read")
        with served.client(key) as client:
            given = client.post(
                "/v1/runs",
                json={"workflow": "hello"},
                headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
            ).json()["id"]
            broken = client.post(
                "/v1/runs", json={"workflow": "hello"}, headers={"traceparent": "00-nonsense"}
            ).json()["id"]
            for run_id in (given, broken):
                assert client.get(f"/v1/runs/{run_id}/result?wait=30").json()["result"] == "hi"
        stored = served.call(app.store.get_run(given))
    assert stored.traceparent == f"00-{caller_trace}-{caller_span}-01"
    deadline = time.monotonic() + 10
    while len(_by_name(exporter.get_finished_spans(), "run hello")) < 2:
        assert time.monotonic() < deadline, "the root spans were not sent"
        time.sleep(0.02)
    roots = {
        s.attributes["bosun.run.id"]: s
        for s in _by_name(exporter.get_finished_spans(), "run hello")
    }
    assert _hex(roots[given].context.trace_id, 32) == caller_trace
    assert roots[given].parent is not None
    assert _hex(roots[given].parent.span_id, 16) == caller_span
    # An invalid header is ignored: the run gets a trace of its own.
    assert _hex(roots[broken].context.trace_id, 32) == broken
    assert roots[broken].parent is None


async def test_a_run_started_inside_a_span_continues_its_trace(db_url: str) -> None:
    app, _ = traced_app(db_url)

    @app.workflow(name="child")
    async def child(ctx: bosun.Context) -> None:
        return None

    caller = TracerProvider().get_tracer("caller")
    async with app:
        with caller.start_as_current_span("handle request") as span:
            handle = await app.start("child")
        outside = await app.start("child")
        inside = await app.store.get_run(handle.run_id)
        plain = await app.store.get_run(outside.run_id)
    context = span.get_span_context()
    assert inside is not None and plain is not None
    flags = int(context.trace_flags)
    assert flags & 1  # sampled
    assert inside.traceparent == f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"
    assert plain.traceparent is None


def test_tracing_is_configured_by_the_standard_variables() -> None:
    def configured(**environ: str) -> Tracing | None:
        return Tracing.from_environment(environ, "svc")

    assert configured() is None
    assert configured(OTEL_TRACES_EXPORTER="none") is None
    assert configured(OTEL_SDK_DISABLED="true", OTEL_TRACES_EXPORTER="console") is None
    otlp = configured(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")
    assert otlp is not None
    assert otlp.provider.resource.attributes["service.name"] == "svc"
    otlp.shutdown()
    with pytest.raises(ConfigurationError, match="otlp, console and none"):
        configured(OTEL_TRACES_EXPORTER="zipkin")
    with pytest.raises(ConfigurationError, match="http/protobuf"):
        configured(OTEL_TRACES_EXPORTER="otlp", OTEL_EXPORTER_OTLP_PROTOCOL="carrier-pigeon")
