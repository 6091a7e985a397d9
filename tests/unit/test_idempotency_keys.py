"""How idempotency keys are stored: one namespace per origin, every key encoded one way."""

from __future__ import annotations

import itertools

import pytest

from bosun.errors import InvalidRequest
from bosun.idempotency import event_key, schedule_key, shown_key, user_key

PARTS = ["", "a", "b", ":", "a:b", "b:", ":a", "%", "%3A", "a%3Ab", "user", "event", "default"]


def test_keys_of_different_origins_or_parts_never_meet() -> None:
    keys: dict[str, tuple[object, ...]] = {}

    def add(key: str | None, origin: tuple[object, ...]) -> None:
        assert key is not None
        assert keys.setdefault(key, origin) == origin, f"{origin} and {keys[key]} share {key!r}"

    for tenant, key in itertools.product(PARTS, repeat=2):
        add(user_key(tenant, key), ("user", tenant, key))
    for tenant, event, workflow, event_id in itertools.product(PARTS[:8], repeat=4):
        add(
            event_key(tenant, event, workflow, event_id),
            ("event", tenant, event, workflow, event_id),
        )
    for name, tick in itertools.product(PARTS, repeat=2):
        add(schedule_key(name, tick), ("schedule", name, tick))


def test_the_issue_examples_are_apart() -> None:
    assert user_key("default", "event:email.received:E-2:on_mail") != event_key(
        "default", "email.received", "on_mail", "E-2"
    )
    assert event_key("t", "order", "wf", "paid:1") != event_key("t", "order:paid", "wf", "1")


def test_keys_read_well_when_nothing_needs_escaping() -> None:
    assert user_key("acme", "order-42") == "user:acme:order-42"
    assert event_key("acme", "email.received", "on_mail", "E-2") == (
        "event:acme:email.received:on_mail:E-2"
    )
    assert schedule_key("nightly", "2024-03-31T01:00:00Z") == (
        "schedule:nightly:2024-03-31T01:00:00Z"
    )
    assert user_key("a:b", "c:d") == "user:a%3Ab:c:d"  # the last part is kept as given


@pytest.mark.parametrize("key", ["order-42", "a:b", "user:x:y", "%3A", ""])
def test_a_view_shows_the_submitters_own_key(key: str) -> None:
    for tenant in ("default", "a:b", "%"):
        assert shown_key(user_key(tenant, key)) == key
    assert shown_key(None) is None
    internal = event_key("acme", "email.received", "on_mail", "E-2")
    assert shown_key(internal) == internal


@pytest.mark.parametrize("key", ["a\x1fb", "a\nb", "\x00", "tab\there"])
def test_control_characters_are_refused(key: str) -> None:
    with pytest.raises(InvalidRequest, match="control characters"):
        user_key("default", key)
    assert user_key("default", None) is None
