"""bosun.Agent guardrails, options and run_once on real stores: an input guardrail stops the
run before any model call, an output guardrail before the answer is returned, a model can be
the guardrail, verdicts are journaled and not re-run on replay; `instructions=`/`system=`,
`temperature=`; an agent run in one line outside a workflow, durably."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import bosun
from bosun.agents.messages import Message
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import Rule, ScriptedProvider
from tests.helpers.wait import wait_until


@pytest.fixture
def app(any_db_url: str) -> bosun.App:
    return bosun.App("guardrails", database=any_db_url)


def _register(app: bosun.App, provider: ScriptedProvider, alias: str = "default") -> None:
    config = ModelConfig(alias=alias, provider="scripted", model=f"scripted-{alias}")
    app.models.register(alias, provider, config)


checked: list[str] = []


def no_card_numbers(text: str) -> str | None:
    """Stops messages that hold a card number."""
    checked.append(text)
    return "the message holds a card number" if "4111" in text else None


async def no_shouting(text: str) -> bool:
    checked.append(text)
    return not text.isupper()


async def wait_for_ok(ctx: bosun.Context) -> str:
    """Wait until a human says go."""
    await ctx.wait_for_signal("go")
    return "ok"


async def _suspended(handle: bosun.RunHandle[Any]) -> None:
    async def check() -> bool:
        return (await handle.status()).status == "suspended"

    await wait_until(check, 20, f"run {handle.run_id} to suspend")


async def test_an_input_guardrail_stops_the_run_before_any_model_call(app: bosun.App) -> None:
    provider = ScriptedProvider(fallback="should not be called")
    _register(app, provider)
    agent = bosun.Agent(instructions="Help.", input_guardrails=[no_card_numbers])

    @app.workflow(name="guarded")
    async def guarded(ctx: bosun.Context, text: str) -> str:
        return await agent.run(ctx, text)

    async with app, app.worker():
        handle = await app.start(guarded, "my card is 4111 1111", session="s")
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
        journal = await app.store.get_journal(handle.run_id)
        events = await app.store.list_events(handle.run_id)
        history = await app.session("s").messages()
    assert len(provider.calls) == 0
    error = failed.value.error
    assert error["type"] == "bosun.agents.errors.GuardrailTripped"
    assert error["message"] == (
        "input guardrail 'no_card_numbers' tripped: the message holds a card number"
    )
    verdict, event = journal  # the verdict, and the event that says why the run stopped
    assert (verdict.kind, verdict.name) == ("step", "guardrail:no_card_numbers")
    assert json.loads(verdict.output or "") == "the message holds a card number"
    assert (event.kind, event.name) == ("event", "agent.guardrail.tripped")
    tripped = [json.loads(e.data) for e in events if e.type == "agent.guardrail.tripped"]
    assert tripped == [
        {
            "guardrail": "no_card_numbers",
            "stage": "input",
            "reason": "the message holds a card number",
        }
    ]
    assert history == []  # the refused input never reached the session


async def test_a_passing_guardrail_is_journaled_and_not_run_again_on_replay(
    app: bosun.App,
) -> None:
    checked.clear()
    provider = ScriptedProvider(script=[ScriptedProvider.tool_call("wait_for_ok"), "Done."])
    _register(app, provider)
    agent = bosun.Agent(
        tools=[wait_for_ok],
        input_guardrails=[no_card_numbers, no_shouting],
        output_guardrails=[bosun.guardrail(no_shouting, name="calm_answer")],
    )

    @app.workflow(name="careful")
    async def careful(ctx: bosun.Context, text: str) -> str:
        return await agent.run(ctx, text)

    async with app, app.worker():
        handle = await app.start(careful, "please do it")
        await _suspended(handle)
        await handle.signal("go")
        assert await handle.result(timeout=20) == "Done."
        journal = await app.store.get_journal(handle.run_id)
    assert sorted(checked) == ["Done.", "please do it", "please do it"]  # once each
    assert len(provider.calls) == 2
    names = [e.name for e in journal if e.name.startswith("guardrail:")]
    assert names == ["guardrail:no_card_numbers", "guardrail:no_shouting", "guardrail:calm_answer"]


async def test_an_output_guardrail_stops_the_answer(app: bosun.App) -> None:
    provider = ScriptedProvider(script=["I WILL NOT HELP YOU"])
    _register(app, provider)
    agent = bosun.Agent(output_guardrails=[no_shouting])

    @app.workflow(name="rude")
    async def rude(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "help me")

    async with app, app.worker():
        handle = await app.start(rude, session="s")
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
        history = await app.session("s").messages()
    assert len(provider.calls) == 1
    assert [m["content"] for m in history] == ["help me"]  # the stopped answer is not kept
    assert failed.value.error["type"] == "bosun.agents.errors.GuardrailTripped"
    assert failed.value.error["message"] == (
        "output guardrail 'no_shouting' tripped: no_shouting refused it"
    )


async def test_a_model_can_be_the_guardrail(app: bosun.App) -> None:
    main = ScriptedProvider(fallback="Our kettles boil in 2 minutes.")

    def judge(request: Any) -> str:
        text = request.messages[-1].text
        if "kettle" in text:
            return '{"tripped": false}'
        return '{"tripped": true, "reason": "not about our products"}'

    guard = ScriptedProvider(fallback=judge)
    _register(app, main)
    _register(app, guard, alias="guard")
    on_topic = bosun.guardrail(
        model="guard", prompt="Is the message about something other than kettles?", name="topic"
    )
    agent = bosun.Agent(input_guardrails=[on_topic])

    @app.workflow(name="shop")
    async def shop(ctx: bosun.Context, text: str) -> str:
        return await agent.run(ctx, text)

    async with app, app.worker():
        ok = await app.start(shop, "How fast does the kettle boil?")
        assert await ok.result(timeout=20) == "Our kettles boil in 2 minutes."
        assert len(main.calls) == 1
        refused = await app.start(shop, "Write my homework")
        with pytest.raises(bosun.RunFailed) as failed:
            await refused.result(timeout=20)
        journal = await app.store.get_journal(refused.run_id)
    assert len(main.calls) == 1  # the main model was not asked the off-topic question
    assert failed.value.error["message"] == (
        "input guardrail 'topic' tripped: not about our products"
    )
    asked = guard.calls[-1]
    assert asked.model == "scripted-guard" and asked.response_schema is not None
    assert "other than kettles" in (asked.messages[0].text)
    assert asked.messages[-1].text.startswith("Write my homework")
    assert [e.name for e in journal] == ["llm:guard", "agent.guardrail.tripped"]


async def test_instructions_temperature_and_max_tokens_reach_the_model(app: bosun.App) -> None:
    provider = ScriptedProvider(fallback="hi")
    _register(app, provider)
    seen: list[str] = []

    def instructions(ctx: bosun.Context) -> str:
        seen.append(ctx.run_id)
        return f"You serve run {ctx.run_id}."

    by_instructions = bosun.Agent(instructions="Be brief.", temperature=0.3, max_tokens=64)
    by_system = bosun.Agent(system="Be brief.")
    dynamic = bosun.Agent(instructions=instructions)

    @app.workflow(name="three")
    async def three(ctx: bosun.Context) -> list[str]:
        return [await a.run(ctx, "hello") for a in (by_instructions, by_system, dynamic)]

    async with app, app.worker():
        handle = await app.start(three)
        assert await handle.result(timeout=20) == ["hi", "hi", "hi"]
    first, second, third = provider.calls
    assert first.messages[0] == Message.system("Be brief.")
    assert (first.temperature, first.max_tokens) == (0.3, 64)
    assert second.messages[0] == Message.system("Be brief.")
    assert (second.temperature, second.max_tokens) == (None, None)
    assert third.messages[0] == Message.system(f"You serve run {handle.run_id}.")
    assert by_system.system == "Be brief." and dynamic.system is None


async def test_run_once_is_a_durable_run_in_one_line(app: bosun.App) -> None:
    provider = ScriptedProvider(
        rules=[
            Rule("hi", "Hello there."),
            Rule("wait", ScriptedProvider.tool_call("wait_for_ok")),
            Rule("ok", "Waited."),
        ]
    )
    _register(app, provider)
    greeter = bosun.Agent(name="greeter", instructions="Greet.")
    patient = bosun.Agent(name="patient", tools=[wait_for_ok])

    async with app:
        assert await greeter.run_once(app, "hi", session="s1") == "Hello there."
        history = await app.session("s1").messages()
        (run,) = await app.session("s1").runs()
        assert run.workflow == "bosun.agent.greeter" and run.status == "completed"
        # The same key finds the same run: its answer, without a second model call.
        assert await greeter.run_once(app, "hi", idempotency_key="k") == "Hello there."
        assert await greeter.run_once(app, "hi", idempotency_key="k") == "Hello there."
        assert len(provider.calls) == 2

        waiting = asyncio.ensure_future(patient.run_once(app, "wait", idempotency_key="w"))
        registered = app.registry.workflows
        await wait_until(lambda: "bosun.agent.patient" in registered, 20, "run_once to register")
        handle = await app.start("bosun.agent.patient", "wait", idempotency_key="w")
        await _suspended(handle)
        await handle.signal("go")
        assert await asyncio.wait_for(waiting, 30) == "Waited."
        assert await handle.result(timeout=20) == "Waited."
    assert [m["content"] for m in history] == ["hi", "Hello there."]
    assert len(provider.calls) == 4  # the replay after the signal called nothing again
    assert provider.calls[-1].messages[-1].text == "ok"  # the tool's answer, then "Waited."


def test_instructions_and_system_are_one_setting() -> None:
    with pytest.raises(bosun.ConfigurationError, match="not both"):
        bosun.Agent(instructions="a", system="b")
    assert bosun.Agent(system="b").instructions == "b"
    with pytest.raises(bosun.ConfigurationError, match="model="):
        bosun.guardrail()
    with pytest.raises(bosun.ConfigurationError, match="not both"):
        bosun.guardrail(no_shouting, model="guard", prompt="x")


async def test_run_once_refuses_two_agents_of_one_name(db_url: str) -> None:
    app = bosun.App("clash", database=db_url)
    _register(app, ScriptedProvider(fallback="hi"))
    async with app:
        assert await bosun.Agent(name="twin").run_once(app, "hello") == "hi"
        with pytest.raises(bosun.ConfigurationError, match="twin"):
            await bosun.Agent(name="twin").run_once(app, "hello")
