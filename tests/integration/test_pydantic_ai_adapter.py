"""PydanticAI agents run durably on bosun (`bosun.integrations.pydantic_ai`), with the real SDK
and its `OpenAIChatModel` pointed at a local server that speaks the OpenAI wire protocol.

Every payload the server sends is built with the official `openai` package's types, as in
`test_openai_provider.py`; the server answers like a model would, from the conversation it is
sent, and counts the requests. What is shown: model requests and tool calls are journaled
steps (parallel tools, static and dynamic toolsets, under positions of their own) and a replay
sends nothing again; structured output, with PydanticAI's own retry of an invalid answer; a
streamed run's text on the run's stream; a `durable=False` tool, and PydanticAI's deferred
approval, waiting for a bosun signal; a worker killed with `kill -9` in the middle of a tool,
the run finished by another worker that re-sends no request it had an answer to; a bosun
budget stopping the agent before its next request, and `UsageLimits` replayed alike; 429s
retried on durable timers, 400s failing at once; `llm:<alias>` rate limits; usage and cost in
bosun's `usage` table; the capability is transparent outside bosun.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openai.types import CompletionUsage, ErrorObject
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
)
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import (
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.chat.chat_completion_message_function_tool_call import Function
from pydantic import BaseModel
from pydantic_ai import (
    Agent,
    DeferredToolRequests,
    DeferredToolResults,
    ModelSettings,
    RunContext,
    UsageLimits,
)
from pydantic_ai.exceptions import UsageLimitExceeded
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.toolsets import DynamicToolset, FunctionToolset
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import bosun
from bosun.agents.approvals import PendingApproval
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import ScriptedProvider
from bosun.integrations.pydantic_ai import BosunDurability, run
from tests.helpers.serving import serve_asgi
from tests.helpers.wait import wait_until
from tests.integration.pydantic_ai_apps import trip

pytestmark = pytest.mark.timeout(60)

CHAT = "/v1/chat/completions"
TRIP_APP = Path(trip.__file__)
BOSUN = str(Path(sys.executable).parent / "bosun")


# -- the server: answers from the conversation, as a model would --------------------------------


@dataclass
class Answer:
    text: str | None = None
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # id, name, args
    prompt_tokens: int = 20
    completion_tokens: int = 5


def _tool_results(body: dict[str, Any]) -> dict[str, str]:
    """The tool answers in the conversation so far, by tool call id."""
    return {
        m["tool_call_id"]: str(m.get("content"))
        for m in body["messages"]
        if m.get("role") == "tool"
    }


def _called(body: dict[str, Any]) -> dict[str, str]:
    """The tools the model called so far: tool name by call id."""
    calls: dict[str, str] = {}
    for message in body["messages"]:
        for call in message.get("tool_calls") or []:
            calls[call["id"]] = call["function"]["name"]
    return calls


def weather_bot(body: dict[str, Any]) -> Answer:
    """Looks up two cities in parallel, then asks for advice, then answers."""
    results = _tool_results(body)
    if not results:
        return Answer(
            calls=[
                ("call_paris", "weather", {"city": "Paris"}),
                ("call_lyon", "weather", {"city": "Lyon"}),
            ]
        )
    if "call_advice" not in results:
        warmest = max(("Paris", "Lyon"), key=lambda c: int(results[f"call_{c.lower()}"]))
        return Answer(calls=[("call_advice", "advice", {"city": warmest})])
    return Answer(text=f"Go! {results['call_advice']}")


def ticket_bot(body: dict[str, Any]) -> Answer:
    """Answers through the output tool: wrongly first, then right once told what was wrong."""
    if not _tool_results(body):
        return Answer(
            calls=[("call_1", "final_result", {"category": "billing", "urgency": "very"})]
        )
    return Answer(calls=[("call_2", "final_result", {"category": "billing", "urgency": 8})])


def chatty_bot(body: dict[str, Any]) -> Answer:
    """Calls a tool every turn, with a lot of tokens: a budget stops it."""
    turn = len(_tool_results(body))
    return Answer(calls=[(f"call_{turn}", "noop", {})], prompt_tokens=900, completion_tokens=200)


def trip_bot(body: dict[str, Any]) -> Answer:
    """Prices a city, books it (the tool the worker is killed in), then confirms."""
    called = _called(body)
    results = _tool_results(body)
    if not called:
        return Answer(calls=[("call_price", "price", {"city": "Lyon"})])
    if "call_book" not in called:
        return Answer(calls=[("call_book", "book", {"city": "Lyon", "nights": 2})])
    return Answer(text=f"Done: {results['call_book']} for {results['call_price']} a night.")


def kit_bot(body: dict[str, Any]) -> Answer:
    """Calls a tool of each of two toolsets at once, then answers with what they said."""
    results = _tool_results(body)
    if not results:
        return Answer(
            calls=[
                ("call_convert", "convert", {"euros": 10}),
                ("call_forecast", "forecast", {"city": "Lyon"}),
            ]
        )
    return Answer(text=f"{results['call_convert']} / {results['call_forecast']}")


def cleaner_bot(body: dict[str, Any]) -> Answer:
    """Deletes a file (a tool that needs approval), then says what happened."""
    results = _tool_results(body)
    if not results:
        return Answer(calls=[("call_rm", "delete", {"path": "/tmp/old.log"})])
    return Answer(text=f"Result: {results['call_rm']}")


def plain_bot(body: dict[str, Any]) -> Answer:
    return Answer(text="Hello there")


BOTS = {
    "weather": weather_bot,
    "ticket": ticket_bot,
    "chatty": chatty_bot,
    "trip": trip_bot,
    "kit": kit_bot,
    "cleaner": cleaner_bot,
    "plain": plain_bot,
    "flaky": plain_bot,  # after a 429 at its first request
}
ERRORS = {  # model: (status, headers, message) of its first request's answer, or of every one
    "flaky": (429, {"retry-after": "0.2"}, "Rate limit reached for requests"),
    "rejected": (400, {}, "Invalid schema for function 'noop'"),
}


def _usage(answer: Answer) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        total_tokens=answer.prompt_tokens + answer.completion_tokens,
    )


def _completion(model: str, answer: Answer) -> dict[str, Any]:
    calls = [
        ChatCompletionMessageFunctionToolCall(
            id=id, type="function", function=Function(name=name, arguments=json.dumps(args))
        )
        for id, name, args in answer.calls
    ]
    message = ChatCompletionMessage(role="assistant", content=answer.text, tool_calls=calls or None)
    return ChatCompletion(
        id="chatcmpl-1",
        object="chat.completion",
        created=0,
        model=model,
        choices=[Choice(index=0, message=message, finish_reason="tool_calls" if calls else "stop")],
        usage=_usage(answer),
    ).model_dump(mode="json")


def _chunks(model: str, answer: Answer) -> list[dict[str, Any]]:
    def chunk(delta: ChoiceDelta | None, finish: Any = None, usage: Any = None) -> dict[str, Any]:
        choices = [] if delta is None else [ChunkChoice(index=0, delta=delta, finish_reason=finish)]
        return ChatCompletionChunk(
            id="chatcmpl-2",
            object="chat.completion.chunk",
            created=0,
            model=model,
            choices=choices,
            usage=usage,
        ).model_dump(mode="json")

    chunks = [chunk(ChoiceDelta(role="assistant", content=""))]
    for word in (answer.text or "").split(" ") if answer.text else []:
        chunks.append(chunk(ChoiceDelta(content=word + " ")))
    for index, (id, name, args) in enumerate(answer.calls):
        first = ChoiceDeltaToolCallFunction(name=name, arguments="")
        rest = ChoiceDeltaToolCallFunction(arguments=json.dumps(args))
        chunks.append(
            chunk(
                ChoiceDelta(
                    tool_calls=[
                        ChoiceDeltaToolCall(index=index, id=id, type="function", function=first)
                    ]
                )
            )
        )
        chunks.append(
            chunk(ChoiceDelta(tool_calls=[ChoiceDeltaToolCall(index=index, function=rest)]))
        )
    chunks.append(chunk(ChoiceDelta(), "tool_calls" if answer.calls else "stop"))
    chunks.append(chunk(None, usage=_usage(answer)))
    return chunks


@dataclass
class FakeOpenAI:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    def count(self, model: str) -> int:
        return sum(1 for body in self.requests if body["model"] == model)

    def of(self, model: str) -> list[dict[str, Any]]:
        return [body for body in self.requests if body["model"] == model]

    async def chat(self, request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        self.requests.append(body)
        model = body["model"]
        if model in ERRORS and (model == "rejected" or self.count(model) == 1):
            status, headers, message = ERRORS[model]
            error = ErrorObject(message=message, type="x", code=None, param=None)
            return JSONResponse({"error": error.model_dump()}, status, headers)
        answer = BOTS[model](body)
        if body.get("stream"):
            events = [f"data: {json.dumps(c)}\n\n" for c in _chunks(body["model"], answer)]
            events.append("data: [DONE]\n\n")

            async def stream() -> AsyncIterator[bytes]:
                for event in events:
                    yield event.encode()

            return StreamingResponse(stream(), media_type="text/event-stream")
        return JSONResponse(_completion(body["model"], answer))


@pytest.fixture(scope="module")
def served() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    app = Starlette(routes=[Route(CHAT, fake.chat, methods=["POST"])])
    with serve_asgi(app, "fake OpenAI") as url:
        fake.url = url + "/v1"
        yield fake


@pytest.fixture
def fake(served: FakeOpenAI) -> FakeOpenAI:
    served.requests.clear()
    return served


def _model(fake: FakeOpenAI, name: str) -> OpenAIChatModel:
    return OpenAIChatModel(name, provider=OpenAIProvider(base_url=fake.url, api_key="sk-test"))


async def _journal(app: bosun.App, run_id: str) -> list[Any]:
    async with app:
        return list(await app.store.get_journal(run_id))


async def _until_suspended(app: bosun.App, run_id: str) -> None:
    async def suspended() -> bool:
        record = await app.store.get_run(run_id)
        return record is not None and record.status == "suspended"

    await wait_until(suspended, 30, f"run {run_id} to suspend")


# -- a multi-turn agent with parallel tools -----------------------------------------------------


@dataclass
class Forecasts:
    temperatures: dict[str, int]
    looked_up: list[str] = field(default_factory=list)


def _weather_agent(fake: FakeOpenAI) -> Agent[Forecasts, str]:
    agent = Agent(
        _model(fake, "weather"),
        name="weather",
        deps_type=Forecasts,
        instructions="Help travellers.",
        capabilities=[BosunDurability()],
    )

    @agent.tool
    async def weather(ctx: RunContext[Forecasts], city: str) -> int:
        """Today's temperature in `city`."""
        ctx.deps.looked_up.append(city)
        await asyncio.sleep(0.05 if city == "Paris" else 0)  # Lyon finishes first
        return ctx.deps.temperatures[city]

    @agent.tool_plain
    def advice(city: str) -> str:
        """Travel advice for `city`."""
        return f"{city} is warmest."

    return agent


