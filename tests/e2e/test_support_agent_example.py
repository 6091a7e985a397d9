"""examples/support_agent.py end to end, offline: tools, a human approval, the final answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bosun.loader import load_app
from conftest import wait_until

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


def _app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("BOSUN_LLM_MODEL", "BOSUN_MODELS"):
        monkeypatch.delenv(name, raising=False)
    app = load_app(str(EXAMPLE))
    app.use_database(f"sqlite:///{tmp_path / 'support.db'}")
    return app
