"""examples/mcp_agent.py end to end, offline: the reference MCP time server (from PyPI) as a
stdio subprocess beside a plain tool, on the example's scripted model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import bosun
from bosun.loader import load_app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mcp_agent.py"


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("BOSUN_LLM_MODEL", "BOSUN_MODELS"):
        monkeypatch.delenv(name, raising=False)
    app = load_app(str(EXAMPLE))
    app.use_database(f"sqlite:///{tmp_path / 'clock.db'}")
    yield app
    await bosun.mcp.close_all()


async def test_a_colleague_is_looked_up_then_the_time_server_asked(app: Any) -> None:
    async with app, app.worker(concurrency=4):
        handle = await app.start("world_clock", "What time is it for Aiko?")
        answer = await handle.result(timeout=60)
        journal = await app.store.get_journal(handle.run_id)
    assert answer.startswith("It is ") and answer.endswith(" in Asia/Tokyo.")
    steps = [(e.kind, e.name) for e in journal if e.kind in ("step", "tool")]
    assert steps == [
        ("step", "mcp:time:tools/list"),
        ("tool", "tool:office_of"),
        ("tool", "mcp:time:get_current_time"),
    ]
    listed = json.loads(journal[0].output)
    assert {tool["name"] for tool in listed} == {"get_current_time", "convert_time"}


async def test_a_time_is_converted_and_unknown_questions_answered(app: Any) -> None:
    async with app, app.worker(concurrency=4):
        converted = await app.start("world_clock", "14:30 in New York is what in Paris?")
        other = await app.start("world_clock", "hello")
        answer = await converted.result(timeout=60)  # 20:30, or 19:30 when only one is on DST
        assert answer.startswith("14:30 in America/New_York is ") and "in Europe/Paris" in answer
        assert "demo world clock" in await other.result(timeout=60)
