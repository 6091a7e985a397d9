"""`bosun.client` against a real uvicorn server over real HTTP: runs, pages, long polls, the
event stream (including a connection cut mid-event), error classes, and `bosun run --url`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.helpers.events import assert_stream_in_order
from tests.helpers.processes import APPS, BOSUN
from tests.helpers.serving import serve
from tests.helpers.wait import wait_for

from bosun.client import AsyncClient, Client, RunEvent
from bosun.errors import (
    InvalidArguments,
    InvalidRunState,
    ResultTimeout,
    RunCancelled,
    RunFailed,
    RunNotFound,
    ServiceError,
    WorkflowNotFound,
)

pytestmark = pytest.mark.timeout(60)

FINAL = {"run.completed", "run.failed", "run.cancelled"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A uvicorn server with an in-process worker, on a fresh SQLite file; its base URL."""
    from bosun.loader import load_app
    from bosun.server import ServerConfig

    tmp = tmp_path_factory.mktemp("client")
    app = load_app(str(APPS / "client_app.py"))
    app.use_database(f"sqlite:///{tmp}/bosun.db")
    with serve(app, ServerConfig(auth=False, worker_concurrency=4)) as served:
        yield served.url


@pytest.fixture
def client(server: str) -> Iterator[Client]:
    with Client(server, timeout=10) as c:
        yield c


@pytest.fixture
async def aclient(server: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server, timeout=10) as c:
        yield c


def _unique() -> str:
    return uuid.uuid4().hex


def _assert_consecutive(events: list[RunEvent]) -> None:
    """In order, no gap, no duplicate: a step start that came live has no id (see
    tests/helpers/events.py)."""
    assert_stream_in_order([{"id": e.id, "type": e.type, "data": e.data} for e in events])


# -- runs -----------------------------------------------------------------------------------


def test_submit_wait_and_result(client: Client) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    run = client.submit("report", {"topic": "durable agents"}, deadline=3600)
    assert run.workflow == "report" and run.queue == "default"
    assert run.input == {"topic": "durable agents"}
    assert run.deadline is not None
    assert timedelta(minutes=59) < run.deadline - datetime.now(UTC) < timedelta(minutes=61)
    assert run.created_at >= before and run.created_at.tzinfo is not None

    done = client.wait(run.id, timeout=20)
    assert done.id == run.id and done.status == "completed" and done.finished
    assert done.finished_at is not None and done.finished_at >= done.created_at
    expected = {"topic": "durable agents", "summary": "NOTES ON DURABLE AGENTS"}
    assert done.result == expected
    assert client.result(run.id, timeout=5) == expected
    assert client.get(run.id) == done


def test_submit_with_positional_input(client: Client) -> None:
    run = client.submit("report", ["positional"])
    assert client.result(run.id, timeout=20) == {
        "topic": "positional",
        "summary": "NOTES ON POSITIONAL",
    }


def test_idempotent_submit_returns_the_same_run(client: Client) -> None:
    key = _unique()
    first = client.submit("report", {"topic": "once"}, idempotency_key=key)
    second = client.submit("report", {"topic": "once"}, idempotency_key=key)
    assert second.id == first.id
    assert second.idempotency_key == key
    assert (first.created, second.created) == (True, False)  # the server said 201, then 200
    assert client.submit("report", {"topic": "no key"}).created


async def test_async_submit_says_whether_it_created_the_run(aclient: AsyncClient) -> None:
    key = _unique()
    first = await aclient.submit("report", {"topic": "once"}, idempotency_key=key)
    await aclient.wait(first.id, timeout=20)
    second = await aclient.submit("report", {"topic": "once"}, idempotency_key=key)
    assert second.id == first.id
    assert (first.created, second.created) == (True, False)
    assert second.status == "completed"  # the existing run, as it stands now