@pytest.fixture
def app(any_db_url: str) -> bosun.App:
    return bosun.App("pydantic-ai", database=any_db_url)


async def test_a_tool_using_agent_is_journaled_and_replayed_without_calls(
    app: bosun.App, fake: FakeOpenAI
) -> None:
    agent = _weather_agent(fake)
    app.models.register(
        "weather",
        ScriptedProvider(),
        ModelConfig(
            alias="weather",
            provider="openai",
            model="weather",
            input_per_million=1.0,
            output_per_million=2.0,
        ),
    )
    deps = Forecasts({"Paris": 21, "Lyon": 25})

    @app.workflow(name="travel")
    async def travel(ctx: bosun.Context, question: str) -> str:
        result = await run(ctx, agent, question, deps=deps)
        await ctx.wait_for_signal("go")  # the run replays from the top after this
        return str(result.output)

    async with agent, app, app.worker(concurrency=2):  # `agent`: its HTTP client is closed after
        handle = await app.start(travel, "Where should I go?")
        await _until_suspended(app, handle.run_id)
        assert fake.count("weather") == 3
        await handle.signal("go")
        assert await handle.result(timeout=30) == "Go! Lyon is warmest."
        usage = await app.store.usage_totals(run_id=handle.run_id)

    assert fake.count("weather") == 3  # the replay sent nothing
    assert sorted(deps.looked_up) == ["Lyon", "Paris"]  # each tool ran once
    second = fake.of("weather")[1]["messages"]
    assert {m["tool_call_id"]: m["content"] for m in second if m["role"] == "tool"} == {
        "call_paris": "21",
        "call_lyon": "25",
    }
    journal = await _journal(app, handle.run_id)
    steps = [(e.seq, e.kind, e.name) for e in journal if e.kind in ("llm", "tool")]
    assert sorted(steps) == [
        ("1.1", "llm", "llm:weather"),
        ("1.2", "llm", "llm:weather"),
        ("1.3", "llm", "llm:weather"),
        ("1.s1.call_lyon.1", "tool", "tool:weather"),
        ("1.s1.call_paris.1", "tool", "tool:weather"),
        ("1.s2.call_advice.1", "tool", "tool:advice"),
    ]
    assert usage.calls == 3
    assert (usage.prompt_tokens, usage.completion_tokens) == (60, 15)
    assert usage.cost == pytest.approx((60 * 1.0 + 15 * 2.0) / 1e6)


