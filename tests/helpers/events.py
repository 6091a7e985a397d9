"""What a run's event stream promises, checked on the events a client received (dicts with
`id`, `type` and `data`, as the API and `bosun run --follow --json` give them)."""

from __future__ import annotations

from typing import Any


def assert_stream_in_order(events: list[dict[str, Any]]) -> None:
    """Stored events arrive in order, each once, from the first; a step's start that came live
    (id null, while the step ran) is not sent again with its stored id, so the stored ids skip
    exactly those positions; and every step start arrives once."""
    stored = [e["id"] for e in events if e["id"] is not None]
    live_starts = sum(e["id"] is None and e["type"] == "step.started" for e in events)
    assert stored == sorted(set(stored)), stored
    assert not stored or stored[-1] == len(stored) + live_starts, (stored, live_starts)
    starts = [
        (e["data"]["seq"], e["data"]["attempt"]) for e in events if e["type"] == "step.started"
    ]
    assert len(starts) == len(set(starts)), starts
