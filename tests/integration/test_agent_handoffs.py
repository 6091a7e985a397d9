"""bosun.Agent handoffs on real stores: the conversation goes on with the target agent (its
instructions, tools, model and settings) in the same run, journaled, with the history filtered
as asked; replay reaches the same agent without calling a model again; an agent as a tool."""

from __future__ import annotations

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
    return bosun.App("handoffs", database=any_db_url)


def _register(app: bosun.App, alias: str, provider: ScriptedProvider) -> None:
    config = ModelConfig(alias=alias, provider="scripted", model=f"scripted-{alias}")
    app.models.register(alias, provider, config)


def invoice_total(invoice: str) -> str:
    """The amount due on an invoice.

    Args:
        invoice: the invoice number.
    """
    return f"{invoice}: 40 EUR"


async def confirm_refund(ctx: bosun.Context, invoice: str) -> str:
    """Refund an invoice once a human confirms."""
    decision = await ctx.wait_for_signal("confirm")
    return "refunded" if decision.get("ok") else "not refunded"


def _billing(**options: Any) -> bosun.Agent:
    return bosun.Agent(
        name="billing",
        description="Invoices, refunds and payments.",
        instructions="You handle billing.",
        model="billing",
        tools=[invoice_total, confirm_refund],
        temperature=0.1,
        max_tokens=300,
        **options,
    )


async def _journal(app: bosun.App, run_id: str) -> list[Any]:
    return list(await app.store.get_journal(run_id))


async def test_a_handoff_goes_on_with_the_target_agent(app: bosun.App) -> None:
    triage_model = ScriptedProvider(
        script=[ScriptedProvider.tool_call("transfer_to_billing")], fallback="unexpected"
    )
    billing_model = ScriptedProvider(
        script=[
            ScriptedProvider.tool_call("invoice_total", invoice="INV-1"),
            "Invoice INV-1 is 40 EUR.",
        ]
    )
    _register(app, "default", triage_model)
    _register(app, "billing", billing_model)
    billing = _billing()
    triage = bosun.Agent(
        name="triage", instructions="Route the customer.", temperature=0.7, handoffs=[billing]
    )

    @app.workflow(name="support")
    async def support(ctx: bosun.Context, text: str) -> str:
        return await triage.run(ctx, text)

    async with app, app.worker():
        handle = await app.start(support, "How much is invoice INV-1?", session="s1")
        assert await handle.result(timeout=20) == "Invoice INV-1 is 40 EUR."
        journal = await _journal(app, handle.run_id)
        history = await app.session("s1").messages()

    (first,) = triage_model.calls
    assert first.temperature == 0.7 and first.max_tokens is None
    (spec,) = first.tools
    assert spec.name == "transfer_to_billing"
    assert "billing" in spec.description and "Invoices, refunds and payments." in spec.description
    second, third = billing_model.calls
    assert second.model == "scripted-billing"  # the target's model…
    assert second.temperature == 0.1 and second.max_tokens == 300  # …its settings…
    assert [t.name for t in second.tools] == ["invoice_total", "confirm_refund"]  # …its tools
    assert second.messages[0] == Message.system("You handle billing.")  # …its instructions
    assert "Route the customer." not in [m.content for m in second.messages]
    roles = [m.role for m in second.messages]
    assert roles == ["system", "user", "assistant", "tool"]  # history "all": the transfer too
    assert json.loads(second.messages[-1].text) == {"assistant": "billing"}
    assert [m.role for m in third.messages][-2:] == ["assistant", "tool"]
    handoffs = [e for e in journal if e.name.startswith("handoff:")]
    assert [(e.kind, e.name) for e in handoffs] == [("tool", "handoff:billing")]
    assert json.loads(handoffs[0].output) == {"from": "triage", "to": "billing"}
    # The session keeps the whole conversation: triage's turn, then billing's two.
    roles = [m["role"] for m in history]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]


async def test_history_filters_choose_what_the_target_sees(app: bosun.App) -> None:
    triage_model = ScriptedProvider(
        rules=[Rule("", ScriptedProvider.tool_call("transfer_to_billing"))]
    )
    billing_model = ScriptedProvider(rules=[Rule(lambda r: True, "done")])
    _register(app, "default", triage_model)
    _register(app, "billing", billing_model)

    def last_two(messages: list[Message]) -> list[Message]:
        return [Message.user("Summary: " + messages[0].text)]

    agents = {
        "all": bosun.Agent(name="t1", handoffs=[bosun.handoff(_billing(), history="all")]),
        "last_user": bosun.Agent(
            name="t2", handoffs=[bosun.handoff(_billing(), history="last_user")]
        ),
        "function": bosun.Agent(name="t3", handoffs=[bosun.handoff(_billing(), history=last_two)]),
    }

    @app.workflow(name="route")
    async def route(ctx: bosun.Context, kind: str) -> str:
        conversation = [
            Message.user("first question"),
            Message.assistant("first answer"),
            Message.user("refund INV-9"),
        ]
        return await agents[kind].run(ctx, conversation)

    seen: dict[str, list[tuple[str, str]]] = {}
    async with app, app.worker():
        for kind in agents:
            before = len(billing_model.calls)
            assert await (await app.start(route, kind)).result(timeout=20) == "done"
            (request,) = list(billing_model.calls)[before:]
            seen[kind] = [(m.role, m.text) for m in request.messages]

    system = ("system", "You handle billing.")
    assert seen["all"][:4] == [
        system,
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "refund INV-9"),
    ]
    assert [role for role, _ in seen["all"][4:]] == ["assistant", "tool"]
    assert seen["last_user"] == [system, ("user", "refund INV-9")]
    assert seen["function"] == [system, ("user", "Summary: first question")]