async def test_toolsets_static_and_dynamic_are_journaled(db_url: str, fake: FakeOpenAI) -> None:
    app = bosun.App("pydantic-ai", database=db_url)
    calls: list[str] = []

    def convert(euros: float) -> str:
        """Euros in dollars."""
        calls.append("convert")
        return f"${euros * 1.1:.2f}"

    def forecast(city: str) -> str:
        """Tomorrow's weather in `city`."""
        calls.append("forecast")
        return f"sunny in {city}"

    async def live(ctx: RunContext[None]) -> FunctionToolset[None]:
        return FunctionToolset([forecast])  # chosen per run step, e.g. from the deps

    agent = Agent(
        _model(fake, "kit"),
        name="kit",
        toolsets=[FunctionToolset([convert], id="money"), DynamicToolset(live, id="live")],
        capabilities=[BosunDurability()],
    )

    @app.workflow(name="kit")
    async def kit(ctx: bosun.Context) -> str:
        result = await agent.run("Plan a cheap day out")
        await ctx.wait_for_signal("go")
        return result.output

    async with agent, app, app.worker():
        handle = await app.start(kit)
        await _until_suspended(app, handle.run_id)
        await handle.signal("go")
        assert await handle.result(timeout=30) == "$11.00 / sunny in Lyon"
    assert fake.count("kit") == 2 and sorted(calls) == ["convert", "forecast"]
    journal = await _journal(app, handle.run_id)
    # The dynamic toolset is listed (a step) at each run step, under positions of its own.
    listing = "kit__dynamic_toolset__live.get_tools"
    assert sorted((e.seq, e.kind, e.name) for e in journal) == [
        ("1.1", "llm", "llm:kit"),
        ("1.2", "llm", "llm:kit"),
        ("1.live.1", "step", listing),
        ("1.live.2", "step", listing),
        ("1.s1.call_convert.1", "tool", "tool:convert"),
        ("1.s1.call_forecast.1", "tool", "tool:forecast"),
        ("2", "signal", "go"),
    ]


