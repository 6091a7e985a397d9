"""The HTTP API over real HTTP to a real uvicorn: tenants, scopes, streams, limits, webhooks."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.helpers.processes import APPS, BOSUN
from tests.helpers.serving import Served, serve
from tests.helpers.sse import listen, sse, sse_iter, submit, until_seen
from tests.helpers.wait import wait_for

import bosun
from bosun.loader import load_app
from bosun.records import RunFilter
from bosun.server import ServerConfig
from bosun.store.postgres import PostgresStore
from bosun.webhooks import SIGNATURE_HEADER, verify

PROBLEM = "application/problem+json"


@pytest.fixture
def app_file(tmp_path: Path) -> Path:
    return APPS / "server_app.py"


def _served(tmp_path: Path, **config: Any) -> Any:
    app = load_app(str(APPS / "server_app.py"))
    app.use_database(f"sqlite:///{tmp_path / 'api.db'}")
    app.webhook_secret = "test-secret"
    app.webhook_allow = ("127.0.0.1",)  # the tests' receivers listen on loopback
    options: dict[str, Any] = {"worker_concurrency": 8, "key_cache_seconds": 0.0}
    options.update(config)
    return serve(app, ServerConfig(**options))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with _served(tmp_path) as server:
        yield server


def _wait(client: httpx.Client, run_id: str) -> dict[str, Any]:
    for _ in range(20):
        response = client.get(f"/v1/runs/{run_id}/result", params={"wait": 5})
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            return body
        assert response.status_code == 202, response.text
    raise AssertionError(f"run {run_id} did not finish")


# -- runs -------------------------------------------------------------------------------------


def test_submit_wait_and_stream_a_run(served: Served) -> None:
    with served.client(served.key("acme", "submit")) as client:
        run = submit(client, "steps", {"n": 3})
        assert run["status"] in ("queued", "running") and run["workflow"] == "steps"
        done = _wait(client, run["id"])
        assert done["status"] == "completed" and done["result"] == 6
        with client.stream("GET", f"/v1/runs/{run['id']}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse(response)
    types = [e["type"] for e in events]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert types.count("step.completed") == 3 and types.count("progress") == 3
    assert types[-1] == "run.completed" and events[-1]["data"]["result"] == 6
    assert [e["data"]["done"] for e in events if e["type"] == "progress"] == [1, 2, 3]


def test_sse_resumes_after_a_dropped_connection_without_gap_or_duplicate(served: Served) -> None:
    with served.client(served.key("acme", "submit")) as client:
        run = submit(client, "steps", {"n": 5})
        _wait(client, run["id"])
        with client.stream("GET", f"/v1/runs/{run['id']}/events") as response:
            whole = sse(response)
        with client.stream("GET", f"/v1/runs/{run['id']}/events") as response:
            first = sse(response, stop_after=4)  # then the connection is dropped
        last = first[-1]["id"]
        headers = {"Last-Event-ID": str(last)}
        with client.stream("GET", f"/v1/runs/{run['id']}/events", headers=headers) as response:
            rest = sse(response)
        with client.stream("GET", f"/v1/runs/{run['id']}/events?after=2") as response:
            by_query = sse(response)
    assert first + rest == whole
    assert by_query == whole[2:]


def test_a_live_stream_follows_a_waiting_run_to_its_end(served: Served) -> None:
    with served.client(served.key("acme", "submit")) as client:
        run = submit(client, "waits")
        listener, got = listen(client, run["id"])
        until_seen(got, "run.suspended")  # the stream is live, and the run waits
        signal = client.post(f"/v1/runs/{run['id']}/signals", json={"name": "go", "payload": 7})
        assert signal.status_code == 202, signal.text
        listener.join(20)
        assert not listener.is_alive()
    types = [e["type"] for e in got]
    assert "run.suspended" in types and "signal.received" in types
    assert types[-1] == "run.completed" and got[-1]["data"]["result"] == 7


def test_idempotent_submission_creates_one_run(served: Served) -> None:
    with served.client(served.key("acme", "submit")) as client:
        first = client.post("/v1/runs", json={"workflow": "steps", "idempotency_key": "order-1"})
        again = client.post("/v1/runs", json={"workflow": "steps", "idempotency_key": "order-1"})
        by_header = client.post(
            "/v1/runs", json={"workflow": "steps"}, headers={"Idempotency-Key": "order-1"}
        )
        assert (first.status_code, again.status_code, by_header.status_code) == (201, 200, 200)
        assert first.json()["id"] == again.json()["id"] == by_header.json()["id"]
        assert first.json()["idempotency_key"] == "order-1"
        assert len(client.get("/v1/runs").json()["runs"]) == 1


def test_list_filters_and_cursor_paging(served: Served) -> None:
    with served.client(served.key("acme", "submit")) as client:
        ids = [submit(client, "steps", {"n": 1})["id"] for _ in range(5)]
        chat = submit(client, "chat", {"message": "hi"}, session="s-1")
        submit(client, "chat", {"message": "again"}, session="s-1")
        pages, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 2, "workflow": "steps"}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/runs", params=params).json()
            pages.append([r["id"] for r in page["runs"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [len(p) for p in pages] == [2, 2, 1]
        assert sorted(i for page in pages for i in page) == sorted(ids)
        session = client.get("/v1/runs", params={"session": "s-1"}).json()["runs"]
        assert len(session) == 2 and chat["id"] in {r["id"] for r in session}
        future = client.get("/v1/runs", params={"created_after": "2999-01-01T00:00:00Z"})
        assert future.json()["runs"] == []
        bad = client.get("/v1/runs", params={"status": "exploded"})
        assert bad.status_code == 400 and bad.headers["content-type"] == PROBLEM
        bad_cursor = client.get("/v1/runs", params={"cursor": "!!"})
        assert bad_cursor.status_code == 400


def test_one_active_run_per_session(served: Served) -> None:
    with served.client(served.key("acme", "submit")) as client:
        first = submit(client, "chat", {"message": "one"}, session="s")
        second = submit(client, "chat", {"message": "two"}, session="s")
        # Claims take the oldest ready run first: once a run submitted after `second` has
        # completed, the workers have passed `second` over, not merely not reached it yet.
        later = submit(client, "steps", {"n": 1})
        assert _wait(client, later["id"])["status"] == "completed"
        assert client.get(f"/v1/runs/{second['id']}").json()["status"] == "queued"
        client.post(f"/v1/runs/{first['id']}/signals", json={"name": "reply"})
        assert _wait(client, first["id"])["result"] == "one"
        wait_for(
            lambda: client.get(f"/v1/runs/{second['id']}").json()["status"] != "queued",
            30,
            "the session's next run to start",
        )


def test_cancel_resume_and_result_long_poll(served: Served) -> None:
    with served.client(served.key("acme", "admin")) as client:
        run = submit(client, "waits")
        pending = client.get(f"/v1/runs/{run['id']}/result", params={"wait": 0.3})
        assert pending.status_code == 202 and pending.json()["status"] != "completed"
        cancel = client.post(f"/v1/runs/{run['id']}/cancel")
        assert cancel.status_code == 200 and cancel.json()["cancelled"] == [run["id"]]
        assert _wait(client, run["id"])["status"] == "cancelled"
        again = client.post(f"/v1/runs/{run['id']}/cancel")
        assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
        resume = client.post(f"/v1/runs/{run['id']}/resume")
        assert resume.status_code == 409
        late = client.post(f"/v1/runs/{run['id']}/signals", json={"name": "go"})
        assert late.status_code == 409


# -- tenants and scopes --------------------------------------------------------------------


def test_tenants_never_see_each_others_runs(served: Served) -> None:
    a = served.client(served.key("tenant-a", "admin"))
    b = served.client(served.key("tenant-b", "admin"))
    with a, b:
        run = submit(a, "waits", idempotency_key="shared-key")
        rid = run["id"]
        attempts = {
            "get": b.get(f"/v1/runs/{rid}"),
            "result": b.get(f"/v1/runs/{rid}/result", params={"wait": 0}),
            "events": b.get(f"/v1/runs/{rid}/events"),
            "signal": b.post(f"/v1/runs/{rid}/signals", json={"name": "go"}),
            "cancel": b.post(f"/v1/runs/{rid}/cancel"),
            "resume": b.post(f"/v1/runs/{rid}/resume"),
        }
        missing = b.get("/v1/runs/no-such-run")
        for name, response in attempts.items():
            assert response.status_code == 404, (name, response.text)
            assert response.headers["content-type"] == PROBLEM
            # Indistinguishable from a run that does not exist, apart from the id.
            assert response.json()["type"] == missing.json()["type"], name
        assert b.get("/v1/runs").json()["runs"] == []
        # The same idempotency key in another tenant is another run.
        other = submit(b, "waits", idempotency_key="shared-key")
        assert other["id"] != rid
        assert a.get(f"/v1/runs/{rid}").json()["status"] in ("queued", "running", "suspended")
        assert [r["id"] for r in a.get("/v1/runs").json()["runs"]] == [rid]


def test_scopes_and_bad_credentials(served: Served) -> None:
    reader = served.client(served.key("acme", "read"))
    submitter = served.client(served.key("acme", "submit"))
    with reader, submitter:
        denied = reader.post("/v1/runs", json={"workflow": "steps"})
        assert denied.status_code == 403 and denied.headers["content-type"] == PROBLEM
        run = submit(submitter, "waits")
        assert reader.get(f"/v1/runs/{run['id']}").status_code == 200
        assert submitter.post(f"/v1/runs/{run['id']}/resume").status_code == 403
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        with httpx.Client(base_url=served.url, headers=headers) as client:
            response = client.get("/v1/runs")
            assert response.status_code == 401, headers
            assert response.headers["content-type"] == PROBLEM
    forged = served.key("acme", "admin")[:-4] + "AAAA"
    with served.client(forged) as client:
        assert client.get("/v1/runs").status_code == 401


def test_a_revoked_key_stops_working(served: Served) -> None:
    key = served.key("acme", "read")
    key_id = key.split("_")[1]
    with served.client(key) as client:
        assert client.get("/v1/runs").status_code == 200
        assert served.call(served.app.store.revoke_api_key(key_id))
        assert client.get("/v1/runs").status_code == 401


def test_probes_and_openapi(served: Served) -> None:
    with httpx.Client(base_url=served.url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["schema_version"] >= 8
        spec = client.get("/openapi.json").json()
        assert "/v1/runs" in spec["paths"] and "/v1/runs/{run_id}/events" in spec["paths"]
        home = client.get("/", follow_redirects=True)  # the UI, which asks for a key first
        assert home.url.path == "/ui/login" and "bosun" in home.text
        unknown = client.get("/v1/nothing-here")
        assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM


# -- workflows, events, webhooks -----------------------------------------------------------


def test_workflows_list_hides_internal_ones(served: Served) -> None:
    with served.client(served.key("acme", "read")) as client:
        names = [w["name"] for w in client.get("/v1/workflows").json()["workflows"]]
        assert names == ["audit", "chat", "chatty", "on_email", "steps", "waits"]
        steps = next(
            w for w in client.get("/v1/workflows").json()["workflows"] if w["name"] == "steps"
        )
        assert steps["inputs"]["n"] == {"schema": {"type": "integer"}, "required": False}
    with served.client(served.key("acme", "submit")) as client:
        internal = client.post("/v1/runs", json={"workflow": "bosun.webhook"})
        assert internal.status_code == 404


def test_event_triggers_start_each_subscriber_once_per_event_id(served: Served) -> None:
    with served.client(served.key("acme", "submit")) as client:
        body = {"subject": "refund", "from": "x@example.com"}
        headers = {"Idempotency-Key": "evt-1"}
        first = client.post("/v1/events/email.received", json=body, headers=headers)
        again = client.post("/v1/events/email.received", json=body, headers=headers)
        assert first.status_code == again.status_code == 202
        runs = {r["workflow"]: r for r in first.json()["runs"]}
        assert set(runs) == {"on_email", "audit"} and all(r["created"] for r in runs.values())
        assert {r["run_id"] for r in again.json()["runs"]} == {r["run_id"] for r in runs.values()}
        assert not any(r["created"] for r in again.json()["runs"])
        assert _wait(client, runs["on_email"]["run_id"])["result"] == "refund"
        assert _wait(client, runs["audit"]["run_id"])["result"] == 2
        assert client.post("/v1/events/nobody.listens", json={}).status_code == 404
        not_json = client.post(
            "/v1/events/email.received",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert not_json.status_code == 400
        assert len(client.get("/v1/runs").json()["runs"]) == 2


class _Receiver(BaseHTTPRequestHandler):
    calls: list[tuple[dict[str, str], bytes]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append((dict(self.headers), body))
        failing = len(type(self).calls) <= type(self).fail_first
        self.send_response(500 if failing else 204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhooks_are_signed_and_retried_until_delivered(served: Served) -> None:
    _Receiver.calls, _Receiver.fail_first = [], 1
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook?token=abc"
    try:
        with served.client(served.key("acme", "submit")) as client:
            run = submit(client, "steps", {"n": 2}, webhook=url)
            wait_for(lambda: len(_Receiver.calls) >= 2, 30, "two webhook calls")
            bad = client.post("/v1/runs", json={"workflow": "steps", "webhook": "ftp://x/y"})
            assert bad.status_code == 400
    finally:
        receiver.shutdown()
        receiver.server_close()
    headers, body = _Receiver.calls[-1]
    verify("test-secret", headers[SIGNATURE_HEADER], body)
    delivered = json.loads(body)
    assert delivered["type"] == "run.completed"
    assert delivered["run"]["id"] == run["id"] and delivered["run"]["result"] == 2
    assert _Receiver.calls[0][1] == body  # the retry sent the same document


def test_a_webhook_to_the_internal_network_fails_without_a_call(tmp_path: Path) -> None:
    _Receiver.calls, _Receiver.fail_first = [], 0
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://localhost:{receiver.server_address[1]}/hook"
    try:
        with _served(tmp_path) as server:
            server.app.webhook_allow = ()  # the default: no private receivers
            with server.client(server.key("acme", "submit")) as client:
                run = submit(client, "steps", {"n": 1}, webhook=url)
                _wait(client, run["id"])
            internal = server.call(server.app.store.list_runs(RunFilter(workflow="bosun.webhook")))
            assert len(internal) == 1
            delivery = server.app.get_handle(internal[0].id)
            with pytest.raises(bosun.RunFailed, match=r"not allowed.*loopback"):
                server.call(delivery.result(timeout=20))
            status = server.call(delivery.status())
            assert status.status == "failed" and status.attempts == 1  # not retried
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert _Receiver.calls == []


# -- limits --------------------------------------------------------------------------------


def test_request_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    with _served(tmp_path, rate_limit=2.0) as server, server.client(server.key("a", "read")) as c:
        codes = [c.get("/v1/runs") for _ in range(12)]
        limited = [r for r in codes if r.status_code == 429]
        assert limited, [r.status_code for r in codes]
        assert int(limited[0].headers["Retry-After"]) >= 1
        assert limited[0].headers["content-type"] == PROBLEM
        # The bucket refills: a client that honours Retry-After gets through.
        wait_for(lambda: c.get("/v1/runs").status_code == 200, 30, "the rate limit to refill")


def test_concurrent_streams_per_key_are_capped(tmp_path: Path) -> None:
    with _served(tmp_path, max_streams=1) as server:
        key = server.key("a", "submit")
        with server.client(key) as client:
            run = submit(client, "waits")
            with client.stream("GET", f"/v1/runs/{run['id']}/events") as first:
                assert first.status_code == 200
                second = client.get(f"/v1/runs/{run['id']}/events")
                assert second.status_code == 429 and "Retry-After" in second.headers
            client.post(f"/v1/runs/{run['id']}/signals", json={"name": "go"})
            _wait(client, run["id"])
            with client.stream("GET", f"/v1/runs/{run['id']}/events") as again:
                assert again.status_code == 200  # the slot came back
                assert sse(again)[-1]["type"] == "run.completed"


def test_payload_over_the_app_limit_is_413_and_writes_nothing(tmp_path: Path) -> None:
    with _served(tmp_path) as server:
        server.app.max_payload_bytes = 1000
        with server.client(server.key("a", "submit")) as client:
            big = client.post(
                "/v1/runs", json={"workflow": "chat", "input": {"message": "x" * 5000}}
            )
            assert big.status_code == 413 and big.headers["content-type"] == PROBLEM
            assert client.get("/v1/runs").json()["runs"] == []


def test_server_refuses_to_serve_without_keys_beyond_loopback(tmp_path: Path) -> None:
    app_ref = str(APPS / "server_app.py")
    cmd = [BOSUN, "server", app_ref, "--no-auth", "--host", "0.0.0.0", "--port", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert "loopback" in done.stderr


def test_keys_cli_creates_lists_and_revokes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'keys.db'}"

    def bosun(*args: str) -> Any:
        done = subprocess.run(
            [BOSUN, "keys", *args, "--database", db, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    created = bosun("create", "--tenant", "acme", "--scope", "read", "--name", "ci")
    assert created["key"].startswith(f"bsn_{created['id']}_") and created["scopes"] == ["read"]
    listed = bosun("list", "--tenant", "acme")
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    assert bosun("revoke", created["id"]) == {"revoked": created["id"]}
    assert bosun("list")[0]["revoked_at"] is not None
    bad = subprocess.run(
        [BOSUN, "keys", "create", "--tenant", "acme", "--scope", "root", "--database", db],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "scopes must be" in bad.stderr


# -- PostgreSQL: streams across API replicas -------------------------------------------------


@pytest.mark.postgres
def test_streams_follow_runs_across_api_replicas_on_postgresql(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Submit through one API process, stream through another, run on a third (a worker):
    NOTIFY carries every event to the streaming replica as it happens."""
    # No fallback poll within the test: a stream can only hear of new events through NOTIFY.
    monkeypatch.setattr(PostgresStore, "events_poll_interval", 3600.0)
    apps = [load_app(str(APPS / "server_app.py")) for _ in range(3)]
    for app in apps:
        app.use_database(pg_url)
    api_only = ServerConfig(worker_concurrency=0, key_cache_seconds=0.0)
    with (
        serve(apps[0], api_only) as front,
        serve(apps[1], api_only) as back,
        serve(apps[2], ServerConfig(worker_concurrency=4)),
    ):
        key = front.key("acme", "submit")
        with front.client(key) as submitter, back.client(key) as streamer:
            run = submit(submitter, "waits")
            listener, got = listen(streamer, run["id"])
            until_seen(got, "run.suspended")
            signal = submitter.post(f"/v1/runs/{run['id']}/signals", json={"name": "go"})
            assert signal.status_code == 202
            listener.join(30)
            assert not listener.is_alive(), got
    types = [e["type"] for e in got]
    assert types[-1] == "run.completed"
    assert [e["id"] for e in got] == list(range(1, len(got) + 1))


