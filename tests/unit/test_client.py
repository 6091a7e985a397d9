"""`bosun.client` against `httpx.MockTransport`: the SSE parser, stream reconnects, retries,
long polls and error mapping, for both clients, without a server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import bosun
from bosun.client import AsyncClient, Client, RunEvent
from bosun.errors import (
    InvalidRunState,
    RateLimited,
    ResultTimeout,
    RunFailed,
    RunNotFound,
    ServiceError,
)
from bosun.sse import EventStreamDecoder

pytestmark = pytest.mark.timeout(30)
URL = "http://bosun.test"
RUN_ID = "01JRUN"


def run_json(status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "id": RUN_ID,
        "workflow": "wf",
        "queue": "default",
        "status": status,
        "session": None,
        "priority": 0,
        "input": {},
        "result": "done" if status == "completed" else None,
        "error": None,
        "idempotency_key": None,
        "parent_id": None,
        "deadline": None,
        "attempts": 1,
        "created_at": "2026-11-22T10:00:00.000000Z",
        "updated_at": "2026-11-22T10:00:01.000000Z",
        "finished_at": "2026-11-22T10:00:01.000000Z" if status == "completed" else None,
        **extra,
    }


def sse(event_id: int, kind: str = "tick", data: Any = None) -> bytes:
    """An event as the API frames it: its type in the `event:` field and in the JSON."""
    body = {"id": event_id, "run_id": RUN_ID, "type": kind, "time": "2026-11-22T10:00:00Z"}
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps({**body, 'data': data})}\n\n".encode()


def problem(status: int, slug: str, detail: str = "nope") -> httpx.Response:
    body = {"type": f"urn:bosun:problem:{slug}", "title": slug, "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


# -- the SSE parser -------------------------------------------------------------------------


def decode_bytewise(stream: bytes) -> list[str]:
    decoder = EventStreamDecoder()
    return [data for i in range(len(stream)) for data in decoder.feed(stream[i : i + 1])]


def test_sse_parser_follows_the_whatwg_rules() -> None:
    stream = (
        "\ufeff: keep-alive\r\n\r\n"  # a BOM and a comment: nothing
        "id: 1\r\ndata: first\r\ndata:  second\r\n\r\n"  # CRLF, data lines joined with LF
        "data:x\rdata: y\r\r"  # lone CRs; no space after the colon
        "event: custom\nretry: 10\ndata\n\n"  # a field with no colon: empty data
        "data: é ünïcode\n\n"
        "data: unterminated\n"  # never dispatched
    ).encode()
    expected = ["first\n second", "x\ny", "", "é ünïcode"]
    assert decode_bytewise(stream) == expected
    assert EventStreamDecoder().feed(stream) == expected


# -- the event stream ------------------------------------------------------------------------


class Streams:
    """A mock server whose event streams are scripted: each connection serves the next body
    (bytes, or bytes then a dropped connection)."""

    def __init__(self, *bodies: tuple[bytes, bool], run_status: str = "running") -> None:
        self.bodies = list(bodies)
        self.last_event_ids: list[str | None] = []
        self.run_status = run_status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/events"):
            return httpx.Response(200, json=run_json(self.run_status))
        self.last_event_ids.append(request.headers.get("Last-Event-ID"))
        body, drop = self.bodies.pop(0)
        return httpx.Response(200, stream=Body(body, drop))


class Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, body: bytes, drop: bool) -> None:
        self.body, self.drop = body, drop

    def __iter__(self) -> Iterator[bytes]:
        yield self.body
        if self.drop:
            raise httpx.ReadError("connection reset")

    async def __aiter__(self) -> Any:
        yield self.body
        if self.drop:
            raise httpx.ReadError("connection reset")


def events_of(streams: Streams, after: int = 0) -> list[RunEvent]:
    with Client(URL, transport=httpx.MockTransport(streams)) as client:
        return list(client.events(RUN_ID, after=after))


def test_a_dropped_stream_resumes_after_the_last_complete_event() -> None:
    streams = Streams(
        (sse(1) + sse(2) + sse(3)[:20], True),  # cut inside event 3
        (sse(2) + sse(3) + sse(4, "run.completed", {"result": 1}), False),  # 2 again: skipped
    )
    events = events_of(streams)
    assert [e.id for e in events] == [1, 2, 3, 4]
    assert events[-1].type == "run.completed" and events[-1].data == {"result": 1}
    assert streams.last_event_ids == [None, "2"]


def test_a_stream_closed_early_is_reopened_and_stops_at_the_final_event() -> None:
    streams = Streams(
        (b": keep-alive\n\n" + sse(6), False),
        (sse(7, "run.cancelled"), False),
        (sse(8), False),  # never requested: the stream stopped at run.cancelled
    )
    assert [e.id for e in events_of(streams, after=5)] == [6, 7]
    assert streams.last_event_ids == ["5", "6"]


def test_a_finished_run_with_nothing_after_the_cursor_ends_the_iteration() -> None:
    streams = Streams((b"", False), run_status="completed")
    assert events_of(streams, after=9) == []


def test_a_stream_that_keeps_failing_gives_up_with_a_service_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bosun.client.operations._RECONNECTS", 2)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with Client(URL, transport=httpx.MockTransport(down)) as client, pytest.raises(ServiceError):
        list(client.events(RUN_ID))


def test_events_give_up_after_the_callers_timeout() -> None:
    class KeepAlives(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield sse(1)
            while True:
                time.sleep(0.02)
                yield b": keep-alive\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=KeepAlives())

    seen: list[int] = []
    client = Client(URL, transport=httpx.MockTransport(handler))
    # The stream never ends: only the caller's timeout stops the iteration.
    with client, pytest.raises(ResultTimeout):
        seen.extend(e.id for e in client.events(RUN_ID, timeout=0.2))
    assert seen == [1]


async def test_the_async_client_resumes_a_dropped_stream() -> None:
    streams = Streams((sse(1) + sse(2)[:5], True), (sse(2, "run.failed", {"error": {}}), False))
    async with AsyncClient(URL, transport=httpx.MockTransport(streams)) as client:
        events = [e async for e in client.events(RUN_ID)]
    assert [e.id for e in events] == [1, 2]
    assert streams.last_event_ids == [None, "1"]


# -- requests, retries, errors --------------------------------------------------------------


def counting(respond: Callable[[httpx.Request], httpx.Response]) -> tuple[list[str], Any]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return respond(request)

    return seen, httpx.MockTransport(handler)


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


def test_reads_and_keyed_submits_retry_connect_errors_but_plain_submits_do_not() -> None:
    seen, transport = counting(refuse)
    with Client(URL, transport=transport) as client:
        with pytest.raises(ServiceError, match=r"http://bosun\.test/v1/runs"):
            client.submit("wf", {})
        assert seen == ["POST /v1/runs"]
        with pytest.raises(ServiceError, match=URL):
            client.submit("wf", {}, idempotency_key="k")
        with pytest.raises(ServiceError, match=URL):
            client.get(RUN_ID)
        with pytest.raises(ServiceError):
            client.signal(RUN_ID, "go")
    assert seen.count("POST /v1/runs") == 4  # 1 + 3
    assert seen.count(f"GET /v1/runs/{RUN_ID}") == 3
    assert seen.count(f"POST /v1/runs/{RUN_ID}/signals") == 1


def test_requests_carry_the_api_key_user_agent_and_body() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(201, json=run_json("queued"))

    with Client(URL + "/", "bsn_secret", transport=httpx.MockTransport(handler)) as client:
        run = client.submit("wf", {"a": 1}, session="s", priority=3, deadline=60)
    assert run.status == "queued" and run.created_at.tzinfo is not None
    request = requests[0]
    assert str(request.url) == "http://bosun.test/v1/runs"
    assert request.headers["Authorization"] == "Bearer bsn_secret"
    assert request.headers["User-Agent"] == f"bosun-client/{bosun.__version__}"
    body = json.loads(request.content)
    assert body == {
        "workflow": "wf",
        "input": {"a": 1},
        "priority": 3,
        "session": "s",
        "deadline": 60,
    }


def test_error_responses_raise_their_bosun_exception() -> None:
    answers = iter(
        [
            problem(404, "run-not-found"),
            problem(409, "invalid-run-state"),
            httpx.Response(429, json={"detail": "slow down"}, headers={"Retry-After": "7"}),
            httpx.Response(502, text="<html>bad gateway</html>"),
        ]
    )
    with Client(URL, transport=httpx.MockTransport(lambda r: next(answers))) as client:
        with pytest.raises(RunNotFound, match="nope"):
            client.get(RUN_ID)
        with pytest.raises(InvalidRunState):
            client.cancel(RUN_ID)
        with pytest.raises(RateLimited) as limited:
            client.queues()
        assert limited.value.retry_after == 7
        with pytest.raises(ServiceError):
            client.get(RUN_ID)


def test_wait_long_polls_until_the_run_finishes_then_result_raises_for_failures() -> None:
    waits: list[str] = []
    answers = iter([(202, "running"), (202, "suspended"), (200, "failed")])

    def handler(request: httpx.Request) -> httpx.Response:
        waits.append(request.url.params["wait"])
        status, run_status = next(answers)
        error = {"type": "ValueError", "message": "bad"} if run_status == "failed" else None
        return httpx.Response(status, json=run_json(run_status, error=error))

    client = Client(URL, transport=httpx.MockTransport(handler))
    with client, pytest.raises(RunFailed, match="ValueError: bad") as failed:
        client.result(RUN_ID)
    assert failed.value.error == {"type": "ValueError", "message": "bad"}
    assert waits == ["60", "60", "60"]


def test_wait_gives_up_after_the_callers_timeout() -> None:
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        waits.append(float(request.url.params["wait"]))
        return httpx.Response(202, json=run_json("running"))

    client = Client(URL, transport=httpx.MockTransport(handler))
    with client, pytest.raises(ResultTimeout):
        client.wait(RUN_ID, timeout=0.05)
    assert waits and all(0 <= w <= 0.05 for w in waits)


async def test_the_async_client_pages_through_runs() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        assert request.url.params["session"] == "s" and request.url.params["limit"] == "1"
        if cursor is None:
            return httpx.Response(200, json={"runs": [run_json()], "next_cursor": "c2"})
        return httpx.Response(200, json={"runs": [run_json(id="second")], "next_cursor": None})

    async with AsyncClient(URL, transport=httpx.MockTransport(handler)) as client:
        ids = [r.id async for r in client.iter_runs(session="s", limit=1)]
        page = await client.list(session="s", limit=1)
    assert ids == [RUN_ID, "second"]
    assert page.next_cursor == "c2"


def test_a_url_without_a_scheme_is_a_configuration_error() -> None:
    with pytest.raises(bosun.ConfigurationError, match="http"):
        Client("localhost:8000")