async def test_a_deferred_tool_is_approved_by_a_signal(db_url: str, fake: FakeOpenAI) -> None:
    """PydanticAI's own approval flow (`requires_approval=True`, `DeferredToolRequests`), with
    the human's answer as a bosun signal: the run waits for it holding no worker."""
    app = bosun.App("pydantic-ai", database=db_url)
    output: list[Any] = [str, DeferredToolRequests]
    agent = Agent(
        _model(fake, "cleaner"),
        name="cleaner",
        output_type=output,
        capabilities=[BosunDurability(approvals=False)],  # the workflow decides them itself
    )
    deleted: list[str] = []

    @agent.tool_plain(requires_approval=True)
    def delete(path: str) -> str:
        """Delete a file."""
        deleted.append(path)
        return f"deleted {path}"

    @app.workflow(name="clean")
    async def clean(ctx: bosun.Context) -> str:
        result = await agent.run("Remove the old log")
        while isinstance(result.output, DeferredToolRequests):
            approvals = {}
            for call in result.output.approvals:
                approvals[call.tool_call_id] = await ctx.wait_for_signal("approval")
            result = await agent.run(
                message_history=result.all_messages(),
                deferred_tool_results=DeferredToolResults(approvals=approvals),
            )
        return str(result.output)

    async with agent, app, app.worker():
        handle = await app.start(clean)
        await _until_suspended(app, handle.run_id)
        assert deleted == [] and fake.count("cleaner") == 1
        await handle.signal("approval", True)
        assert await handle.result(timeout=30) == "Result: deleted /tmp/old.log"
    assert deleted == ["/tmp/old.log"] and fake.count("cleaner") == 2
    journal = await _journal(app, handle.run_id)
    assert [(e.seq, e.kind, e.name) for e in journal] == [
        ("1.1", "llm", "llm:cleaner"),
        ("2", "signal", "approval"),
        ("3.s0.call_rm.1", "tool", "tool:delete"),
        ("3.1", "llm", "llm:cleaner"),
    ]