def test_token_deltas_stream_live_and_a_replay_streams_nothing(served: Served) -> None:
    with served.client(served.key("acme", "submit")) as client:
        run = submit(client, "chatty")
        listener, got = listen(client, run["id"])
        until_seen(got, "run.suspended")  # the stream is live before the model writes
        client.post(f"/v1/runs/{run['id']}/signals", json={"name": "start"})
        until_seen(got, "step.completed")
        deltas_before_finish = [e for e in got if e["type"] == "llm.delta"]
        client.post(f"/v1/runs/{run['id']}/signals", json={"name": "finish"})
        listener.join(15)
        assert not listener.is_alive()
    deltas = [e for e in got if e["type"] == "llm.delta"]
    assert len(deltas) >= 2  # streamed in several batches, not at the end
    assert all(e["id"] is None for e in deltas)
    assert "".join(e["data"]["text"] for e in deltas) == "one two three four five six"
    assert deltas == deltas_before_finish  # the replay after "finish" streamed nothing
    types = [e["type"] for e in got]
    assert types.index("llm.delta") < types.index("step.completed")
    assert got[-1]["type"] == "run.completed"
    assert got[-1]["data"]["result"] == "one two three four five six"
    durable = [e["id"] for e in got if e["id"] is not None]
    assert durable == list(range(1, len(durable) + 1))