def test_list_filters_and_cursor_paging(client: Client) -> None:
    session = _unique()
    ids = [client.submit("report", {"topic": f"t{i}"}, session=session).id for i in range(5)]
    for run_id in ids:
        client.wait(run_id, timeout=20)

    pages = [client.list(session=session, limit=2)]
    while pages[-1].next_cursor is not None:
        pages.append(client.list(session=session, limit=2, cursor=pages[-1].next_cursor))
    assert [len(p.runs) for p in pages] == [2, 2, 1]
    listed = [r.id for p in pages for r in p.runs]
    assert sorted(listed) == sorted(ids) and len(set(listed)) == 5
    created = [r.created_at for p in pages for r in p.runs]
    assert created == sorted(created, reverse=True), "not newest first"
    assert all(r.session == session for p in pages for r in p.runs)

    assert [r.id for r in client.iter_runs(session=session, limit=2)] == listed
    assert [r.id for r in client.iter_runs(session=session, status="completed")] == listed
    assert list(client.iter_runs(session=session, status="failed")) == []
    assert list(client.iter_runs(session=session, workflow="approval")) == []
    after = client.get(ids[2]).created_at
    newer = [r.id for r in client.iter_runs(session=session, created_after=after)]
    assert set(newer) <= set(ids[2:]) and ids[4] in newer and ids[0] not in newer
    older = [r.id for r in client.iter_runs(session=session, created_before=after)]
    assert set(older) <= set(ids[:3]) and ids[0] in older and ids[4] not in older


def test_signal_then_result_and_a_short_wait_times_out(client: Client) -> None:
    run = client.submit("approval", {"item": "invoice"})
    # The run waits for a signal nobody has sent: only the caller's timeout ends these.
    with pytest.raises(ResultTimeout):
        client.wait(run.id, timeout=0.5)
    with pytest.raises(ResultTimeout):
        for _ in client.events(run.id, timeout=0.5):
            pass
    client.signal(run.id, "decision", {"verdict": "approved"})
    assert client.result(run.id, timeout=20) == "invoice: approved"
    with pytest.raises(InvalidRunState):
        client.signal(run.id, "decision", {"verdict": "too late"})


def test_cancel_makes_result_raise_run_cancelled(client: Client) -> None:
    run = client.submit("approval", {"item": "refund"})
    assert run.id in client.cancel(run.id)
    with pytest.raises(RunCancelled):
        client.result(run.id, timeout=20)
    assert client.get(run.id).status == "cancelled"


def test_a_failed_run_raises_run_failed(client: Client) -> None:
    run = client.submit("broken", {"reason": "disk on fire"})
    with pytest.raises(RunFailed) as caught:
        client.result(run.id, timeout=20)
    assert caught.value.run_id == run.id
    assert "disk on fire" in str(caught.value)
    assert client.get(run.id).error is not None


def test_errors_map_to_bosun_exceptions(client: Client) -> None:
    missing = "01J0000000000000000000NONE"
    for call in (
        lambda: client.get(missing),
        lambda: client.wait(missing, timeout=1),
        lambda: client.signal(missing, "decision", {}),
        lambda: client.cancel(missing),
        lambda: client.resume(missing),
        lambda: list(client.events(missing)),
    ):
        with pytest.raises(RunNotFound):
            call()
    with pytest.raises(WorkflowNotFound):
        client.submit("no_such_workflow", {})
    with pytest.raises(InvalidArguments):
        client.submit("report", {"topic": "x", "colour": "red"})
    done = client.submit("report", {"topic": "finished"})
    client.wait(done.id, timeout=20)
    with pytest.raises(InvalidRunState):
        client.resume(done.id)  # only a blocked run can be resumed


def test_an_unreachable_server_is_a_service_error_naming_the_url() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # nothing listens there now
    with Client(url, timeout=2) as client, pytest.raises(ServiceError, match=url):
        client.get("anything")


