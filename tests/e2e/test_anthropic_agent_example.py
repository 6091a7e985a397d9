"""examples/anthropic_agent.py end to end, offline: the example as it is, pointed with
`ANTHROPIC_BASE_URL` at a local server that speaks Anthropic's wire format, where a stand-in
for Claude thinks, asks for the forecasts of every city in the question at once, and answers
from the tool results. And without a key, its worker refuses to start, saying what to set."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anthropic.types import ToolUseBlock
from tests.helpers.fake_anthropic import (
    SIGNATURE,
    FakeAnthropic,
    Reply,
    serve_anthropic,
    text,
    thinking,
    tool_results,
)
from tests.unit.test_model_names import MODEL_VARIABLES

import bosun
from bosun.loader import load_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "anthropic_agent.py"
CITIES = ("paris", "lisbon", "oslo", "tokyo", "atlantis")


def claude(body: dict[str, Any]) -> Reply:
    """Claude's part: forecasts for the cities asked about, in parallel; then the answer."""
    results = tool_results(body)
    if not results:
        question = body["messages"][-1]["content"][-1]["text"].lower()
        asked = [city for city in CITIES if city in question]
        calls = [
            ToolUseBlock(type="tool_use", id=f"toolu_{i}", name="forecast", input={"city": city})
            for i, city in enumerate(asked)
        ]
        plan = f"I need the forecasts for {', '.join(asked)}; I will ask for them all at once."
        return Reply([thinking(plan), text("Let me look those up."), *calls], "tool_use")
    wet: list[str] = []
    for result in results:
        if result["content"].startswith("error"):
            continue
        found = json.loads(result["content"])
        if found["rain_chance"] >= 0.5:
            wet.append(found["city"])
    umbrella = f"Take an umbrella to {' and '.join(wet)}." if wet else "No umbrella needed."
    return Reply([thinking("Now I can answer."), text(umbrella)])


@pytest.fixture
def claude_server() -> Iterator[FakeAnthropic]:
    with serve_anthropic(FakeAnthropic(answer=claude)) as server:
        yield server


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, claude_server: FakeAnthropic) -> Any:
    for name in MODEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", claude_server.url)
    app = load_app(str(EXAMPLE))
    app.use_database(f"sqlite:///{tmp_path / 'trip.db'}")
    return app


async def test_claude_thinks_asks_for_forecasts_in_parallel_and_answers(
    app: bosun.App, claude_server: FakeAnthropic
) -> None:
    question = "Paris or Lisbon this weekend: where do I need an umbrella?"
    async with app, app.worker(concurrency=4):
        handle = await app.start("trip_weather", question)
        assert await handle.result(timeout=60) == "Take an umbrella to Paris."
        journal = await app.store.get_journal(handle.run_id)
    await app.models.aclose()  # the SDK client, on the loop it ran on

    steps = [(e.kind, e.name) for e in journal if e.kind in ("llm", "tool")]
    model_step = ("llm", "llm:anthropic:claude-haiku-4-5")
    assert steps.count(model_step) == 2 and steps.count(("tool", "tool:forecast")) == 2
    assert claude_server.count() == 2

    first, second = claude_server.bodies()
    assert first["model"] == "claude-haiku-4-5" and first["stream"] is True
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert first["max_tokens"] == 4096 + 2048
    assert first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first["system"][-1]["cache_control"] == {"type": "ephemeral"}
    # The tool loop's second turn: the thinking back first, signed; both results in one turn.
    assistant, results = second["messages"][1], second["messages"][2]
    assert assistant["content"][0]["type"] == "thinking"
    assert assistant["content"][0]["signature"] == SIGNATURE
    assert [b["type"] for b in assistant["content"][1:]] == ["text", "tool_use", "tool_use"]
    assert [b["tool_use_id"] for b in results["content"]] == ["toolu_0", "toolu_1"]

    [cost, *_] = [json.loads(e.output)["cost"] for e in journal if e.kind == "llm"]
    # claude-haiku-4-5 at $1/$5 per million; 4 cache reads at $0.10, 2 writes at $1.25.
    assert cost == pytest.approx((12 * 1 + 4 * 0.1 + 2 * 1.25 + 9 * 5) / 1_000_000)


async def test_a_city_without_a_forecast_goes_back_to_the_model(
    app: bosun.App, claude_server: FakeAnthropic
) -> None:
    async with app, app.worker(concurrency=4):
        handle = await app.start("trip_weather", "Lisbon, then Atlantis?")
        assert await handle.result(timeout=60) == "No umbrella needed."
    await app.models.aclose()
    sent = claude_server.bodies()[1]["messages"][2]["content"]
    assert sent[1]["content"].startswith("error: LookupError: no forecast for atlantis")


def test_without_a_key_the_worker_does_not_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in MODEL_VARIABLES}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bosun",
            "worker",
            str(EXAMPLE),
            "--database",
            f"sqlite:///{tmp_path / 'trip.db'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    said = re.sub(r"\s+", " ", done.stderr)
    assert "reads its API key from $ANTHROPIC_API_KEY, which is not set; set it" in said