def test_the_python_client_passes_ephemeral_events_through(served: Served) -> None:
    import bosun

    key = served.key("acme", "submit")
    with bosun.Client(served.url, key) as client:
        run = client.submit("chatty")
        seen: list[Any] = []

        def listen() -> None:
            seen.extend(client.events(run.id))

        listener = threading.Thread(target=listen)
        listener.start()
        wait_for(lambda: any(e.type == "run.suspended" for e in seen), 20, "the stream to start")
        client.signal(run.id, "start")
        wait_for(lambda: any(e.type == "step.completed" for e in seen), 20, "the model's answer")
        client.signal(run.id, "finish")
        listener.join(15)
    deltas = [e for e in seen if e.type == "llm.delta"]
    assert deltas and all(e.id is None for e in deltas)
    assert "".join(e.data["text"] for e in deltas) == "one two three four five six"
    assert seen[-1].type == "run.completed"


@pytest.mark.postgres
def test_token_deltas_reach_another_api_replica_on_postgresql(pg_url: str) -> None:
    apps = [load_app(str(APPS / "server_app.py")) for _ in range(2)]
    for app in apps:
        app.use_database(pg_url)
    with (
        serve(apps[0], ServerConfig(worker_concurrency=0, key_cache_seconds=0.0)) as api,
        serve(apps[1], ServerConfig(worker_concurrency=4)),
    ):
        client = api.client(api.key("acme", "submit"))
        run = submit(client, "chatty")
        listener, got = listen(client, run["id"])
        until_seen(got, "run.suspended")  # the stream is live before the model writes
        client.post(f"/v1/runs/{run['id']}/signals", json={"name": "start"})
        until_seen(got, "step.completed")
        client.post(f"/v1/runs/{run['id']}/signals", json={"name": "finish"})
        listener.join(15)
        client.close()
    deltas = [e for e in got if e["type"] == "llm.delta"]
    assert "".join(e["data"]["text"] for e in deltas) == "one two three four five six"
    assert got[-1]["type"] == "run.completed"


