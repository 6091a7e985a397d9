"""Tool calls awaiting approval over real HTTP to a real uvicorn, through `bosun.Client`, and
through the `bosun runs` CLI as a subprocess (against the server and against the database):
the pending call is listed, decisions are scoped to the caller's tenant and scope, a bad edit
is a 400 that loses nothing, an unknown call a 404, a second decision a 409."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.helpers.processes import APPS, Env
from tests.helpers.serving import Served, serve
from tests.helpers.wait import wait_for

import bosun
from bosun.errors import ApprovalDecided, ApprovalNotFound, InvalidRequest
from bosun.loader import load_app
from bosun.server import ServerConfig

PROBLEM = "application/problem+json"


@pytest.fixture
def served(env: Env) -> Iterator[Served]:
    app = load_app(str(APPS / "approvals_app.py"))
    app.use_database(env.url)
    with serve(app, ServerConfig(worker_concurrency=4, key_cache_seconds=0.0)) as server:
        yield server


def _start(client: httpx.Client) -> str:
    response = client.post(
        "/v1/runs", json={"workflow": "refunds", "input": {"message": "refund order 7"}}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _pending(client: httpx.Client, run_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/v1/runs/{run_id}").json()
        return body if body["status"] == "suspended" and body["pending_approvals"] else None

    return wait_for(found, 30, f"run {run_id} to wait for an approval")


def _result(client: httpx.Client, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        response = client.get(f"/v1/runs/{run_id}/result", params={"wait": 5})
        return response.json() if response.status_code == 200 else None

    return wait_for(done, 60, f"run {run_id} to finish")


def _problem(response: httpx.Response, status: int, slug: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["type"] == f"urn:bosun:problem:{slug}", body
    return str(body["detail"])


def test_decisions_over_http(served: Served) -> None:
    key = served.key("acme", "submit")
    with served.client(key) as client:
        run_id = _start(client)
        run = _pending(client, run_id)
        (pending,) = run["pending_approvals"]
        assert pending["tool"] == "refund"
        assert pending["arguments"] == {"order_id": 7, "amount": 40}
        assert pending["requested_at"] and pending["expires_at"]
        assert pending["on_timeout"] == "reject"
        call = pending["call_id"]
        path = f"/v1/runs/{run_id}/approvals/{call}"

        with served.client(served.key("other", "submit")) as stranger:
            _problem(stranger.post(path, json={"decision": "approve"}), 404, "run-not-found")
        with served.client(served.key("acme", "read")) as reader:
            _problem(reader.post(path, json={"decision": "approve"}), 403, "forbidden")
        missing = client.post(f"/v1/runs/{run_id}/approvals/nope", json={"decision": "approve"})
        assert "no tool call 'nope'" in _problem(missing, 404, "approval-not-found")
        bad = client.post(path, json={"decision": "edit", "arguments": {"amount": "lots"}})
        detail = _problem(bad, 400, "invalid-request")
        assert "'order_id' is a required property" in detail and "amount" in detail
        _problem(client.post(path, json={"decision": "maybe"}), 422, "validation-error")
        assert _pending(client, run_id)["pending_approvals"] == [pending]  # nothing lost

        answer = client.post(path, json={"decision": "reject", "message": "over the limit"})
        assert answer.status_code == 202, answer.text
        assert answer.json() == {
            "run_id": run_id,
            "call_id": call,
            "tool": "refund",
            "decision": "reject",
        }
        again = client.post(path, json={"decision": "approve"})
        assert "already decided" in _problem(again, 409, "approval-decided")
        done = _result(client, run_id)
        assert client.get(f"/v1/runs/{run_id}").json()["pending_approvals"] == []
    assert done["status"] == "completed"
    assert "over the limit" in done["result"] and "rejected" in done["result"]


def test_decisions_through_the_python_client(served: Served) -> None:
    key = served.key("acme", "submit")
    with served.client(key) as http, bosun.Client(served.url, key) as client:
        edited, approved = _start(http), _start(http)
        for run_id in (edited, approved):
            _pending(http, run_id)
        (call,) = client.get(edited).pending_approvals
        assert call.tool == "refund" and call.arguments == {"order_id": 7, "amount": 40}
        with pytest.raises(InvalidRequest, match="order_id"):
            client.edit(edited, call.call_id, {"order_id": "seven", "amount": 20})
        client.edit(edited, call.call_id, {"order_id": 7, "amount": 20})
        with pytest.raises(ApprovalDecided):
            client.approve(edited, call.call_id)
        with pytest.raises(ApprovalNotFound):
            client.approve(approved, "nope")
        approved_call = client.get(approved).pending_approvals[0].call_id
        client.approve(approved, approved_call)
        assert client.result(edited, timeout=60) == "model saw: refunded $20.00 on order 7"
        assert client.result(approved, timeout=60) == "model saw: refunded $40.00 on order 7"
        assert client.get(approved).pending_approvals == ()
        with pytest.raises(ApprovalDecided, match=r"already decided \(approve\)"):
            client.approve(approved, approved_call)


def test_the_cli_lists_and_decides_approvals(served: Served, env: Env) -> None:
    key = served.key("acme", "submit")
    remote = ("--url", served.url, "--api-key", key)
    with served.client(key) as client:
        over_http, on_database = _start(client), _start(client)
        call = _pending(client, over_http)["pending_approvals"][0]["call_id"]
        local_call = _pending(client, on_database)["pending_approvals"][0]["call_id"]

        shown = env.ok("runs", "show", over_http, *remote)
        assert "awaiting approval (1)" in shown and call in shown and "refund" in shown
        data = json.loads(env.ok("runs", "show", on_database, "--database", env.url, "--json"))
        assert [a["call_id"] for a in data["pending_approvals"]] == [local_call]

        bad = env.bosun("runs", "approve", over_http, call, "--edit-json", "[1]", *remote)
        assert bad.returncode == 2 and "JSON object" in bad.stderr
        edit = '{"order_id": 7, "amount": 12.5}'
        out = env.ok("runs", "approve", over_http, call, "--edit-json", edit, *remote)
        assert f"edited tool call {call} of run {over_http}" in out
        twice = env.bosun("runs", "approve", over_http, call, *remote)
        assert twice.returncode == 1 and "already decided" in twice.stderr

        reject = ("--reject", "--message", "ask a manager", "--database", env.url)
        env.ok("runs", "approve", on_database, local_call, *reject)
        unknown = env.bosun("runs", "approve", on_database, "nope", "--database", env.url)
        assert unknown.returncode == 1 and "no tool call 'nope'" in unknown.stderr

        assert _result(client, over_http)["result"] == "model saw: refunded $12.50 on order 7"
        assert "ask a manager" in _result(client, on_database)["result"]
