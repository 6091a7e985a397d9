"""One JSON policy and one naming rule at the HTTP boundary, over real HTTP to a real uvicorn
on SQLite and PostgreSQL: NaN and Infinity are refused (a 400 naming where) before anything
is written, a run that returns one fails, rows written before the policy still list, and
session ids and queue names follow the same rule as everywhere else."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.helpers.processes import APPS, Env
from tests.helpers.serving import Served, serve

from bosun.ids import new_id
from bosun.loader import load_app
from bosun.records import NewRun
from bosun.server import ServerConfig

PROBLEM = "application/problem+json"
APP = APPS / "validation_app.py"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    app = load_app(str(APP))
    if request.param == "sqlite":
        app.use_database(f"sqlite:///{tmp_path / 'api.db'}")
    else:
        app.use_database(str(request.getfixturevalue("pg_url")))
    config = ServerConfig(worker_concurrency=4, key_cache_seconds=0.0)
    with serve(app, config) as server:
        yield server


def _strict(text: str) -> Any:
    """Parse as a browser's JSON.parse would: NaN and Infinity are errors."""

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in {text!r} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _post(client: httpx.Client, path: str, body: bytes, method: str = "POST") -> httpx.Response:
    return client.request(method, path, content=body, headers={"Content-Type": "application/json"})


