"""One rule for the names callers choose (session ids, queue names) and one JSON policy for
Python-API payloads, enforced before anything is opened or sent: the App below points at a
database that cannot exist, so reaching the store would fail differently."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import bosun
from bosun.client import Client
from bosun.engine.context import _seconds
from bosun.errors import ConfigurationError, InvalidSchedule, NonFiniteNumber
from bosun.ids import IDENTIFIER_PATTERN, check_identifier
from bosun.schedules import new_schedule

BAD_NAMES = ["../../../tmp/pwn", "<b>x</b>", "", "a b", "-leading", "x" * 201, "tab\there"]
GOOD_NAMES = ["default", "gpu-infer", "chat-1", "user@example.com", "a.b:c_d", "x" * 200]


def make_app() -> bosun.App:
    return bosun.App("t", database="sqlite:////nonexistent/never-opened.db")


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_identifiers_follow_one_rule(name: str) -> None:
    assert check_identifier(name, "queue") == name
    assert IDENTIFIER_PATTERN.startswith("^") and IDENTIFIER_PATTERN.endswith("$")


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_outside_the_rule_are_refused_saying_which(name: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^session .* is not a valid name: use 1 to 200"):
        check_identifier(name, "session")


@pytest.mark.parametrize("name", BAD_NAMES)
def test_declared_queues_follow_the_rule(name: str) -> None:
    app = make_app()
    before = set(app.registry.workflows)

    async def wf(ctx: bosun.Context) -> None: ...

    with pytest.raises(ConfigurationError, match="queue"):
        app.workflow(queue=name)(wf)
    with pytest.raises(ConfigurationError, match="queue"):
        app.queue_limit(name, 1)
    assert set(app.registry.workflows) == before and app.queue_limits == {}


async def test_start_refuses_a_bad_session_or_queue_before_opening_the_store() -> None:
    app = make_app()

    @app.workflow(name="wf")
    async def wf(ctx: bosun.Context) -> None: ...

    with pytest.raises(ConfigurationError, match=r"^session '\.\./\.\./\.\./tmp/pwn'"):
        await app.start(wf, session="../../../tmp/pwn")
    with pytest.raises(ConfigurationError, match=r"^session '\.\./x'"):
        await app.start_json("wf", {}, session="../x")
    with pytest.raises(ConfigurationError, match=r"^queue '<b>x</b>'"):
        await app.start(wf, queue="<b>x</b>")
    with pytest.raises(ConfigurationError, match=r"^queue 'a b'"):
        async with app.worker(queues=["a b"]):
            pass


async def test_sessions_refuse_bad_ids_and_non_finite_state_before_opening_the_store() -> None:
    app = make_app()
    with pytest.raises(ConfigurationError, match=r"^session '\.\./pwn'"):
        await app.session("../pwn").create()
    with pytest.raises(NonFiniteNumber, match=r"^Session\('s1'.*\): metadata\.score is NaN,"):
        await app.session("s1").create({"score": float("nan")})
    with pytest.raises(NonFiniteNumber, match=r"state\.totals\[1\] is -Infinity,"):
        await app.session("s1").set_state({"totals": [1, float("-inf")]})


async def test_inputs_with_non_finite_numbers_are_refused_naming_the_argument() -> None:
    app = make_app()

    @app.workflow()
    async def wf(ctx: bosun.Context, data: dict[str, Any], ratio: float = 1.0) -> None: ...

    with pytest.raises(NonFiniteNumber, match=r"argument 'data': rows\[0\]\.score is NaN"):
        await app.start(wf, {"rows": [{"score": float("nan")}]})
    with pytest.raises(NonFiniteNumber, match=r"argument 'ratio': the value is Infinity"):
        await app.start(wf, {}, ratio=float("inf"))


def test_the_client_checks_names_and_refuses_non_finite_bodies_before_sending() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    with Client("http://bosun.test", transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ConfigurationError, match=r"^session '\.\./\.\./\.\./tmp/pwn'"):
            client.submit("wf", session="../../../tmp/pwn")
        with pytest.raises(ConfigurationError, match=r"^queue '<b>x</b>'"):
            client.submit("wf", queue="<b>x</b>")
        with pytest.raises(NonFiniteNumber, match=r"signals: payload\.x is Infinity"):
            client.signal("r1", "go", {"x": float("inf")})
        with pytest.raises(NonFiniteNumber, match=r"/v1/runs: input\.score is NaN"):
            client.submit("wf", {"score": float("nan")})
    assert sent == []


@pytest.mark.parametrize("duration", [float("nan"), float("inf"), -1.0])
def test_timer_durations_must_be_finite(duration: float) -> None:
    with pytest.raises(ConfigurationError, match="finite and not negative"):
        _seconds(duration)


def test_schedules_check_their_queue_and_input() -> None:
    with pytest.raises(InvalidSchedule, match=r"schedule 'nightly': queue '<b>x</b>'"):
        new_schedule("nightly", workflow="wf", cron="@daily", queue="<b>x</b>")
    with pytest.raises(InvalidSchedule, match=r"schedule 'nightly': input\.limit is NaN"):
        new_schedule("nightly", workflow="wf", cron="@daily", input={"limit": float("nan")})
    with pytest.raises(InvalidSchedule, match=r"schedule 'nightly': input: limit is Infinity"):
        new_schedule("nightly", workflow="wf", cron="@daily", input='{"limit": Infinity}')