def test_usage_endpoints_are_tenant_scoped(served: Served) -> None:
    a = served.client(served.key("tenant-a", "submit"))
    b = served.client(served.key("tenant-b", "submit"))
    with a, b:
        run = submit(a, "chatty", session="conv-1")
        a.post(f"/v1/runs/{run['id']}/signals", json={"name": "start"})
        a.post(f"/v1/runs/{run['id']}/signals", json={"name": "finish"})
        _wait(a, run["id"])
        per_run = a.get(f"/v1/runs/{run['id']}/usage").json()
        assert per_run["calls"] == 1 and per_run["completion_tokens"] > 0
        mine = a.get("/v1/usage").json()
        assert mine["tenant"] == "tenant-a" and mine["calls"] == 1
        assert a.get("/v1/usage", params={"session": "conv-1"}).json()["calls"] == 1
        assert a.get("/v1/usage", params={"session": "other"}).json()["calls"] == 0
        assert b.get("/v1/usage").json()["calls"] == 0
        assert b.get(f"/v1/runs/{run['id']}/usage").status_code == 404


# -- sessions ------------------------------------------------------------------------------


def test_sessions_crud_and_tenant_isolation(served: Served) -> None:
    a = served.client(served.key("tenant-a", "submit"))
    b = served.client(served.key("tenant-b", "submit"))
    with a, b:
        created = a.post("/v1/sessions", json={"id": "chat-1", "metadata": {"user": "ann"}})
        assert created.status_code == 201 and created.json()["metadata"] == {"user": "ann"}
        assert a.post("/v1/sessions", json={"id": "chat-1"}).status_code == 200
        generated = a.post("/v1/sessions", json={}).json()["id"]
        patched = a.patch("/v1/sessions/chat-1", json={"state": {"step": 2}})
        assert patched.json()["state"] == {"step": 2}
        assert patched.json()["metadata"] == {"user": "ann"}
        listed = [s["id"] for s in a.get("/v1/sessions").json()["sessions"]]
        assert set(listed) == {"chat-1", generated}
        assert a.get("/v1/sessions/chat-1/messages").json()["messages"] == []
        for response in (
            b.get("/v1/sessions/chat-1"),
            b.get("/v1/sessions/chat-1/messages"),
            b.get("/v1/sessions/chat-1/events"),
            b.patch("/v1/sessions/chat-1", json={"state": {}}),
            b.delete("/v1/sessions/chat-1"),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["type"] == "urn:bosun:problem:session-not-found"
        assert b.get("/v1/sessions").json()["sessions"] == []
        bad = a.post("/v1/sessions", json={"id": "no spaces allowed"})
        assert bad.status_code == 422
        assert a.delete("/v1/sessions/chat-1").status_code == 204
        assert a.get("/v1/sessions/chat-1").status_code == 404


def test_a_session_stream_follows_its_runs_in_order_and_resumes(served: Served) -> None:
    with served.client(served.key("acme", "submit")) as client:
        first = submit(client, "steps", {"n": 2}, session="conv")
        second = submit(client, "steps", {"n": 1}, session="conv")
        busy = client.post(
            "/v1/runs",
            json={"workflow": "steps", "session": "conv", "double_texting": "reject"},
        )
        assert busy.status_code in (201, 409)  # 409 while a run of it is unfinished
        _wait(client, first["id"])
        _wait(client, second["id"])
        if busy.status_code == 201:
            _wait(client, busy.json()["id"])
        finals = 3 if busy.status_code == 201 else 2
        with client.stream("GET", "/v1/sessions/conv/events") as response:
            whole: list[dict[str, Any]] = []
            for event in sse_iter(response):
                whole.append(event)
                if sum(e["type"] == "run.completed" for e in whole) == finals:
                    break
        with client.stream(
            "GET", "/v1/sessions/conv/events", headers={"Last-Event-ID": whole[3]["id"]}
        ) as response:
            rest: list[dict[str, Any]] = []
            for event in sse_iter(response):
                rest.append(event)
                if len(rest) == len(whole) - 4:
                    break
        bad = client.get("/v1/sessions/conv/events", headers={"Last-Event-ID": "nope:1"})
        assert bad.status_code == 400
    runs = [e["run_id"] for e in whole]
    assert runs.index(second["id"]) > max(i for i, r in enumerate(runs) if r == first["id"])
    for run_id in dict.fromkeys(runs):
        positions = [int(e["id"].split(":")[1]) for e in whole if e["run_id"] == run_id]
        assert all(e["id"].startswith(f"{run_id}:") for e in whole if e["run_id"] == run_id)
        assert positions == list(range(1, len(positions) + 1))
    assert [e["id"] for e in rest] == [e["id"] for e in whole[4:]]
    assert [e["type"] for e in whole].count("run.completed") == finals


def test_runs_show_and_filter_by_the_version_they_ran_on(served: Served) -> None:
    from bosun.worker.versioning import code_version

    version = code_version(served.app.registry.workflows, served.app.registry.steps)
    key = served.key("acme", "submit")
    with served.client(key) as client:
        run = submit(client, "steps", {"n": 1})
        done = _wait(client, run["id"])
        assert done["version"] == version
        pinned = client.get("/v1/runs", params={"version": version}).json()["runs"]
        assert [r["id"] for r in pinned] == [run["id"]]
        assert client.get("/v1/runs", params={"version": "v0"}).json()["runs"] == []
        by_queue = client.get("/v1/runs", params={"queue": run["queue"]}).json()["runs"]
        assert [r["id"] for r in by_queue] == [run["id"]]
        assert client.get("/v1/runs", params={"queue": "elsewhere"}).json()["runs"] == []
    with bosun.Client(served.url, api_key=key) as typed:
        assert [r.version for r in typed.iter_runs(version=version)] == [version]