def _problem(response: httpx.Response, status: int, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert detail in response.json()["detail"], response.json()


def _wait(client: httpx.Client, run_id: str) -> dict[str, Any]:
    for _ in range(20):
        response = client.get(f"/v1/runs/{run_id}/result", params={"wait": 5})
        if response.status_code == 200:
            body: dict[str, Any] = _strict(response.text)
            return body
        assert response.status_code == 202, response.text
    raise AssertionError(f"run {run_id} did not finish")


def _events(client: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    with client.stream("GET", f"/v1/runs/{run_id}/events") as response:
        lines = [line[5:] for line in response.iter_lines() if line.startswith("data:")]
    return [_strict(line) for line in lines]


def test_nan_in_session_metadata_is_a_400_and_writes_nothing(served: Served) -> None:
    with served.client(served.key("acme", "submit", "read")) as client:
        body = b'{"id": "s1", "metadata": {"score": NaN}}'
        _problem(
            _post(client, "/v1/sessions", body),
            400,
            "the request body is not valid JSON: metadata.score is NaN, which JSON cannot hold",
        )
        listed = client.get("/v1/sessions")
        assert listed.status_code == 200 and _strict(listed.text)["sessions"] == []
        assert client.get("/v1/sessions/s1").status_code == 404


def test_infinity_in_a_session_patch_is_refused_not_turned_into_null(served: Served) -> None:
    with served.client(served.key("acme", "submit", "read")) as client:
        created = client.post("/v1/sessions", json={"id": "s1", "metadata": {"a": 1}})
        assert created.status_code == 201, created.text
        for body, where in [
            (b'{"metadata": {"a": -Infinity}}', "metadata.a is -Infinity"),
            (b'{"state": {"totals": [1, 1e999]}}', "state.totals[1] is Infinity"),
        ]:
            _problem(_post(client, "/v1/sessions/s1", body, "PATCH"), 400, where)
        session = _strict(client.get("/v1/sessions/s1").text)
        assert session["metadata"] == {"a": 1} and session["state"] == {}


def test_non_finite_run_inputs_and_signals_are_refused_and_streams_stay_json(
    served: Served,
) -> None:
    with served.client(served.key("acme", "submit", "read")) as client:
        refused = _post(client, "/v1/runs", b'{"workflow": "echo", "input": {"value": NaN}}')
        _problem(refused, 400, "input.value is NaN")
        assert client.get("/v1/runs").json()["runs"] == []

        created = client.post("/v1/runs", json={"workflow": "echo_signal"})
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
        signals = f"/v1/runs/{run_id}/signals"
        for body, where in [
            (b'{"name": "go", "payload": {"x": Infinity}}', "payload.x is Infinity"),
            (b'{"name": "go", "payload": [1e999]}', "payload[0] is Infinity"),
        ]:
            _problem(_post(client, signals, body), 400, where)
        sent = client.post(signals, json={"name": "go", "payload": {"x": 1.5}})
        assert sent.status_code == 202, sent.text
        assert _wait(client, run_id)["result"] == {"x": 1.5}
        events = _events(client, run_id)
    assert [e["type"] for e in events if e["type"] == "signal.received"] == ["signal.received"]
    assert events[-1]["type"] == "run.completed" and events[-1]["data"]["result"] == {"x": 1.5}


def test_a_run_returning_nan_fails_with_an_error_naming_it(served: Served) -> None:
    with served.client(served.key("acme", "submit", "read")) as client:
        created = client.post("/v1/runs", json={"workflow": "nan_result", "input": {"scores": []}})
        assert created.status_code == 201, created.text
        run = _wait(client, created.json()["id"])
        events = _events(client, run["id"])
        listed = client.get("/v1/runs")
    assert run["status"] == "failed" and run["result"] is None
    assert run["error"]["type"] == "bosun.errors.NonFiniteNumber"
    assert "result of workflow 'nan_result': mean is NaN" in run["error"]["message"]
    assert events[-1]["type"] == "run.failed"
    assert listed.status_code == 200 and _strict(listed.text)["runs"][0]["status"] == "failed"


def test_rows_written_before_the_policy_still_list_with_null_and_a_warning(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """A row holding NaN (as bosun wrote them before it refused them) must not break the
    tenant's listings: the value is shown as null and the server logs a warning."""
    store = served.app.store
    served.call(store.ensure_session("acme", "old", '{"score":NaN,"name":"NaN"}'))
    old_run = NewRun(
        id=new_id(), workflow="echo", queue="parked", input='{"value":-Infinity}', tenant="acme"
    )
    served.call(store.create_run(old_run))
    with (
        caplog.at_level(logging.WARNING, logger="bosun.serde"),
        served.client(served.key("acme", "read")) as client,
    ):
        sessions = client.get("/v1/sessions")
        runs = client.get("/v1/runs")
        one = client.get(f"/v1/runs/{old_run.id}")
    assert sessions.status_code == 200, sessions.text
    assert _strict(sessions.text)["sessions"][0]["metadata"] == {"score": None, "name": "NaN"}
    assert runs.status_code == 200, runs.text
    assert _strict(runs.text)["runs"][0]["input"] == {"value": None}
    assert one.status_code == 200 and _strict(one.text)["input"] == {"value": None}
    assert "session 'old' of tenant 'acme': metadata holds NaN" in caplog.text
    assert f"run {old_run.id} input holds -Infinity" in caplog.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("session", "../../../tmp/pwn"),
        ("session", "a b"),
        ("queue", "<b>x</b>"),
        ("queue", "x" * 201),
    ],
)
def test_session_ids_and_queue_names_follow_one_rule_at_submit(
    served: Served, field: str, value: str
) -> None:
    with served.client(served.key("acme", "submit", "read")) as client:
        refused = client.post("/v1/runs", json={"workflow": "echo", field: value})
        _problem(refused, 422, f"body.{field}: String should match pattern")
        # The sessions API applies the very same rule to the ids it creates.
        if field == "session":
            _problem(client.post("/v1/sessions", json={"id": value}), 422, "body.id")
        assert client.get("/v1/runs").json()["runs"] == []
        assert client.get("/v1/sessions").json()["sessions"] == []
        ok = client.post("/v1/runs", json={"workflow": "echo", field: "chat-1@team.a:b_c"})
        assert ok.status_code == 201, ok.text
        assert ok.json()[field] == "chat-1@team.a:b_c"


def test_api_ui_and_static_responses_say_nosniff(served: Served) -> None:
    with served.client(served.key("acme", "read")) as client:
        responses = [
            client.get("/v1/runs"),
            client.get("/v1/runs/nope"),  # a problem document
            client.get("/ui/static/ui.js"),
            client.get("/ui/login"),
            client.get("/healthz"),
        ]
    for response in responses:
        assert response.headers.get_list("x-content-type-options") == ["nosniff"], response.url


def test_bosun_worker_refuses_a_queue_outside_the_rule(env: Env) -> None:
    done = env.bosun("worker", str(APP), "--queue", "<b>x</b>", "--database", env.url)
    assert done.returncode == 2, done
    assert "--queue: queue '<b>x</b>' is not a valid name" in done.stderr, done.stderr
    assert not env.db_path.exists()