async def test_a_handoff_replays_without_calling_a_model_again(app: bosun.App) -> None:
    triage_model = ScriptedProvider(script=[ScriptedProvider.tool_call("transfer_to_billing")])
    billing_model = ScriptedProvider(
        script=[ScriptedProvider.tool_call("confirm_refund", invoice="INV-2"), "Refunded."]
    )
    _register(app, "default", triage_model)
    _register(app, "billing", billing_model)
    triage = bosun.Agent(name="triage", handoffs=[_billing()])

    @app.workflow(name="refund")
    async def refund(ctx: bosun.Context, text: str) -> str:
        return await triage.run(ctx, text)

    async with app, app.worker():
        handle = await app.start(refund, "Refund INV-2")

        async def suspended() -> bool:
            return (await handle.status()).status == "suspended"

        await wait_until(suspended, 20, "the run to wait for the confirmation")
        assert (len(triage_model.calls), len(billing_model.calls)) == (1, 1)
        await handle.signal("confirm", {"ok": True})
        assert await handle.result(timeout=20) == "Refunded."
        journal = await _journal(app, handle.run_id)
    # The attempt after the signal replayed the triage turn and the handoff from the journal.
    assert (len(triage_model.calls), len(billing_model.calls)) == (1, 2)
    assert [m.text for m in billing_model.calls[1].messages if m.role == "tool"][-1] == "refunded"
    assert [e.name for e in journal if e.name.startswith("handoff:")] == ["handoff:billing"]
    assert [e.name for e in journal if e.kind == "llm"] == [
        "llm:default",
        "llm:billing",
        "llm:billing",
    ]


async def test_agents_handing_back_and_forth_stop_at_max_turns(app: bosun.App) -> None:
    def transfer(request: Any) -> Message:
        names = [t.name for t in request.tools]
        return ScriptedProvider.tool_call(names[0])

    provider = ScriptedProvider(rules=[Rule(lambda r: True, transfer)])
    _register(app, "default", provider)
    second = bosun.Agent(name="second")
    first = bosun.Agent(name="first", handoffs=[second], max_turns=3)
    second.handoffs.append(bosun.handoff(first))

    @app.workflow(name="ping_pong")
    async def ping_pong(ctx: bosun.Context) -> str:
        return await first.run(ctx, "hello")

    async with app, app.worker():
        handle = await app.start(ping_pong)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
        journal = await _journal(app, handle.run_id)
    assert "within 3 turns" in failed.value.error["message"]
    assert len(provider.calls) == 3
    assert [e.name for e in journal if e.name.startswith("handoff:")] == [
        "handoff:second",
        "handoff:first",
        "handoff:second",
    ]


async def test_an_agent_as_a_tool_answers_in_a_nested_loop(app: bosun.App) -> None:
    outer_model = ScriptedProvider(
        script=[
            ScriptedProvider.tool_call("ask_billing", input="What is due on INV-3?"),
            "You owe 40 EUR.",
        ]
    )
    billing_model = ScriptedProvider(script=["40 EUR is due."])
    _register(app, "default", outer_model)
    _register(app, "billing", billing_model)
    billing = _billing()
    assistant = bosun.Agent(name="assistant", tools=[billing.as_tool()])

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        return await assistant.run(ctx, "How much do I owe?", session="chat")

    async with app, app.worker():
        handle = await app.start(ask)
        assert await handle.result(timeout=20) == "You owe 40 EUR."
        history = await app.session("chat").messages()
    (spec,) = outer_model.calls[0].tools
    assert spec.name == "ask_billing" and spec.description == "Invoices, refunds and payments."
    (nested,) = billing_model.calls
    assert [(m.role, m.text) for m in nested.messages] == [
        ("system", "You handle billing."),
        ("user", "What is due on INV-3?"),  # nothing of the caller's conversation
    ]
    assert [m.content for m in outer_model.calls[1].messages if m.role == "tool"] == [
        "40 EUR is due."
    ]
    assert "What is due on INV-3?" not in [m["content"] for m in history]


def test_handoffs_are_checked_when_the_agent_is_made() -> None:
    billing = _billing()

    def transfer_to_billing() -> str:
        """A tool that clashes with the handoff."""
        return ""

    with pytest.raises(bosun.ConfigurationError, match="transfer_to_billing"):
        bosun.Agent(tools=[transfer_to_billing], handoffs=[billing])
    with pytest.raises(bosun.ConfigurationError, match="history"):
        bosun.handoff(billing, history="none")  # type: ignore[arg-type]
    with pytest.raises(bosun.ConfigurationError, match=r"bosun\.Agent"):
        bosun.handoff("billing")  # type: ignore[arg-type]
    named = bosun.handoff(billing, name="to_accounts", description="Money matters.")
    assert (named.spec.name, named.spec.description) == ("to_accounts", "Money matters.")
