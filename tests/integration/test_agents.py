"""ctx.llm and bosun.Agent on real stores: journaled calls, replay without re-calling the
provider, structured-output repair, retries, tool loops with a human approval in the middle."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

import bosun
from bosun.agents.errors import ProviderError, ProviderRateLimited
from bosun.agents.messages import Message
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import Rule, ScriptedProvider


@pytest.fixture
def app(any_db_url: str) -> bosun.App:
    return bosun.App("agents", database=any_db_url)


def _scripted(app: bosun.App, provider: ScriptedProvider, **prices: float) -> None:
    config = ModelConfig(alias="default", provider="scripted", model="scripted", **prices)
    app.models.register("default", provider, config)


async def _journal(app: bosun.App, run_id: str, kind: str) -> list[Any]:
    async with app:  # reopened after the test's `async with` closed it
        return [e for e in await app.store.get_journal(run_id) if e.kind == kind]


async def test_llm_calls_are_journaled_and_never_repeated_on_replay(app: bosun.App) -> None:
    provider = ScriptedProvider(script=["Paris", "Lyon"])
    _scripted(app, provider, input_per_million=1.0, output_per_million=2.0)

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> list[str]:
        first = await ctx.llm.chat("Capital of France?", system="Be brief.")
        await ctx.wait_for_signal("go")  # suspends: the next attempt replays from the top
        second = await ctx.llm.chat("Another French city?")
        return [first.message.content or "", second.message.content or ""]

    async with app, app.worker(concurrency=2):
        handle = await app.start(ask)
        await _until_suspended(app, handle.run_id)
        assert len(provider.calls) == 1
        await handle.signal("go")
        assert await handle.result(timeout=20) == ["Paris", "Lyon"]
        assert len(provider.calls) == 2  # the first call was replayed, not re-sent
        first = provider.calls[0].messages
        assert [m.role for m in first] == ["system", "user"]
        entries = await _journal(app, handle.run_id, "llm")
        assert [e.name for e in entries] == ["llm:default", "llm:default"]
        recorded = json.loads(entries[0].output)
        usage = recorded["response"]["usage"]
        expected = (usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 2.0) / 1e6
        assert recorded["cost"] == pytest.approx(expected) and expected > 0


class Ticket(BaseModel):
    category: str
    urgency: int


async def test_structured_output_is_repaired_with_the_validation_errors(app: bosun.App) -> None:
    provider = ScriptedProvider(
        script=[
            'Sure! ```json\n{"category": "billing", "urgency": "very"}\n```',
            'Here it is: {"category": "billing", "urgency": 8,}',
        ]
    )
    _scripted(app, provider)

    @app.workflow(name="triage")
    async def triage(ctx: bosun.Context, text: str) -> Ticket:
        return await ctx.llm.structured(Ticket, prompt=text)

    async with app, app.worker():
        handle = await app.start(triage, "I was charged twice!")
        assert await handle.result(timeout=20) == Ticket(category="billing", urgency=8)
    assert len(provider.calls) == 2
    assert provider.calls[0].response_schema is not None
    repair = provider.calls[1].messages[-1].content or ""
    assert "urgency" in repair  # the model is told which field was wrong
    assert len(await _journal(app, handle.run_id, "llm")) == 2


async def test_structured_output_gives_up_with_a_precise_error(app: bosun.App) -> None:
    _scripted(app, ScriptedProvider(rules=[Rule("", "no idea")]))

    @app.workflow(name="hopeless")
    async def hopeless(ctx: bosun.Context) -> Ticket:
        return await ctx.llm.structured(Ticket, prompt="classify", attempts=2)

    async with app, app.worker():
        handle = await app.start(hopeless)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
    error = failed.value.error
    assert error["type"].endswith("StructuredOutputError")
    assert "after 2 attempt(s)" in error["message"] and "no idea" in error["message"]


async def test_retryable_provider_errors_retry_on_a_durable_timer(app: bosun.App) -> None:
    provider = ScriptedProvider(script=[ProviderRateLimited("slow down", retry_after=0.3), "fine"])
    _scripted(app, provider)

    @app.workflow(name="patient")
    async def patient(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hi")).message.content or ""

    async with app, app.worker():
        handle = await app.start(patient)
        assert await handle.result(timeout=20) == "fine"
    (entry,) = await _journal(app, handle.run_id, "llm")
    assert entry.attempt == 2
    async with app:
        types = [e.type for e in await app.store.list_events(handle.run_id)]
    assert "step.retrying" in types


async def test_permanent_provider_errors_fail_at_once(app: bosun.App) -> None:
    provider = ScriptedProvider(script=[ProviderError("bad request", retryable=False)])
    _scripted(app, provider)

    @app.workflow(name="doomed")
    async def doomed(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hi")).message.content or ""

    async with app, app.worker():
        handle = await app.start(doomed)
        with pytest.raises(bosun.RunFailed):
            await handle.result(timeout=20)
    assert len(provider.calls) == 1


# -- the agent loop ------------------------------------------------------------------------

ORDERS = {7: {"item": "kettle", "price": 40.0}}
tool_runs: list[str] = []


def lookup_order(order_id: int) -> dict[str, Any]:
    """Find an order.

    Args:
        order_id: the order number.
    """
    tool_runs.append(f"lookup:{order_id}")
    if order_id not in ORDERS:
        raise KeyError(f"no order {order_id}")
    return ORDERS[order_id]


async def multiply(a: float, b: float) -> float:
    """Multiply two numbers."""
    tool_runs.append("multiply")
    return a * b


async def request_refund(ctx: bosun.Context, order_id: int, amount: float) -> str:
    """Refund an order after a human approves it."""
    decision = await ctx.wait_for_signal("approval")
    return "refunded" if decision.get("ok") else "refund refused"


class Resolution(BaseModel):
    refunded: bool
    amount: float


async def test_session_messages_are_written_with_the_runs_progress_once(
    app: bosun.App,
) -> None:
    """A turn's messages go into the session in the transaction that journals them (no
    write of their own, so no commit of their own), and a replay adds none again."""
    provider = ScriptedProvider(
        script=[ScriptedProvider.tool_call("multiply", a=6, b=7), "It is 42."]
    )
    _scripted(app, provider)
    agent = bosun.Agent(system="Be brief.", tools=[multiply])

    @app.workflow(name="multiply_then_wait")
    async def multiply_then_wait(ctx: bosun.Context, text: str) -> str:
        answer = await agent.run(ctx, text)
        await ctx.wait_for_signal("go")  # suspended; the signal resumes it by replay
        return str(answer)

    own_writes: list[str] = []

    async with app, app.worker():
        append_messages = app.store.append_messages

        async def counted(tenant: str, session_id: str, messages: list[str], **kw: Any) -> int:
            own_writes.append(session_id)
            return await append_messages(tenant, session_id, messages, **kw)

        app.store.append_messages = counted  # type: ignore[method-assign]
        run = await app.start(multiply_then_wait, "6 times 7?", session="s1", tenant="acme")
        await _until_suspended(app, run.run_id)
        before = await app.session("s1", tenant="acme").messages()
        await run.signal("go")
        assert await run.result(timeout=20) == "It is 42."
        after = await app.session("s1", tenant="acme").messages()
        journal = await app.store.get_journal(run.run_id)
    assert own_writes == []
    assert [m["role"] for m in before] == ["user", "assistant", "tool", "assistant"]
    assert after == before  # the replay found its appends journaled and added nothing
    appends = [e for e in journal if e.name == "session.append"]
    assert [(e.status, e.output) for e in appends] == [("completed", n) for n in "121"]


async def test_agent_runs_tools_in_parallel_waits_for_approval_and_replays(
    app: bosun.App,
) -> None:
    tool_runs.clear()
    provider = ScriptedProvider(
        script=[
            ScriptedProvider.tool_calls(
                ("lookup_order", {"order_id": 7}),
                ("lookup_order", {"order_id": 99}),
                ("multiply", {"a": 40, "b": 0.5}),
            ),
            ScriptedProvider.tool_call("request_refund", order_id=7, amount=20.0),
            '{"refunded": true, "amount": 20.0}',
        ]
    )
    _scripted(app, provider)
    agent = bosun.Agent(
        system="You are a support agent.",
        tools=[lookup_order, multiply, request_refund],
        output=Resolution,
    )

    @app.workflow(name="support")
    async def support(ctx: bosun.Context, message: str) -> Resolution:
        return await agent.run(ctx, message)

    async with app, app.worker(concurrency=2):
        handle = await app.start(support, "Refund half of order 7")
        await _until_suspended(app, handle.run_id)
        assert len(provider.calls) == 2
        await handle.signal("approval", {"ok": True})
        assert await handle.result(timeout=20) == Resolution(refunded=True, amount=20.0)

    assert len(provider.calls) == 3  # replay after the approval called nothing again
    assert sorted(tool_runs) == ["lookup:7", "lookup:99", "multiply"]  # each tool ran once
    second_turn = provider.calls[1].messages
    tool_answers = [m.content for m in second_turn if m.role == "tool"]
    assert tool_answers[0] == json.dumps({"item": "kettle", "price": 40.0})
    assert tool_answers[1].startswith("error: ") and "no order 99" in tool_answers[1]
    assert tool_answers[2] == "20.0"
    assert [m.content for m in provider.calls[2].messages if m.role == "tool"][-1] == "refunded"
    tools = [e.name for e in await _journal(app, handle.run_id, "tool")]
    assert sorted(tools) == ["tool:lookup_order", "tool:lookup_order", "tool:multiply"]
    assert [t["name"] for t in _tool_specs(provider)] == [
        "lookup_order",
        "multiply",
        "request_refund",
    ]


async def test_bad_tool_arguments_and_unknown_tools_go_back_to_the_model(app: bosun.App) -> None:
    provider = ScriptedProvider(
        script=[
            ScriptedProvider.tool_calls(
                ("multiply", {"a": "lots", "b": 2}), ("launch_rockets", {})
            ),
            "I could not compute that.",
        ]
    )
    _scripted(app, provider)
    agent = bosun.Agent(tools=[multiply], max_turns=3)

    @app.workflow(name="confused")
    async def confused(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "what is lots times two?")

    async with app, app.worker():
        handle = await app.start(confused)
        assert await handle.result(timeout=20) == "I could not compute that."
    answers = [m.content or "" for m in provider.calls[1].messages if m.role == "tool"]
    assert "a" in answers[0] and answers[0].startswith("error: ")
    assert "no tool named 'launch_rockets'" in answers[1]


async def test_an_agent_out_of_turns_fails_the_run(app: bosun.App) -> None:
    _scripted(
        app, ScriptedProvider(rules=[Rule("", ScriptedProvider.tool_call("multiply", a=1, b=1))])
    )
    agent = bosun.Agent(tools=[multiply], max_turns=2)

    @app.workflow(name="loop")
    async def loop(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "go")

    async with app, app.worker():
        handle = await app.start(loop)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
    assert "within 2 turns" in failed.value.error["message"]


def _tool_specs(provider: ScriptedProvider) -> list[dict[str, Any]]:
    return [spec.model_dump() for spec in provider.calls[0].tools]


async def _until_suspended(app: bosun.App, run_id: str) -> None:
    import asyncio

    for _ in range(200):
        record = await app.store.get_run(run_id)
        if record is not None and record.status == "suspended":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} never suspended")


def test_messages_are_plain_json() -> None:
    message = Message.user("hi")
    assert Message.model_validate_json(message.model_dump_json()) == message


# -- usage and budgets ---------------------------------------------------------------------


async def test_usage_is_summed_per_run_session_and_tenant(app: bosun.App) -> None:
    provider = ScriptedProvider(
        script=[ProviderRateLimited("busy", retry_after=0.1), "a b c", "d e", "f"]
    )
    _scripted(app, provider, input_per_million=1.0, output_per_million=1.0)

    @app.workflow(name="talk")
    async def talk(ctx: bosun.Context, n: int) -> None:
        for _ in range(n):
            await ctx.llm.chat("say something")

    async with app, app.worker():
        first = await app.start(talk, 2, tenant="acme", session="s1")
        await first.result(timeout=20)
        second = await app.start(talk, 1, tenant="other")
        await second.result(timeout=20)
        store = app.store
        run = await store.usage_totals(run_id=first.run_id)
        session = await store.usage_totals(tenant="acme", session="s1")
        acme = await store.usage_totals(tenant="acme")
        other = await store.usage_totals(tenant="other")
        everyone = await store.usage_totals()
        later = await store.usage_totals(tenant="acme", since=4_102_444_800)  # year 2100
        journal = await store.get_journal(first.run_id)
    assert run.calls == 2  # the rate-limited attempt was retried and counted once
    assert run == session == acme
    assert other.calls == 1 and everyone.calls == 3
    recorded = [json.loads(e.output)["response"]["usage"] for e in journal if e.kind == "llm"]
    assert run.completion_tokens == sum(u["completion_tokens"] for u in recorded)
    assert run.cost == pytest.approx(run.tokens / 1e6)
    assert later.calls == 0


async def test_a_run_budget_stops_the_run_before_its_next_call(app: bosun.App) -> None:
    provider = ScriptedProvider(rules=[Rule("", "word " * 50)])
    _scripted(app, provider)

    @app.workflow(name="chatter", budget=bosun.Budget(tokens=60))
    async def chatter(ctx: bosun.Context) -> None:
        for _ in range(5):
            await ctx.llm.chat("talk")

    async with app, app.worker():
        handle = await app.start(chatter)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
    error = failed.value.error
    assert error["type"] == "bosun.agents.errors.BudgetExceeded"
    assert "token limit 60 reached" in error["message"]
    assert len(provider.calls) == 1  # the call that crossed the limit ran; none after it


async def test_a_tenant_budget_spans_runs_and_spares_other_tenants(app: bosun.App) -> None:
    from datetime import timedelta

    provider = ScriptedProvider(rules=[Rule("", "some words here")])
    _scripted(app, provider, input_per_million=1000.0, output_per_million=1000.0)
    app.tenant_budget(bosun.Budget(cost=0.01, per=timedelta(days=1)), tenant="acme")

    @app.workflow(name="ask_once")
    async def ask_once(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hello")).message.content or ""

    async with app, app.worker():
        spent = await app.start(ask_once, tenant="acme")
        assert await spent.result(timeout=20) == "some words here"
        refused = await app.start(ask_once, tenant="acme")
        with pytest.raises(bosun.RunFailed) as failed:
            await refused.result(timeout=20)
        other = await app.start(ask_once, tenant="beta")
        assert await other.result(timeout=20) == "some words here"
    assert "tenant acme: cost limit $0.0100 per day reached" in failed.value.error["message"]


def test_budgets_are_validated() -> None:
    with pytest.raises(bosun.ConfigurationError):
        bosun.Budget()
    with pytest.raises(bosun.ConfigurationError):
        bosun.Budget(tokens=0)


# -- sessions and double-texting -------------------------------------------------------------


def _echo_model() -> ScriptedProvider:
    """Answers with how many user messages it was shown, so history is visible."""

    def reply(request: Any) -> str:
        users = [m.content for m in request.messages if m.role == "user"]
        return f"{len(users)}: {' | '.join(u or '' for u in users)}"

    return ScriptedProvider(rules=[Rule(lambda r: True, reply)])


async def test_agent_runs_in_a_session_share_its_history(app: bosun.App) -> None:
    _scripted(app, _echo_model())
    agent = bosun.Agent(system="Be brief.")

    @app.workflow(name="chat_turn")
    async def chat_turn(ctx: bosun.Context, text: str) -> str:
        return await agent.run(ctx, text)

    async with app, app.worker():
        first = await app.start(chat_turn, "hello", session="s1", tenant="acme")
        assert await first.result(timeout=20) == "1: hello"
        second = await app.start(chat_turn, "again", session="s1", tenant="acme")
        assert await second.result(timeout=20) == "2: hello | again"
        elsewhere = await app.start(chat_turn, "hi", session="s1", tenant="other")
        assert await elsewhere.result(timeout=20) == "1: hi"  # sessions are per tenant
        history = await app.session("s1", tenant="acme").messages()
        runs = await app.session("s1", tenant="acme").runs()
    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "hello"),
        ("assistant", "1: hello"),
        ("user", "again"),
        ("assistant", "2: hello | again"),
    ]
    assert [m["run_id"] for m in history] == [first.run_id] * 2 + [second.run_id] * 2
    assert [r.id for r in runs] == [first.run_id, second.run_id]


async def test_history_beyond_the_context_is_folded_into_a_rolling_summary(
    app: bosun.App,
) -> None:
    summaries: list[str] = []

    def reply(request: Any) -> str:
        system = request.messages[0].content or ""
        if system.startswith("You maintain the memory"):
            summaries.append(request.messages[-1].content or "")
            return f"SUMMARY {len(summaries)}"
        return "noted " + "x" * 300  # long answers: the history soon outgrows the context

    provider = ScriptedProvider(rules=[Rule(lambda r: True, reply)])
    config = ModelConfig(alias="default", provider="scripted", model="s", context_tokens=700)
    app.models.register("default", provider, config)
    agent = bosun.Agent(system="Be brief.", history="summarize")

    @app.workflow(name="turn")
    async def turn(ctx: bosun.Context, text: str) -> str:
        answer = await agent.run(ctx, text)
        await ctx.wait_for_signal("done")  # the next attempt replays the agent from the top
        return str(answer)

    async with app, app.worker():
        for n in range(5):
            handle = await app.start(turn, f"message {n} " + "y" * 300, session="s", tenant="t")
            await _until_suspended(app, handle.run_id)
            calls = len(provider.calls)
            await handle.signal("done")
            await handle.result(timeout=20)
            assert len(provider.calls) == calls  # replay re-sent nothing
        state = await app.session("s", tenant="t").state()
        last = provider.calls[-1].messages

    assert len(summaries) >= 2
    assert "message 0" in summaries[0] and "Summary so far" not in summaries[0]
    # Each later summary starts from the previous one and folds in only newer messages.
    assert summaries[1].startswith("Summary so far:\nSUMMARY 1")
    assert "message 0" not in summaries[1]
    kept = state["bosun.summary"]
    assert kept["text"] == f"SUMMARY {len(summaries)}" and kept["through"] > 0
    # The last prompt: system, the latest summary, the recent history that fits, the input.
    assert last[0].content == "Be brief."
    assert last[1].role == "system" and last[1].content.endswith(f"SUMMARY {len(summaries)}")
    assert last[-1].content.startswith("message 4")
    assert "message 0" not in " ".join(m.content or "" for m in last)


def test_history_is_trimmed_to_the_context_oldest_first() -> None:
    from bosun.agents.sessions import trim

    history = [Message.user("x" * 400), Message.assistant("y" * 400)] * 10
    kept = trim(history, context_tokens=1000, keep=[Message.user("now")])
    assert 0 < len(kept) < len(history)
    assert kept == history[-len(kept) :]
    calls = [Message.assistant(None, [ScriptedProvider.tool_call("f").tool_calls[0]])]
    answers = [Message(role="tool", content="r", tool_call_id="c")]
    assert trim(calls + answers, context_tokens=10_000, keep=[]) == calls + answers
    assert trim(answers, context_tokens=10_000, keep=[]) == []  # no orphan tool results


async def test_double_texting_policies(app: bosun.App) -> None:
    _scripted(app, _echo_model())
    agent = bosun.Agent()

    @app.workflow(name="slow_turn")
    async def slow_turn(ctx: bosun.Context, text: str) -> str:
        answer = await agent.run(ctx, text)
        await ctx.wait_for_signal("done")  # keeps the run unfinished until told
        return str(answer)

    @app.workflow(name="ping")
    async def ping(ctx: bosun.Context) -> str:
        return "pong"

    async with app, app.worker(concurrency=4):
        session = app.session("chat", tenant="acme")
        first = await app.start(slow_turn, "one", session="chat", tenant="acme")
        await _until_suspended(app, first.run_id)
        with pytest.raises(bosun.SessionBusy):
            await app.start(
                slow_turn, "two", session="chat", tenant="acme", double_texting="reject"
            )
        queued = await app.start(slow_turn, "two", session="chat", tenant="acme")
        # A run submitted after it, with free slots: claims go oldest first, so once this
        # one is done the worker has passed over `queued`, which waits its turn (enqueue).
        assert await (await app.start(ping)).result(timeout=20) == "pong"
        assert (await queued.status()).status == "queued"
        with pytest.raises(bosun.ConfigurationError, match="deadline"):
            await app.start(  # refused: cancels nothing
                slow_turn,
                "three",
                session="chat",
                tenant="acme",
                double_texting="interrupt",
                deadline=float("nan"),
            )
        assert (await first.status()).status == "suspended"
        assert (await queued.status()).status == "queued"
        cancelled: list[str] = []
        cancel_run = app.store.cancel_run

        async def recording_cancel(run_id: str) -> list[str]:
            cancelled.append(run_id)
            return await cancel_run(run_id)

        app.store.cancel_run = recording_cancel  # type: ignore[method-assign]
        interrupting = await app.start(
            slow_turn, "three", session="chat", tenant="acme", double_texting="interrupt"
        )
        assert (await first.status()).status == "cancelled"
        assert (await queued.status()).status == "cancelled"
        # The queued run is cancelled before the one holding the session: the other way
        # round, a worker could claim it in between, and it would add "two" to the history
        # (as CI once saw: the rolled-back run below then answered "3: one | two | four").
        assert cancelled == [queued.run_id, first.run_id], cancelled
        assert not (await app.store.get_journal(queued.run_id))
        await _until_suspended(app, interrupting.run_id)
        kept = [m["content"] for m in await session.messages()]
        assert kept[:2] == ["one", "1: one"]  # the interrupted run's history stays
        rolling = await app.start(
            slow_turn, "four", session="chat", tenant="acme", double_texting="rollback"
        )
        assert (await interrupting.status()).status == "cancelled"
        await _until_suspended(app, rolling.run_id)
        await rolling.signal("done")
        assert await rolling.result(timeout=20) == "2: one | four"  # "three" rolled back
        contents = [m["content"] for m in await session.messages()]
    assert "three" not in contents and contents[-2:] == ["four", "2: one | four"]


# -- memory ----------------------------------------------------------------------------------


async def test_memories_are_found_by_meaning_per_session_and_tenant(app: bosun.App) -> None:
    provider = ScriptedProvider(embedding_dim=256)
    _scripted(app, provider)

    @app.workflow(name="remember")
    async def remember(ctx: bosun.Context, facts: list[str], scope: str) -> int:
        for fact in facts:
            await ctx.memory.add(fact, metadata={"len": len(fact)}, scope=scope)  # type: ignore[arg-type]
        return len(facts)

    @app.workflow(name="recall")
    async def recall(ctx: bosun.Context, query: str, scope: str) -> list[dict[str, Any]]:
        found = await ctx.memory.search(query, k=2, scope=scope)  # type: ignore[arg-type]
        await ctx.wait_for_signal("again")  # the replay must find the same, without embedding
        return found

    facts = [
        "the customer prefers email over phone calls",
        "order 7 was a blue electric kettle",
        "the refund policy allows returns within thirty days",
    ]
    async with app, app.worker():
        await (await app.start(remember, facts, "session", session="s1", tenant="acme")).result(
            timeout=20
        )
        await (
            await app.start(remember, ["tenant wide fact about kettle"], "tenant", tenant="acme")
        ).result(timeout=20)
        handle = await app.start(
            recall, "what kettle was in order 7", "session", session="s1", tenant="acme"
        )
        await _until_suspended(app, handle.run_id)
        embeds = len(provider.embed_calls)
        await handle.signal("again")
        found = await handle.result(timeout=20)
        assert len(provider.embed_calls) == embeds  # replayed, not re-embedded
        other_session = await app.start(recall, "kettle", "session", session="s2", tenant="acme")
        await _until_suspended(app, other_session.run_id)
        await other_session.signal("again")
        tenant_wide = await app.start(recall, "kettle", "tenant", tenant="acme")
        await _until_suspended(app, tenant_wide.run_id)
        await tenant_wide.signal("again")
        other_tenant = await app.start(recall, "kettle", "tenant", tenant="beta")
        await _until_suspended(app, other_tenant.run_id)
        await other_tenant.signal("again")
        results = [await h.result(timeout=20) for h in (other_session, tenant_wide, other_tenant)]
    assert found[0]["text"] == "order 7 was a blue electric kettle"
    assert found[0]["metadata"] == {"len": len(facts[1])}
    assert found[0]["score"] > found[1]["score"]
    assert results[0] == []  # another session of the tenant sees none of s1's memories
    assert [m["text"] for m in results[1]] == ["tenant wide fact about kettle"]
    assert results[2] == []  # nor does another tenant


async def test_session_memory_needs_a_session(app: bosun.App) -> None:
    _scripted(app, ScriptedProvider())

    @app.workflow(name="lonely")
    async def lonely(ctx: bosun.Context) -> None:
        await ctx.memory.add("x", scope="session")

    async with app, app.worker():
        handle = await app.start(lonely)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
    assert "needs a run submitted with a session" in failed.value.error["message"]


async def test_deltas_before_a_pause_are_not_held_back(app: bosun.App) -> None:
    """Text the model writes before pausing (say, to write a tool call) reaches streams
    within the batching interval, not when the answer ends."""
    import asyncio

    from bosun.agents.messages import ChatResponse, StreamDelta, Usage

    resume = asyncio.Event()  # the model pauses until the test has seen its first words

    class Pausing(ScriptedProvider):
        async def stream(self, request: Any, *, idle_timeout: float | None = None) -> Any:
            yield StreamDelta(text="Let me check. ")
            await asyncio.wait_for(resume.wait(), 30)
            yield StreamDelta(text="Done.")
            message = Message.assistant("Let me check. Done.")
            yield ChatResponse(message=message, usage=Usage(), finish_reason="stop", model="p")

    _scripted(app, Pausing())

    @app.workflow(name="pausing")
    async def pausing(ctx: bosun.Context) -> str:
        await ctx.wait_for_signal("go")
        return (await ctx.llm.chat("hi")).message.content or ""

    async with app, app.worker():
        handle = await app.start(pausing)
        await _until_suspended(app, handle.run_id)
        queue = app.store.notifier.subscribe(handle.run_id)
        await handle.signal("go")
        # Streamed while the model is still paused: nothing waits for the answer's end.
        first = await asyncio.wait_for(queue.get(), 30)
        resume.set()
        second = await asyncio.wait_for(queue.get(), 30)
        assert await handle.result(timeout=30) == "Let me check. Done."
    assert json.loads(first[1])["text"] == "Let me check. "
    assert json.loads(second[1])["text"] == "Done."


async def test_llm_stream_yields_pieces_live_and_the_whole_answer_on_replay(
    app: bosun.App,
) -> None:
    _scripted(app, ScriptedProvider(rules=[Rule("", "one two three four")]))

    @app.workflow(name="streamer")
    async def streamer(ctx: bosun.Context) -> list[str]:
        pieces = [piece async for piece in ctx.llm.stream("count")]
        ctx.emit("pieces", {"count": len(pieces), "text": "".join(pieces)})
        await ctx.wait_for_signal("go")  # the replay after this streams nothing
        return pieces

    async with app, app.worker():
        handle = await app.start(streamer)
        await _until_suspended(app, handle.run_id)
        await handle.signal("go")
        replayed = await handle.result(timeout=20)
        events = await app.store.list_events(handle.run_id)
    first = next(json.loads(e.data) for e in events if e.type == "pieces")
    assert first["count"] == 4 and first["text"] == "one two three four"
    assert replayed == ["one two three four"]


async def test_an_agent_can_use_an_explicit_session(app: bosun.App) -> None:
    _scripted(app, _echo_model())
    agent = bosun.Agent()

    @app.workflow(name="side_chat")
    async def side_chat(ctx: bosun.Context, text: str) -> str:
        return await agent.run(ctx, text, session="side")

    async with app, app.worker():
        await (await app.start(side_chat, "first")).result(timeout=20)
        second = await app.start(side_chat, "second")
        assert await second.result(timeout=20) == "2: first | second"
        history = await app.session("side").messages()
    assert [m["content"] for m in history][::2] == ["first", "second"]


async def test_model_settings_declare_a_shared_rate_limit(app: bosun.App) -> None:
    config = ModelConfig(alias="default", provider="scripted", model="s", requests_per_minute=600)
    app.models.register("default", ScriptedProvider(rules=[Rule("", "ok")]), config)

    @app.workflow(name="limited")
    async def limited(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hi")).message.content or ""

    async with app, app.worker():
        handle = await app.start(limited)
        assert await handle.result(timeout=20) == "ok"
        journal = await app.store.get_journal(handle.run_id)
    assert app.registry.rate_limits["llm:default"] == bosun.RateLimit(requests=600, per=60.0)
    assert [e.kind for e in journal] == ["reserve", "llm", "settle"]