def test_workflows_and_queues(client: Client) -> None:
    names = {w["name"] for w in client.workflows()}
    assert {"report", "approval", "broken", "chatty", "triage"} <= names
    waiting = client.submit("approval", {"item": "queued"})
    try:
        # The app's queue is listed at once (at zero when empty): wait until it counts the
        # run, ready, running or suspended.
        def counted() -> dict[str, Any] | None:
            row = {q["queue"]: q for q in client.queues()}.get("default")
            busy = row and row["ready"] + row["in_flight"] + row["waiting"]
            return row if busy else None

        row = wait_for(counted, 10, "the run counted in queue default")
        assert set(row) >= {"ready", "in_flight", "waiting", "oldest_ready_age"}
    finally:
        client.cancel(waiting.id)


def test_post_event_starts_subscribed_workflows_once_per_event_id(client: Client) -> None:
    event_id = _unique()
    posted = client.post_event("email.received", {"subject": "hello"}, event_id=event_id)
    assert posted["event"] == "email.received" and posted["event_id"] == event_id
    [started] = posted["runs"]
    assert started["workflow"] == "triage" and started["created"] is True
    assert client.result(started["run_id"], timeout=20) == "triaged hello"
    again = client.post_event("email.received", {"subject": "hello"}, event_id=event_id)
    assert [r["run_id"] for r in again["runs"]] == [started["run_id"]]
    assert again["runs"][0]["created"] is False
    with pytest.raises(WorkflowNotFound):
        client.post_event("nobody.listens", {})


# -- events ---------------------------------------------------------------------------------


def test_events_arrive_in_order_and_end_with_run_completed(client: Client) -> None:
    run = client.submit("report", {"topic": "streams"})
    events = list(client.events(run.id))
    _assert_consecutive(events)
    assert all(e.run_id == run.id for e in events)
    assert events[-1].type == "run.completed"
    assert events[-1].data["result"] == {"topic": "streams", "summary": "NOTES ON STREAMS"}
    progress = [e.data for e in events if e.type == "progress"]
    assert progress == [{"stage": "fetched"}, {"stage": "summarised"}]
    completed = [e.data["name"] for e in events if e.type == "step.completed"]
    assert [n.rsplit(".", 1)[-1] for n in completed] == ["fetch", "summarise"]
    assert [e.type for e in events].count("run.completed") == 1

    cut = [e.id for e in events if e.id is not None][1]
    later = list(client.events(run.id, after=cut))
    replay = list(client.events(run.id))  # the run is over: every event has its stored id
    assert later and later == [e for e in replay if e.id is not None and e.id > cut]
    assert list(client.events(run.id, after=events[-1].id)) == []


