"""OpenAI Agents SDK agents run durably by `bosun.integrations.openai_agents`, with the real SDK,
its models pointed at a local server that speaks the real OpenAI wire (tests/helpers/
openai_wire.py: Responses API and Chat Completions, payloads from the `openai` types).

Each test counts the server's requests and the tools' calls: a replay (the run resumed after
a signal, from the top, over its journal) sends no request and calls no tool again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from agents import (
    Agent,
    OpenAIChatCompletionsModel,
    OpenAIProvider,
    RunConfig,
    RunContextWrapper,
    function_tool,
    handoff,
)
from openai import AsyncOpenAI

import bosun
from bosun.agents.approvals import PendingApproval
from bosun.agents.openai import OpenAIProvider as BosunOpenAIProvider
from bosun.agents.pricing import ModelConfig
from bosun.integrations import openai_agents
from tests.helpers.openai_wire import CHAT, RESPONSES, FakeModelServer, Turn, call, say, serving
from tests.helpers.wait import wait_until

pytestmark = pytest.mark.timeout(60)

USAGE_TOKENS = 50  # each fake answer: 40 prompt + 10 completion tokens


@pytest.fixture(scope="module")
def served() -> Iterator[FakeModelServer]:
    with serving() as fake:
        yield fake


@pytest.fixture
def fake(served: FakeModelServer) -> Iterator[FakeModelServer]:
    served.reset(lambda turn: say("ok"))
    yield served
    served.released.set()


@pytest.fixture
async def sdk_config(fake: FakeModelServer) -> AsyncIterator[RunConfig]:
    """The SDK's own provider (Responses API), pointed at the fake server, on a client of
    this test's event loop (the SDK's default shares one HTTP client per process)."""
    client = AsyncOpenAI(base_url=fake.base_url, api_key="sk-test")
    provider = OpenAIProvider(openai_client=client, use_responses=True)
    yield RunConfig(model_provider=provider, tracing_disabled=True)
    await client.close()


async def _suspended(handle: bosun.RunHandle[Any]) -> None:
    async def suspended() -> bool:
        return (await handle.status()).status == "suspended"

    await wait_until(suspended, 30, "the run to wait for its signal")


async def _journal(app: bosun.App, run_id: str) -> list[tuple[str, str, str]]:
    return [(e.seq, e.kind, e.name) for e in await app.store.get_journal(run_id)]


# -- a multi-turn agent with parallel tools ---------------------------------------------------


def _travel_script(turn: Turn) -> Any:
    """Turn 1: two weather calls at once; turn 2: one booking; turn 3: the answer."""
    if len(turn.outputs) == 0:
        return call(("weather", {"city": "Paris"}), ("weather", {"city": "Tokyo"}))
    if len(turn.outputs) == 2:
        return call(("book", {"city": "Tokyo" if "sunny" in turn.outputs[1] else "Paris"}))
    return say(f"Booked: {turn.outputs[-1]}. Weather: {turn.outputs[0]} / {turn.outputs[1]}")


async def test_a_multi_turn_agent_with_parallel_tools_replays_without_calling_again(
    any_db_url: str, fake: FakeModelServer, sdk_config: RunConfig
) -> None:
    fake.script = _travel_script
    effects: list[str] = []

    @function_tool
    async def weather(city: str) -> str:
        """The weather in a city."""
        effects.append(f"weather:{city}")
        return {"Paris": "rain in Paris", "Tokyo": "sunny in Tokyo"}[city]

    @function_tool
    def book(city: str) -> str:
        """Book a trip."""
        effects.append(f"book:{city}")
        return f"trip to {city} #42"

    agent = Agent(
        name="Travel", instructions="Plan trips.", model="gpt-test", tools=[weather, book]
    )
    app = bosun.App("oa-travel", database=any_db_url)

    @app.workflow(name="travel")
    async def travel(ctx: bosun.Context, question: str) -> str:
        result = await openai_agents.run(ctx, agent, question, run_config=sdk_config)
        await ctx.wait_for_signal("go")  # suspends: the next attempt replays from the top
        return str(result.final_output)

    async with app, app.worker():
        handle = await app.start(travel, "Where should I go?")
        await _suspended(handle)
        queue = app.store.notifier.subscribe(handle.run_id)
        assert fake.count(RESPONSES) == 3
        before = list(effects)
        await handle.signal("go")
        answer = await handle.result(timeout=30)
        journal = await _journal(app, handle.run_id)
    assert answer == "Booked: trip to Tokyo #42. Weather: rain in Paris / sunny in Tokyo"
    assert fake.count() == 3 and effects == before  # the replay called nothing again
    assert sorted(effects) == ["book:Tokyo", "weather:Paris", "weather:Tokyo"]
    # Each tool call in positions of its own under the answer that asked for it.
    assert sorted(entry for entry in journal if entry[1] in ("llm", "tool")) == [
        ("1.1", "llm", "llm:gpt-test"),
        ("1.1.0.1", "tool", "tool:weather"),
        ("1.1.1.1", "tool", "tool:weather"),
        ("1.2", "llm", "llm:gpt-test"),
        ("1.2.0.1", "tool", "tool:book"),
        ("1.3", "llm", "llm:gpt-test"),
    ]
    # The model was sent the tools' results in the order it asked for them.
    outputs = [i for i in fake.requests[1].body["input"] if i.get("type") == "function_call_output"]
    assert [o["output"] for o in outputs] == ["rain in Paris", "sunny in Tokyo"]
    assert not queue.qsize()  # the replay streamed nothing


async def test_usage_and_streamed_tokens_reach_bosun(
    db_url: str, fake: FakeModelServer, sdk_config: RunConfig
) -> None:
    fake.script = lambda turn: say("Hello from the SDK")
    agent = Agent(name="Greeter", instructions="Greet.", model="gpt-priced")
    app = bosun.App("oa-usage", database=db_url)
    # A bosun alias whose provider-side model is `gpt-priced` prices it (and names its limit).
    prices = ModelConfig(
        alias="priced",
        model="gpt-priced",
        input_per_million=1_000.0,
        output_per_million=2_000.0,
    )
    app.models.register("priced", BosunOpenAIProvider(fake.base_url), prices)

    @app.workflow(name="greet")
    async def greet(ctx: bosun.Context) -> str:
        await ctx.wait_for_signal("go")
        return str((await openai_agents.run(ctx, agent, "hi", run_config=sdk_config)).final_output)

    async with app, app.worker():
        handle = await app.start(greet)
        await _suspended(handle)
        queue = app.store.notifier.subscribe(handle.run_id)
        await handle.signal("go")
        assert await handle.result(timeout=30) == "Hello from the SDK"
        (entry,) = [e for e in await app.store.get_journal(handle.run_id) if e.kind == "llm"]
        totals = await app.store.usage_totals(tenant=None, since=0.0)
    assert fake.requests[0].body["stream"] is True
    deltas = []
    while not queue.empty():
        kind, data = queue.get_nowait()
        if kind == "llm.delta":
            deltas.append(json.loads(data)["text"])
    assert "".join(deltas) == "Hello from the SDK" and len(deltas) >= 1
    assert entry.name == "llm:priced"
    recorded = json.loads(entry.output or "{}")
    usage = recorded["response"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["cached_tokens"]) == (
        40,
        10,
        0,
    )
    assert recorded["cost"] == pytest.approx((40 * 1_000.0 + 10 * 2_000.0) / 1e6)
    assert totals.tokens == USAGE_TOKENS and totals.cost == pytest.approx(recorded["cost"])


# -- handoffs ---------------------------------------------------------------------------------


def _desk_script(turn: Turn) -> Any:
    if "transfer_to_billing" in turn.tools:  # the triage agent
        return call(("transfer_to_billing", {}))
    if not turn.outputs or turn.outputs[-1].startswith("{"):  # billing, just handed to
        return call(("refund", {"order": "A-7"}))
    return say(f"Billing here: {turn.outputs[-1]}")


async def test_a_handoff_is_journaled_and_not_repeated(
    db_url: str, fake: FakeModelServer, sdk_config: RunConfig
) -> None:
    fake.script = _desk_script
    effects: list[str] = []

    @function_tool
    def refund(order: str) -> str:
        """Refund an order."""
        effects.append(f"refund:{order}")
        return f"refunded {order}"

    def on_handoff(context: RunContextWrapper[Any]) -> None:
        effects.append("handed off")

    billing = Agent(name="Billing", instructions="Refunds.", model="gpt-test", tools=[refund])
    triage = Agent(
        name="Triage",
        instructions="Route.",
        model="gpt-test",
        handoffs=[handoff(billing, on_handoff=on_handoff)],
    )
    original_handoff = triage.handoffs[0].on_invoke_handoff  # type: ignore[union-attr]
    original_tool = billing.tools[0].on_invoke_tool  # type: ignore[union-attr]
    app = bosun.App("oa-desk", database=db_url)

    @app.workflow(name="desk")
    async def desk(ctx: bosun.Context) -> list[str]:
        result = await openai_agents.run(ctx, triage, "refund A-7", run_config=sdk_config)
        await ctx.wait_for_signal("go")
        return [result.last_agent.name, str(result.final_output)]

    async with app, app.worker():
        handle = await app.start(desk)
        await _suspended(handle)
        await handle.signal("go")
        assert await handle.result(timeout=30) == ["Billing", "Billing here: refunded A-7"]
        journal = await _journal(app, handle.run_id)
    assert effects == ["handed off", "refund:A-7"]  # once each, the replay included
    assert fake.count() == 3
    names = [name for _, kind, name in journal if kind in ("llm", "tool")]
    assert names == [
        "llm:gpt-test",
        "handoff:Billing",
        "llm:gpt-test",
        "tool:refund",
        "llm:gpt-test",
    ]
    # The agents passed in are not changed: they can run elsewhere, as they are.
    assert triage.handoffs[0].on_invoke_handoff is original_handoff  # type: ignore[union-attr]
    assert billing.tools[0].on_invoke_tool is original_tool  # type: ignore[union-attr]


# -- budgets and rate limits ------------------------------------------------------------------


async def test_a_budget_stops_a_wrapped_agent(
    db_url: str, fake: FakeModelServer, sdk_config: RunConfig
) -> None:
    fake.script = lambda turn: call(("step", {"n": len(turn.outputs)}))  # never ends by itself
    calls: list[int] = []

    @function_tool
    def step(n: int) -> str:
        """One more step."""
        calls.append(n)
        return f"done {n}"

    agent = Agent(name="Looper", instructions="Loop.", model="gpt-test", tools=[step])
    app = bosun.App("oa-budget", database=db_url)

    @app.workflow(name="loop", budget=bosun.Budget(tokens=2 * USAGE_TOKENS + 1))
    async def loop(ctx: bosun.Context) -> str:
        result = await openai_agents.run(ctx, agent, "go", run_config=sdk_config, max_turns=50)
        return str(result.final_output)

    async with app, app.worker():
        handle = await app.start(loop)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=30)
    error = failed.value.error
    assert error["type"] == "bosun.agents.errors.BudgetExceeded", error
    assert f"token limit {2 * USAGE_TOKENS + 1:,} reached" in error["message"]
    assert fake.count() == 3 and calls == [0, 1, 2]  # the call that crossed it completed


async def test_the_llm_rate_limit_suspends_the_run_between_model_calls(
    db_url: str, fake: FakeModelServer, sdk_config: RunConfig
) -> None:
    fake.script = _lookup_script
    looked: list[str] = []

    @function_tool
    def lookup(key: str) -> str:
        """Look a key up."""
        looked.append(key)
        return "teal"

    agent = Agent(name="Limited", instructions="Answer.", model="gpt-test", tools=[lookup])
    app = bosun.App("oa-limits", database=db_url)
    # One request per 3 s: the second model call waits for the bucket, holding no worker.
    # (Per second, a busy CI machine once took a second between the two calls: no wait.)
    app.rate_limit("llm:gpt-test", bosun.RateLimit(requests=1, per=3.0))

    @app.workflow(name="limited")
    async def limited(ctx: bosun.Context) -> str:
        result = await openai_agents.run(ctx, agent, "What colour?", run_config=sdk_config)
        return str(result.final_output)

    async with app, app.worker():
        handle = await app.start(limited)
        assert await handle.result(timeout=30) == "It is teal."
        journal = await app.store.get_journal(handle.run_id)
    assert fake.count() == 2 and looked == ["colour"]  # resumed by replay, nothing twice
    assert [(e.kind, e.name) for e in journal if e.kind != "step"] == [
        ("reserve", "llm:gpt-test"),
        ("llm", "llm:gpt-test"),
        ("settle", "llm:gpt-test"),
        ("tool", "tool:lookup"),
        ("reserve", "llm:gpt-test"),
        ("llm", "llm:gpt-test"),
        ("settle", "llm:gpt-test"),
    ]
    reserve = next(e for e in journal if e.kind == "reserve" and e.attempt > 1)
    assert reserve.seq == "1.4"  # the second call's reservation waited, then was granted


# -- other model routes -----------------------------------------------------------------------


def _lookup_script(turn: Turn) -> Any:
    if not turn.outputs:
        return call(("lookup", {"key": "colour"}))
    return say(f"It is {turn.outputs[0]}.")


async def test_an_agent_on_a_bosun_alias_goes_through_ctx_llm(
    db_url: str, fake: FakeModelServer
) -> None:
    fake.script = _lookup_script

    @function_tool
    def lookup(key: str) -> str:
        """Look a key up."""
        return {"colour": "teal"}[key]

    agent = Agent(name="Alias", instructions="Answer.", model="fast", tools=[lookup])
    app = bosun.App("oa-alias", database=db_url)
    app.models.register(
        "fast",
        BosunOpenAIProvider(fake.base_url),
        ModelConfig(alias="fast", model="served-model", input_per_million=1.0),
    )

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        config = RunConfig(tracing_disabled=True)
        result = await openai_agents.run(ctx, agent, "What colour?", run_config=config)
        await ctx.wait_for_signal("go")
        return str(result.final_output)

    async with app, app.worker():
        handle = await app.start(ask)
        await _suspended(handle)
        await handle.signal("go")
        assert await handle.result(timeout=30) == "It is teal."
        journal = await app.store.get_journal(handle.run_id)
    assert fake.count(CHAT) == 2 and fake.count() == 2  # bosun's provider, on Chat Completions
    first = fake.requests[0].body
    assert first["model"] == "served-model"
    assert first["messages"][0] == {"role": "system", "content": "Answer."}
    assert [t["function"]["name"] for t in first["tools"]] == ["lookup"]
    second = fake.requests[1].body["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "tool"]
    llm = [e for e in journal if e.kind == "llm"]
    assert [e.name for e in llm] == ["llm:fast", "llm:fast"]
    assert (
        json.loads(llm[0].output or "{}")["response"]["message"]["tool_calls"][0]["name"]
        == "lookup"
    )


async def test_a_chat_completions_model_object_is_journaled(
    db_url: str, fake: FakeModelServer
) -> None:
    fake.script = _lookup_script
    looked: list[str] = []

    @function_tool
    def lookup(key: str) -> str:
        """Look a key up."""
        looked.append(key)
        return "teal"

    client = AsyncOpenAI(base_url=fake.base_url, api_key="sk-test")
    model = OpenAIChatCompletionsModel(model="chat-model", openai_client=client)
    agent = Agent(name="Chat", instructions="Answer.", model=model, tools=[lookup])
    app = bosun.App("oa-chat", database=db_url)

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        config = RunConfig(tracing_disabled=True)
        result = await openai_agents.run(ctx, agent, "What colour?", run_config=config)
        await ctx.wait_for_signal("go")
        return str(result.final_output)

    async with app, app.worker():
        handle = await app.start(ask)
        await _suspended(handle)
        await handle.signal("go")
        assert await handle.result(timeout=30) == "It is teal."
        journal = await app.store.get_journal(handle.run_id)
    await client.close()
    assert fake.count(CHAT) == 2 and looked == ["colour"]
    assert all(r.body.get("stream") for r in fake.requests)
    assert [e.name for e in journal if e.kind in ("llm", "tool")] == [
        "llm:chat-model",
        "tool:lookup",
        "llm:chat-model",
    ]


# -- sessions ---------------------------------------------------------------------------------


async def test_a_bosun_session_carries_the_conversation(
    db_url: str, fake: FakeModelServer, sdk_config: RunConfig
) -> None:
    fake.script = lambda turn: say(f"heard {len(turn.users)} message(s), last: {turn.user}")
    agent = Agent(name="Chat", instructions="Chat.", model="gpt-test")
    app = bosun.App("oa-session", database=db_url)

    @app.workflow(name="chat")
    async def chat(ctx: bosun.Context, text: str) -> str:
        return str((await openai_agents.run(ctx, agent, text, run_config=sdk_config)).final_output)

    async with app, app.worker():
        first = await app.start(chat, "hello", session="s-1")
        assert await first.result(timeout=30) == "heard 1 message(s), last: hello"
        second = await app.start(chat, "again", session="s-1")
        assert await second.result(timeout=30) == "heard 2 message(s), last: again"
        stored = await app.store.session_messages("default", "s-1")
    roles = [json.loads(m.message)["role"] for m in stored]
    assert roles == ["user", "assistant", "user", "assistant"]
    items = fake.requests[1].body["input"]
    assert [i.get("role") for i in items] == ["user", "assistant", "user"]


# -- an agent used as a tool ------------------------------------------------------------------


def _manager_script(turn: Turn) -> Any:
    if turn.instructions == "Translate to French.":
        return say("Bonjour")
    if not turn.outputs:
        return call(("translate", {"input": "Hello"}))
    return say(f"In French: {turn.outputs[0]}")


async def test_an_agent_used_as_a_tool_is_one_step_with_its_model_calls_inside(
    db_url: str, fake: FakeModelServer, sdk_config: RunConfig
) -> None:
    fake.script = _manager_script
    translator = Agent(name="Translator", instructions="Translate to French.", model="gpt-test")
    manager = Agent(
        name="Manager",
        instructions="Delegate.",
        model="gpt-test",
        tools=[translator.as_tool(tool_name="translate", tool_description="Translate.")],
    )
    app = bosun.App("oa-as-tool", database=db_url)

    @app.workflow(name="manage")
    async def manage(ctx: bosun.Context) -> str:
        result = await openai_agents.run(ctx, manager, "Say hello in French", run_config=sdk_config)
        await ctx.wait_for_signal("go")
        return str(result.final_output)

    async with app, app.worker():
        handle = await app.start(manage)
        await _suspended(handle)
        await handle.signal("go")
        assert await handle.result(timeout=30) == "In French: Bonjour"
        journal = await _journal(app, handle.run_id)
    assert fake.count() == 3  # manager, translator, manager: none again on replay
    assert sorted(entry for entry in journal if entry[1] in ("llm", "tool")) == [
        ("1.1", "llm", "llm:gpt-test"),
        ("1.1.0.1", "tool", "tool:translate"),
        ("1.1.0.2", "llm", "llm:gpt-test"),  # the translator's call, inside the tool's step
        ("1.2", "llm", "llm:gpt-test"),
    ]


# -- tool approvals ---------------------------------------------------------------------------


def _cleaner_script(turn: Turn) -> Any:
    if not turn.outputs:
        return call(("delete", {"path": "/tmp/old.log"}))
    return say(f"Result: {turn.outputs[-1]}")


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
async def test_a_tool_that_needs_approval_waits_for_a_bosun_decision(
    db_url: str,
    fake: FakeModelServer,
    sdk_config: RunConfig,
    decision: str,
    deleted: list[str],
    answer: str,
) -> None:
    """The SDK's `needs_approval` interruption, decided through bosun's approvals: the call is
    listed as pending, the SDK's run resumes from its state once decided, and a replay asks
    neither the model nor the human again."""
    fake.script = _cleaner_script
    ran: list[str] = []

    @function_tool(needs_approval=True)
    def delete(path: str) -> str:
        """Delete a file."""
        ran.append(path)
        return f"deleted {path}"

    agent = Agent(name="Cleaner", instructions="Clean.", model="gpt-test", tools=[delete])
    app = bosun.App("oa-approvals", database=db_url)

    @app.workflow(name="clean")
    async def clean(ctx: bosun.Context) -> str:
        result = await openai_agents.run(ctx, agent, "Remove the old log", run_config=sdk_config)
        await ctx.wait_for_signal("go")  # the run replays from the top after this
        return str(result.final_output)

    async with app, app.worker():
        handle = await app.start(clean)
        [pending] = await _pending(handle)
        assert (pending.call_id, pending.tool) == ("call_1_0", "delete")
        assert pending.arguments == {"path": "/tmp/old.log"}
        assert pending.schema["properties"]["path"]["type"] == "string"
        assert ran == [] and fake.count() == 1
        if decision == "approve":
            await handle.approve("call_1_0")
        elif decision == "reject":
            await handle.reject("call_1_0", message="keep the logs")
        else:
            await handle.edit("call_1_0", {"path": "/tmp/older.log"})
        await _suspended(handle)
        await handle.signal("go")
        assert await handle.result(timeout=30) == answer
        assert await handle.pending_approvals() == []
        journal = await _journal(app, handle.run_id)
    assert ran == deleted and fake.count() == 2  # the replay sent nothing
    outputs = [i for i in fake.requests[1].body["input"] if i.get("type") == "function_call_output"]
    assert [o["output"] for o in outputs] == [answer.removeprefix("Result: ")]
    ran_step = [("1.1.0.1", "tool", "tool:delete")] if deleted else []
    assert [entry for entry in journal if entry[1] != "event"] == [
        ("1.1", "llm", "llm:gpt-test"),
        ("1.2.0.2", "signal", "bosun.approval:call_1_0"),
        *ran_step,
        ("1.3", "llm", "llm:gpt-test"),
        ("2", "signal", "go"),
    ]
