"""Idempotency keys over real HTTP: a submitted key cannot take an event's runs, a key used for
another workflow or with other input is a 409, and tenants never meet through a key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers.processes import APPS
from tests.helpers.serving import Served, serve

import bosun
from bosun.loader import load_app
from bosun.server import ServerConfig

pytestmark = pytest.mark.timeout(60)

PROBLEM = "application/problem+json"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    app = load_app(str(APPS / "server_app.py"))
    app.use_database(f"sqlite:///{tmp_path / 'api.db'}")
    with serve(app, ServerConfig(worker_concurrency=2, key_cache_seconds=0.0)) as server:
        yield server


def test_a_submitted_key_cannot_take_over_an_event(served: Served) -> None:
    with served.client(served.key("acme", "submit")) as client:
        squatter = client.post(
            "/v1/runs",
            json={"workflow": "steps", "idempotency_key": "event:email.received:E-2:on_email"},
        )
        assert squatter.status_code == 201
        posted = client.post(
            "/v1/events/email.received", json={"subject": "hi"}, headers={"Idempotency-Key": "E-2"}
        )
        assert posted.status_code == 202
        runs = {r["workflow"]: r for r in posted.json()["runs"]}
        assert set(runs) == {"on_email", "audit"}
        assert all(r["created"] for r in runs.values())
        assert squatter.json()["id"] not in {r["run_id"] for r in runs.values()}
        started = client.get(f"/v1/runs/{runs['on_email']['run_id']}").json()
        assert started["workflow"] == "on_email"


def test_a_key_reused_for_another_workflow_is_a_409(served: Served) -> None:
    with served.client(served.key("acme", "submit")) as client:
        first = client.post("/v1/runs", json={"workflow": "steps", "idempotency_key": "job-7"})
        assert first.status_code == 201
        other = client.post(
            "/v1/runs", json={"workflow": "waits"}, headers={"Idempotency-Key": "job-7"}
        )
        assert other.status_code == 409
        assert other.headers["content-type"].startswith(PROBLEM)
        problem = other.json()
        assert problem["type"] == "urn:bosun:problem:idempotency-conflict"
        assert "'job-7'" in problem["detail"] and "'steps'" in problem["detail"]
        assert first.json()["id"] in problem["detail"]
        same = client.post("/v1/runs", json={"workflow": "steps", "idempotency_key": "job-7"})
        assert (same.status_code, same.json()["id"]) == (200, first.json()["id"])
        assert len(client.get("/v1/runs").json()["runs"]) == 1


def test_other_input_under_a_used_key_is_a_409(served: Served) -> None:
    with served.client(served.key("acme", "submit", "read")) as client:
        body = {"workflow": "steps", "input": {"n": 1}, "idempotency_key": "job-9"}
        first = client.post("/v1/runs", json=body)
        assert first.status_code == 201
        other = client.post("/v1/runs", json={**body, "input": {"n": 2}})
        assert other.status_code == 409
        assert other.json()["type"] == "urn:bosun:problem:idempotency-conflict"
        assert "other input" in other.json()["detail"]
        retried = client.post("/v1/runs", json=body)
        assert (retried.status_code, retried.json()["id"]) == (200, first.json()["id"])
        assert len(client.get("/v1/runs").json()["runs"]) == 1


def test_the_python_client_raises_the_conflict(served: Served) -> None:
    with bosun.Client(served.url, served.key("acme", "submit")) as client:
        client.submit("steps", {}, idempotency_key="job-8")
        with pytest.raises(bosun.IdempotencyConflict, match=r"'job-8'.*'steps'"):
            client.submit("waits", {}, idempotency_key="job-8")


def test_tenants_never_share_a_key_or_an_event(served: Served) -> None:
    a, b = served.key("tenant-a", "submit", "read"), served.key("tenant-b", "submit", "read")
    with served.client(a) as client_a, served.client(b) as client_b:
        mine = client_a.post("/v1/runs", json={"workflow": "steps", "idempotency_key": "k"})
        theirs = client_b.post("/v1/runs", json={"workflow": "waits", "idempotency_key": "k"})
        assert (mine.status_code, theirs.status_code) == (201, 201)  # no 409 across tenants
        assert mine.json()["id"] != theirs.json()["id"]
        headers = {"Idempotency-Key": "E-1"}
        event_a = client_a.post("/v1/events/email.received", json={}, headers=headers).json()
        event_b = client_b.post("/v1/events/email.received", json={}, headers=headers).json()
        assert all(r["created"] for r in event_a["runs"] + event_b["runs"])
        assert client_b.get(f"/v1/runs/{mine.json()['id']}").status_code == 404