def _cleaner(fake: FakeOpenAI, deleted: list[str]) -> Agent[None, str]:
    agent = Agent(_model(fake, "cleaner"), name="cleaner", capabilities=[BosunDurability()])

    @agent.tool_plain(requires_approval=True)
    def delete(path: str) -> str:
        """Delete a file."""
        deleted.append(path)
        return f"deleted {path}"

    return agent


async def _pending(handle: bosun.RunHandle[Any]) -> list[PendingApproval]:
    async def found() -> list[PendingApproval]:
        record = await handle.status()
        return await handle.pending_approvals() if record.status == "suspended" else []

    return await wait_until(found, 30, f"a pending approval of run {handle.run_id}")


@pytest.mark.parametrize(
    ("decision", "deleted", "answer"),
    [
        ("approve", ["/tmp/old.log"], "Result: deleted /tmp/old.log"),
        ("reject", [], "Result: the call was rejected and did not run: keep the logs"),
        ("edit", ["/tmp/older.log"], "Result: deleted /tmp/older.log"),
    ],
)
async def test_a_deferred_tool_waits_for_a_bosun_approval(
    db_url: str, fake: FakeOpenAI, decision: str, deleted: list[str], answer: str
) -> None:
    """PydanticAI's `requires_approval=True`, decided through bosun's approvals: the call is
    listed as pending, the same agent run goes on after the decision, and a replay asks
    neither the model nor the human again."""
    app = bosun.App("pydantic-ai", database=db_url)
    ran: list[str] = []
    agent = _cleaner(fake, ran)

    @app.workflow(name="clean")
    async def clean(ctx: bosun.Context) -> str:
        result = await agent.run("Remove the old log")
        await ctx.wait_for_signal("go")  # the run replays from the top after this
        return result.output

    async with agent, app, app.worker():
        handle = await app.start(clean)
        [pending] = await _pending(handle)
        assert (pending.call_id, pending.tool) == ("call_rm", "delete")
        assert pending.arguments == {"path": "/tmp/old.log"}
        assert pending.schema["properties"] == {"path": {"type": "string"}}
        assert ran == [] and fake.count("cleaner") == 1
        if decision == "approve":
            await handle.approve("call_rm")
        elif decision == "reject":
            await handle.reject("call_rm", message="keep the logs")
        else:
            await handle.edit("call_rm", {"path": "/tmp/older.log"})
        await _until_suspended(app, handle.run_id)
        await handle.signal("go")
        assert await handle.result(timeout=30) == answer
        assert await handle.pending_approvals() == []
    assert ran == deleted and fake.count("cleaner") == 2  # the replay sent nothing
    tool_message = [m for m in fake.of("cleaner")[1]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_message] == [answer.removeprefix("Result: ")]
    journal = await _journal(app, handle.run_id)
    ran_step = [("1.s1.call_rm.1", "tool", "tool:delete")] if deleted else []
    # The decision is a signal wait under the agent run's positions (a gather's branch).
    assert [(e.seq, e.kind, e.name) for e in journal if e.kind != "event"] == [
        ("1.1", "llm", "llm:cleaner"),
        ("1.2.0.2", "signal", "bosun.approval:call_rm"),
        *ran_step,
        ("1.3", "llm", "llm:cleaner"),
        ("2", "signal", "go"),
    ]