def test_the_server_resumes_after_last_event_id(client: Client, server: str) -> None:
    """The server itself (no client-side de-duplication): `Last-Event-ID: 5` gets 6 onwards."""
    run = client.submit("chatty", {"count": 12})
    client.wait(run.id, timeout=20)
    headers = {"Last-Event-ID": "5"}
    with httpx.stream("GET", f"{server}/v1/runs/{run.id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    ids = [int(line[3:]) for line in body.splitlines() if line.startswith("id:")]
    every = [e.id for e in client.events(run.id)]
    assert every == list(range(1, len(every) + 1)) and len(every) > 12
    assert ids == every[5:]


class _Cut(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that breaks after `limit` bytes, as a dropped connection does."""

    def __init__(self, inner: Any, limit: int) -> None:
        self.inner, self.left = inner, limit

    def _take(self, chunk: bytes) -> bytes:
        part, self.left = chunk[: self.left], self.left - len(chunk)
        return part

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            yield self._take(chunk)
            if self.left <= 0:
                self.inner.close()
                raise httpx.ReadError("connection cut by the test")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            yield self._take(chunk)
            if self.left <= 0:
                await self.inner.aclose()
                raise httpx.ReadError("connection cut by the test")


class _CutFirstStream(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A real transport that cuts the first event stream after `limit` bytes and records the
    `Last-Event-ID` of every event-stream request."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.resumed_from: list[str | None] = []
        self.sync, self.async_ = httpx.HTTPTransport(), httpx.AsyncHTTPTransport()

    def _wrap(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if not request.url.path.endswith("/events"):
            return response
        self.resumed_from.append(request.headers.get("Last-Event-ID"))
        if len(self.resumed_from) > 1:
            return response
        stream = _Cut(response.stream, self.limit)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=stream,
            extensions=response.extensions,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._wrap(request, self.sync.handle_request(request))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._wrap(request, await self.async_.handle_async_request(request))

    def close(self) -> None:
        self.sync.close()

    async def aclose(self) -> None:
        await self.async_.aclose()


def test_events_resume_after_a_dropped_connection(client: Client, server: str) -> None:
    run = client.submit("chatty", {"count": 30})
    client.wait(run.id, timeout=20)
    cutter = _CutFirstStream(limit=1000)  # events are ~300 bytes: cut inside the 4th or so
    with Client(server, timeout=10, transport=cutter) as cut_client:
        events = list(cut_client.events(run.id))
    _assert_consecutive(events)
    assert events[-1].type == "run.completed" and events[-1].data["result"] == 30
    ticks = [e.data for e in events if e.type == "tick"]
    assert [t["n"] for t in ticks] == list(range(1, 31))
    assert ticks[0]["text"] == "line one\nline two"
    assert len(cutter.resumed_from) == 2, cutter.resumed_from
    resumed = cutter.resumed_from[1]
    assert resumed is not None and 1 <= int(resumed) < 5, cutter.resumed_from


async def test_async_events_resume_while_the_run_is_live(aclient: AsyncClient, server: str) -> None:
    run = await aclient.submit("approval", {"item": "live"})
    cutter = _CutFirstStream(limit=1)  # cut inside the very first event
    seen: list[RunEvent] = []
    async with AsyncClient(server, timeout=10, transport=cutter) as cut_client:
        async for event in cut_client.events(run.id):
            seen.append(event)
            if event.type == "run.suspended" and not any(e.type == "signal.received" for e in seen):
                await aclient.signal(run.id, "decision", {"verdict": "streamed"})
    _assert_consecutive(seen)
    assert seen[-1].type == "run.completed" and seen[-1].data["result"] == "live: streamed"
    assert "signal.received" in [e.type for e in seen]
    assert cutter.resumed_from[0] is None and len(cutter.resumed_from) >= 2


# -- the async client -----------------------------------------------------------------------


async def test_async_client_round_trip(aclient: AsyncClient) -> None:
    session = _unique()
    run = await aclient.submit("report", {"topic": "async"}, session=session)
    assert await aclient.result(run.id, timeout=20) == {
        "topic": "async",
        "summary": "NOTES ON ASYNC",
    }
    assert (await aclient.get(run.id)).status == "completed"
    page = await aclient.list(session=session)
    assert [r.id for r in page.runs] == [run.id] and page.next_cursor is None
    assert [r.id async for r in aclient.iter_runs(session=session, limit=1)] == [run.id]
    types = [e.type async for e in aclient.events(run.id)]
    assert types[-1] == "run.completed"

    waiting = await aclient.submit("approval", {"item": "a"}, idempotency_key=_unique())
    with pytest.raises(ResultTimeout):
        await aclient.wait(waiting.id, timeout=0.3)
    await aclient.signal(waiting.id, "decision", {"verdict": "ok"})
    assert await aclient.result(waiting.id, timeout=20) == "a: ok"

    cancelled = await aclient.submit("approval", {"item": "b"})
    assert cancelled.id in await aclient.cancel(cancelled.id)
    with pytest.raises(RunCancelled):
        await aclient.result(cancelled.id, timeout=20)
    with pytest.raises(RunNotFound):
        await aclient.get("01J0000000000000000000NONE")
    with pytest.raises(RunFailed):
        await aclient.result((await aclient.submit("broken", {"reason": "x"})).id, timeout=20)
    assert "report" in {w["name"] for w in await aclient.workflows()}


# -- the CLI --------------------------------------------------------------------------------


def _bosun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BOSUN, *args], capture_output=True, text=True, timeout=40, cwd=cwd, env=_clean_env()
    )


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}


def test_cli_run_follow_json_over_http(server: str, tmp_path: Path) -> None:
    done = _bosun(
        "run",
        "--url",
        server,
        "report",
        "--input",
        '{"topic": "cli"}',
        "--follow",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    *events, report = lines
    assert report == {
        "run_id": report["run_id"],
        "status": "completed",
        "result": {"topic": "cli", "summary": "NOTES ON CLI"},
    }
    assert_stream_in_order(events)
    assert events[-1]["type"] == "run.completed"
    assert {e["run_id"] for e in events} == {report["run_id"]}
    assert not (tmp_path / ".bosun").exists(), "the remote path opened a local database"

    shown = json.loads(
        _bosun("runs", "show", report["run_id"], "--url", server, "--json", cwd=tmp_path).stdout
    )
    assert shown["id"] == report["run_id"] and shown["status"] == "completed"
    assert shown["result"] == report["result"] and isinstance(shown["created_at"], float)
    listed = json.loads(
        _bosun(
            "runs", "list", "--url", server, "--workflow", "report", "--json", cwd=tmp_path
        ).stdout
    )
    assert report["run_id"] in [r["id"] for r in listed]


def test_cli_run_with_a_repeated_idempotency_key_over_http_says_it_existed(
    server: str, tmp_path: Path
) -> None:
    args = ("run", "--url", server, "report", "-i", '{"topic": "key"}')
    key = ("--idempotency-key", _unique())
    first = _bosun(*args, *key, "--wait", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.split()[1]
    assert first.stdout.startswith(f"run {run_id} started\n"), first.stdout
    again = _bosun(*args, *key, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == (
        f"run {run_id} already existed for this idempotency key (status completed): "
        "nothing new started\n"
    )
    fresh = _bosun(*args, "--idempotency-key", _unique(), cwd=tmp_path)
    assert fresh.stdout.startswith("run ") and fresh.stdout.endswith(" started\n"), fresh.stdout
    assert fresh.stdout.split()[1] != run_id


def test_cli_signal_cancel_and_errors_over_http(server: str, tmp_path: Path) -> None:
    started = _bosun(
        "run", "--url", server, "approval", "-i", '{"item": "cli"}', "--json", cwd=tmp_path
    )
    assert started.returncode == 0, started.stderr
    run_id = json.loads(started.stdout)["run_id"]
    signalled = _bosun(
        "runs",
        "signal",
        run_id,
        "decision",
        "--payload",
        '{"verdict": "go"}',
        "--url",
        server,
        "--json",
        cwd=tmp_path,
    )
    assert json.loads(signalled.stdout) == {"run_id": run_id, "action": "signalled", "result": None}
    with Client(server) as client:
        assert client.result(run_id, timeout=20) == "cli: go"

    other = json.loads(
        _bosun(
            "run", "--url", server, "approval", "-i", '{"item": "x"}', "--json", cwd=tmp_path
        ).stdout
    )["run_id"]
    cancelled = _bosun("runs", "cancel", other, "--url", server, "--json", cwd=tmp_path)
    assert json.loads(cancelled.stdout)["result"] == [other]

    missing = _bosun("runs", "show", "nope", "--url", server, cwd=tmp_path)
    assert missing.returncode == 1 and "nope" in missing.stderr
    unknown = _bosun("run", "--url", server, "no_such_workflow", cwd=tmp_path)
    assert unknown.returncode == 2 and "no_such_workflow" in unknown.stderr
    failed = _bosun(
        "run", "--url", server, "broken", "-i", '{"reason": "kaput"}', "--wait", cwd=tmp_path
    )
    assert failed.returncode == 1 and "kaput" in failed.stderr
