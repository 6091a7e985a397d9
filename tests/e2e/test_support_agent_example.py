"""examples/support_agent.py end to end, offline: tools, a human approval, the final answer;
a polite answer to anything its scripted model has no rule for; a chat in a session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.wait import wait_until

from bosun.loader import load_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support_agent.py"


async def test_a_small_refund_is_approved_by_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(tmp_path, monkeypatch)
    async with app, app.worker(concurrency=4):
        handle = await app.start("support", "My kettle from order 7 arrived broken, refund half")
        resolution = await handle.result(timeout=30)
        journal = await app.store.get_journal(handle.run_id)
    assert (resolution.order_id, resolution.refunded) == (7, 20.0)
    assert "approved by policy" in resolution.reply
    kinds = [(e.kind, e.name) for e in journal if e.kind in ("llm", "tool")]
    assert kinds.count(("llm", "llm:default")) == 4
    assert ("tool", "tool:lookup_order") in kinds and ("tool", "tool:calculate") in kinds


@pytest.mark.parametrize("approve", [True, False])
async def test_a_full_refund_waits_for_a_human(
    tmp_path: Path, approve: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(tmp_path, monkeypatch)
    async with app, app.worker(concurrency=4):
        handle = await app.start("support", "Order 7 arrived broken, refund it all")

        async def waiting() -> bool:
            return (await handle.status()).status == "suspended"

        await wait_until(waiting, 30, "the refund to wait for a human")
        events = [e.type for e in await app.store.list_events(handle.run_id)]
        assert "approval.requested" in events
        await handle.signal("approval", {"ok": approve, "by": "alice"})
        resolution = await handle.result(timeout=30)
    assert resolution.order_id == 7
    assert resolution.refunded == (40.0 if approve else 0.0)
    assert ("approved by alice" if approve else "refused by alice") in resolution.reply


@pytest.mark.parametrize("message", ["hello", "what can you do?", "Can I pay in bitcoin?"])
async def test_any_other_message_gets_a_polite_answer_saying_what_the_demo_can_do(
    tmp_path: Path, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(tmp_path, monkeypatch)
    async with app, app.worker(concurrency=4):
        handle = await app.start("support", message)
        resolution = await handle.result(timeout=30)
        journal = await app.store.get_journal(handle.run_id)
    assert (resolution.order_id, resolution.refunded) == (None, 0.0)
    for said in ("orders 7", "8 (a teapot)", "refund", "over $25", "approval", "BOSUN_LLM_MODEL"):
        assert said in resolution.reply, (said, resolution.reply)
    assert not [e for e in journal if e.kind == "tool"]  # nothing looked up or refunded


async def test_an_unknown_order_is_answered_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(tmp_path, monkeypatch)
    async with app, app.worker(concurrency=4):
        handle = await app.start("support", "refund order 99")
        resolution = await handle.result(timeout=30)
        journal = await app.store.get_journal(handle.run_id)
    assert (resolution.order_id, resolution.refunded) == (99, 0.0)
    assert "could not find order 99" in resolution.reply and "7 and 8" in resolution.reply
    tools = [e.name for e in journal if e.kind == "tool"]
    assert tools == ["tool:lookup_order"]  # looked up, nothing computed or refunded


async def test_a_session_goes_on_from_its_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _app(tmp_path, monkeypatch)
    said = [
        "My kettle from order 7 arrived broken, refund half please",
        "thanks! and order 8?",  # "half" comes from the history
        "thanks!",
    ]
    async with app, app.worker(concurrency=4):
        answers = []
        for message in said:
            handle = await app.start("support", message, session="chat-1")
            answers.append(await handle.result(timeout=30))
        history = await app.session("chat-1").messages()
    assert [(a.order_id, a.refunded) for a in answers] == [(7, 20.0), (8, 12.5), (None, 0.0)]
    assert "teapot" in answers[1].reply and "$12.50 on order 8" in answers[1].reply
    assert answers[2].reply.startswith("You are welcome!")
    # The history holds each message, then the agent's final answer, in order (the tool
    # turns between them left out here).
    chat = [
        m["content"] if m["role"] == "user" else json.loads(m["content"])
        for m in history
        if m["role"] == "user" or (m["role"] == "assistant" and not m.get("tool_calls"))
    ]
    expected: list[Any] = []
    for message, answer in zip(said, answers, strict=True):
        expected += [message, answer.model_dump()]
    assert chat == expected


def _app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("BOSUN_LLM_MODEL", "BOSUN_MODELS"):
        monkeypatch.delenv(name, raising=False)
    app = load_app(str(EXAMPLE))
    app.use_database(f"sqlite:///{tmp_path / 'support.db'}")
    return app
