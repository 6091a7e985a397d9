"""The lifecycle events of a step are written out directly for speed: byte for byte what
the generic compact encoder writes, whatever the names hold."""

from __future__ import annotations

import json

import pytest

from bosun.events import _compact_json, step_completed, step_started

NAMES = ["s1", "ship_order", "größe", "名前", 'say "hi"\\', "tab\there", "\u2028", "emoji 🚢"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("attempt", [1, 7, 12345678901234567890])
def test_step_started_is_what_the_encoder_writes(name: str, attempt: int) -> None:
    kind, data = step_started("3.1", name, attempt)
    assert kind == "step.started"
    assert data == _compact_json({"seq": "3.1", "name": name, "attempt": attempt})
    assert json.loads(data) == {"seq": "3.1", "name": name, "attempt": attempt}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("duration", [0.0, 1.5e-06, 0.000123, 2.5, 86400.123456, 1e22])
def test_step_completed_is_what_the_encoder_writes(name: str, duration: float) -> None:
    kind, data = step_completed("7", name, 2, duration)
    assert kind == "step.completed"
    expected = {"seq": "7", "name": name, "attempt": 2, "duration": duration}
    assert data == _compact_json(expected)
    assert json.loads(data) == expected


def test_values_off_the_fast_path_go_through_the_encoder() -> None:
    assert step_completed("1", "s", 1, 3)[1] == '{"seq":"1","name":"s","attempt":1,"duration":3}'
    assert step_started("1", "s", True)[1] == '{"seq":"1","name":"s","attempt":true}'
    with pytest.raises(ValueError):  # strict, as everything bosun stores
        step_completed("1", "s", 1, float("nan"))
