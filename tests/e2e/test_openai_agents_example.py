"""examples/openai_agents_agent.py end to end, offline: the OpenAI Agents SDK support desk on
the example's scripted model (a bosun alias named like the agents' model), run durably."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bosun.loader import load_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openai_agents_agent.py"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("OPENAI_API_KEY", "BOSUN_LLM_MODEL", "BOSUN_MODELS"):
        monkeypatch.delenv(name, raising=False)
    app = load_app(str(EXAMPLE))
    app.use_database(f"sqlite:///{tmp_path / 'support.db'}")
    return app


async def test_an_order_question_is_answered_by_triage(app: Any) -> None:
    async with app, app.worker():
        handle = await app.start("support", "Where is order 1001?")
        answer = await handle.result(timeout=60)
        journal = await app.store.get_journal(handle.run_id)
    assert answer == "[Triage] Here is what I found: order 1001: kettle, shipped, paid $39.00."
    steps = [(e.kind, e.name) for e in journal if e.kind in ("llm", "tool")]
    assert steps == [
        ("llm", "llm:gpt-4.1-mini"),
        ("tool", "tool:lookup_order"),
        ("llm", "llm:gpt-4.1-mini"),
    ]


async def test_a_refund_is_handed_off_and_paid_once(app: Any) -> None:
    async with app, app.worker():
        handle = await app.start("support", "Please refund order 1002, it broke.")
        answer = await handle.result(timeout=60)
        journal = await app.store.get_journal(handle.run_id)
    assert answer.startswith("[Refunds] Done: refunded $54.50 for order 1002")
    steps = [e.name for e in journal if e.kind in ("llm", "tool")]
    assert steps == [
        "llm:gpt-4.1-mini",
        "handoff:Refunds",
        "llm:gpt-4.1-mini",
        "tool:lookup_order",
        "llm:gpt-4.1-mini",
        "tool:refund",
        "llm:gpt-4.1-mini",
    ]
