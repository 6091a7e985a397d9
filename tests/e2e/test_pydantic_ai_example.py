"""examples/pydantic_ai_agent.py end to end, offline: a plain PydanticAI agent (PydanticAI's
`FunctionModel` playing the model) made durable by `BosunDurability`, served by a bosun
worker: its requests and parallel tool calls journaled, its typed answer returned, a replay
asking the model nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bosun.loader import load_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pydantic_ai_agent.py"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("PYDANTIC_AI_MODEL", raising=False)
    app = load_app(str(EXAMPLE))
    app.use_database(f"sqlite:///{tmp_path / 'desk.db'}")
    return app


async def test_orders_are_looked_up_in_parallel_and_summarised(app: Any) -> None:
    async with app, app.worker(concurrency=2):
        handle = await app.start("order_desk", "Where are my orders 7 and 8?")
        reply = await handle.result(timeout=60)
        journal = await app.store.get_journal(handle.run_id)
        usage = await app.store.usage_totals(run_id=handle.run_id)
    assert reply.message == "Order 7 (electric kettle) is delivered; order 8 (teapot) is shipped."
    assert [(o.order_id, o.status) for o in reply.orders] == [(7, "delivered"), (8, "shipped")]
    assert sorted((e.seq, e.kind, e.name) for e in journal) == [
        ("1.1", "llm", "llm:demo"),
        ("1.2", "llm", "llm:demo"),
        ("1.s1.call_7.1", "tool", "tool:lookup_order"),
        ("1.s1.call_8.1", "tool", "tool:lookup_order"),
    ]
    looked_up = json.loads(next(e.output for e in journal if e.seq == "1.s1.call_8.1"))
    assert looked_up["result"]["item"] == "teapot"
    assert usage.calls == 2 and usage.tokens > 0  # under the workflow's budget


async def test_a_message_without_orders_gets_a_polite_answer(app: Any) -> None:
    async with app, app.worker():
        reply = await (await app.start("order_desk", "hello")).result(timeout=60)
    assert reply.message.startswith("This demo desk looks up orders")
    assert reply.orders == []