# -- structured output --------------------------------------------------------------------------


class Ticket(BaseModel):
    category: str
    urgency: int


async def test_structured_output_with_pydantic_ais_retry(db_url: str, fake: FakeOpenAI) -> None:
    app = bosun.App("pydantic-ai", database=db_url)
    agent = Agent(
        _model(fake, "ticket"),
        name="triage",
        output_type=Ticket,
        capabilities=[BosunDurability(alias="triage")],
    )

    @app.workflow(name="triage")
    async def triage(ctx: bosun.Context, text: str) -> Ticket:
        result = await agent.run(text)
        await ctx.wait_for_signal("go")
        return result.output

    async with agent, app, app.worker():
        handle = await app.start(triage, "I was charged twice!")
        await _until_suspended(app, handle.run_id)
        await handle.signal("go")
        assert await handle.result(timeout=30) == Ticket(category="billing", urgency=8)

    requests = fake.of("ticket")
    assert len(requests) == 2  # the invalid answer was sent back once; the replay sent nothing
    assert [t["function"]["name"] for t in requests[0]["tools"]] == ["final_result"]
    feedback = [m for m in requests[1]["messages"] if m["role"] == "tool"]
    assert "urgency" in feedback[0]["content"]
    journal = await _journal(app, handle.run_id)
    assert [e.name for e in journal if e.kind == "llm"] == ["llm:triage", "llm:triage"]


async def test_a_streamed_run_reaches_the_runs_streams_and_is_journaled(
    db_url: str, fake: FakeOpenAI
) -> None:
    app = bosun.App("pydantic-ai", database=db_url)
    agent = Agent(_model(fake, "plain"), name="plain", capabilities=[BosunDurability()])

    @app.workflow(name="streamed")
    async def streamed(ctx: bosun.Context) -> str:
        await ctx.wait_for_signal("start")
        async with agent.run_stream("Hi") as result:
            text = "".join([piece async for piece in result.stream_text(delta=True)])
        await ctx.wait_for_signal("go")
        return text

    async with agent, app, app.worker():
        handle = await app.start(streamed)
        await _until_suspended(app, handle.run_id)
        stream = app.store.notifier.subscribe(handle.run_id)
        await handle.signal("start")
        await _until_suspended(app, handle.run_id)
        await handle.signal("go")
        assert (await handle.result(timeout=30)).strip() == "Hello there"
    deltas = []
    while not stream.empty():
        event_type, data = stream.get_nowait()[:2]
        if event_type == "llm.delta":
            deltas.append(json.loads(data))
    assert "".join(d["text"] for d in deltas).strip() == "Hello there"
    assert {d["seq"] for d in deltas} == {"2.1"}  # the model request's step
    assert fake.count("plain") == 1
    assert fake.of("plain")[0]["stream"] is True
    journal = await _journal(app, handle.run_id)
    assert [(e.seq, e.name) for e in journal if e.kind == "llm"] == [("2.1", "llm:plain")]


async def test_a_tool_outside_its_step_waits_for_a_signal_holding_no_worker(
    db_url: str, fake: FakeOpenAI
) -> None:
    """`durable=False`: the tool runs as workflow code, and may use the run's context."""
    app = bosun.App("pydantic-ai", database=db_url)
    agent = Agent(_model(fake, "trip"), name="trip", capabilities=[BosunDurability()])
    priced: list[str] = []

    @agent.tool_plain
    def price(city: str) -> int:
        """The price of a night in `city`."""
        priced.append(city)
        return 80

    @agent.tool_plain(durable=False)
    async def book(city: str, nights: int) -> str:
        """Book `nights` nights in `city`, once a human agrees."""
        decision = await bosun.current_context().wait_for_signal("approval")
        return f"booked {nights} nights in {city}" if decision["ok"] else "refused"

    @app.workflow(name="trip")
    async def trip_workflow(ctx: bosun.Context) -> str:
        return (await agent.run("Two nights somewhere cheap")).output

    async with agent, app, app.worker():
        handle = await app.start(trip_workflow)
        await _until_suspended(app, handle.run_id)
        assert fake.count("trip") == 2
        await handle.signal("approval", {"ok": True})
        answer = await handle.result(timeout=30)
    assert answer == "Done: booked 2 nights in Lyon for 80 a night."
    assert fake.count("trip") == 3 and priced == ["Lyon"]
    journal = await _journal(app, handle.run_id)
    assert [(e.seq, e.kind, e.name) for e in journal if e.kind != "version"] == [
        ("1.1", "llm", "llm:trip"),
        ("1.s1.call_price.1", "tool", "tool:price"),
        ("1.2", "llm", "llm:trip"),
        ("1.s2.call_book.1", "signal", "approval"),
        ("1.3", "llm", "llm:trip"),
    ]


# -- budgets, usage limits, rate limits ---------------------------------------------------------


def _chatty(fake: FakeOpenAI) -> Agent[None, str]:
    agent = Agent(_model(fake, "chatty"), name="chatty")  # no capability: `run` adds it

    @agent.tool_plain
    def noop() -> str:
        """Does nothing."""
        return "ok"

    return agent


async def test_a_bosun_budget_stops_a_wrapped_agent(app: bosun.App, fake: FakeOpenAI) -> None:
    agent = _chatty(fake)

    @app.workflow(name="spend", budget=bosun.Budget(tokens=1000))
    async def spend(ctx: bosun.Context) -> str:
        return str((await run(ctx, agent, "talk")).output)

    async with agent, app, app.worker():
        handle = await app.start(spend)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=30)
    error = failed.value.error
    assert error["type"] == "bosun.agents.errors.BudgetExceeded"
    assert "token limit 1,000 reached (1,100 used)" in error["message"]
    assert fake.count("chatty") == 1  # the request that crossed the limit ran; none after it


async def test_usage_limits_stop_the_agent_the_same_way_on_replay(
    db_url: str, fake: FakeOpenAI
) -> None:
    app = bosun.App("pydantic-ai", database=db_url)
    agent = _chatty(fake)

    @app.workflow(name="limited")
    async def limited(ctx: bosun.Context) -> str:
        try:
            await run(ctx, agent, "talk", usage_limits=UsageLimits(request_limit=2))
        except UsageLimitExceeded as exc:
            await ctx.wait_for_signal("go")
            return str(exc)
        return "not stopped"

    async with agent, app, app.worker():
        handle = await app.start(limited)
        await _until_suspended(app, handle.run_id)
        await handle.signal("go")
        assert "request_limit of 2" in await handle.result(timeout=30)
    assert fake.count("chatty") == 2


async def test_a_rate_limit_named_after_the_alias_is_reserved_and_settled(
    db_url: str, fake: FakeOpenAI
) -> None:
    app = bosun.App("pydantic-ai", database=db_url)
    app.rate_limit("llm:plain", bosun.RateLimit(requests=10, tokens=10_000, per=60))
    agent = Agent(_model(fake, "plain"), name="plain", capabilities=[BosunDurability()])

    @app.workflow(name="limited")
    async def limited(ctx: bosun.Context) -> str:
        return (await agent.run("Hi")).output

    async with agent, app, app.worker():
        handle = await app.start(limited)
        assert await handle.result(timeout=30) == "Hello there"
    journal = await _journal(app, handle.run_id)
    assert [(e.kind, e.name) for e in journal] == [
        ("reserve", "llm:plain"),
        ("llm", "llm:plain"),
        ("settle", "llm:plain"),
    ]
    settled = json.loads(journal[2].output or "{}")
    assert settled["used"] == 25 < settled["reserved"]  # the real usage replaced the estimate


async def test_outside_a_workflow_the_capability_is_transparent(fake: FakeOpenAI) -> None:
    agent = Agent(_model(fake, "plain"), name="plain", capabilities=[BosunDurability()])
    async with agent:
        assert (await agent.run("Hi")).output == "Hello there"
    assert fake.count("plain") == 1


# -- model errors -------------------------------------------------------------------------------


async def test_a_rate_limited_request_is_retried_on_a_durable_timer(
    db_url: str, fake: FakeOpenAI
) -> None:
    app = bosun.App("pydantic-ai", database=db_url)
    # No retries in the OpenAI client: bosun retries, holding no worker while it waits.
    settings = ModelSettings(max_retries=0)
    agent = Agent(
        _model(fake, "flaky"),
        name="flaky",
        model_settings=settings,
        capabilities=[BosunDurability()],
    )

    @app.workflow(name="patient")
    async def patient(ctx: bosun.Context) -> str:
        return (await agent.run("Hi")).output

    async with agent, app, app.worker():
        handle = await app.start(patient)
        assert await handle.result(timeout=30) == "Hello there"
        events = [e.type for e in await app.store.list_events(handle.run_id)]
    assert fake.count("flaky") == 2
    assert "step.retrying" in events
    (entry,) = [e for e in await _journal(app, handle.run_id) if e.kind == "llm"]
    assert (entry.status, entry.attempt) == ("completed", 2)


async def test_a_rejected_request_fails_the_run_at_once(db_url: str, fake: FakeOpenAI) -> None:
    app = bosun.App("pydantic-ai", database=db_url)
    agent = Agent(_model(fake, "rejected"), name="rejected", capabilities=[BosunDurability()])

    @app.workflow(name="doomed")
    async def doomed(ctx: bosun.Context) -> str:
        return (await agent.run("Hi")).output

    async with agent, app, app.worker():
        handle = await app.start(doomed)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=30)
    assert fake.count("rejected") == 1  # neither the OpenAI client nor bosun tried again
    assert "Invalid schema for function 'noop'" in failed.value.error["message"]


# -- kill -9 mid-run ----------------------------------------------------------------------------


def _worker(tmp: Path, db_url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`bosun worker trip.py` in the background, logging to a file."""
    with open(tmp / "worker.log", "wb") as log:
        return subprocess.Popen(
            [BOSUN, "worker", str(TRIP_APP), "--database", db_url],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
        )


@pytest.mark.timeout(120)
async def test_a_worker_killed_mid_run_is_replaced_without_calling_the_model_again(
    tmp_path: Path, db_url: str, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    effects, gate = tmp_path / "effects", tmp_path / "gate"
    monkeypatch.setenv("TRIP_EFFECTS", str(effects))  # for this process's worker, and…
    monkeypatch.setenv("TRIP_GATE", str(gate))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
    env["FAKE_OPENAI_URL"] = fake.url  # …the one started with `bosun worker`
    app = bosun.App("pydantic-ai-trip", database=db_url)
    agent = trip.build(app, fake.url)

    def noted() -> list[str]:
        return effects.read_text().splitlines() if effects.exists() else []

    async with agent, app:
        handle = await app.start("trip", "Two nights somewhere cheap")
        first = _worker(tmp_path, db_url, env)
        try:
            await wait_until(lambda: "book:Lyon" in noted(), 60, "the worker to start booking")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(30)
        assert fake.count("trip") == 2  # the price, then the booking was asked for
        gate.touch()
        async with app.worker():  # takes the run over at once: the first worker's pid is gone
            result = await handle.result(timeout=60)

    assert result == "Done: booked 2 nights in Lyon for 80 a night."
    # The two answers the journal held were not asked for again: one request more, in all.
    assert fake.count("trip") == 3
    assert [len(body["messages"]) for body in fake.of("trip")] == [2, 4, 6]
    # `price` finished before the kill and ran once; `book` was in flight and ran again.
    assert noted() == ["price:Lyon", "book:Lyon", "book:Lyon"]
    journal = await _journal(app, handle.run_id)
    assert [(e.kind, e.name, e.status) for e in journal if e.kind in ("llm", "tool")] == [
        ("llm", "llm:trip", "completed"),
        ("tool", "tool:price", "completed"),
        ("llm", "llm:trip", "completed"),
        ("tool", "tool:book", "completed"),
        ("llm", "llm:trip", "completed"),
    ]
