"""The API's operations, each written once as a flow (see `bosun.client.commands`), and how
requests are built and answers read."""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx

from bosun import serde
from bosun.client.commands import (
    IO,
    Close,
    Emit,
    Flow,
    ItemFlow,
    ItemOperation,
    Operation,
    Read,
    Send,
    Sleep,
)
from bosun.client.models import RunEvent, RunInfo, RunPage, SubmittedRun, outcome, rfc3339
from bosun.errors import (
    BosunError,
    ConfigurationError,
    RateLimited,
    ResultTimeout,
    ServiceError,
)
from bosun.ids import check_identifier
from bosun.problems import error_for
from bosun.records import RunStatus
from bosun.sse import EventStreamDecoder
from bosun.version import __version__

T = TypeVar("T")

FINAL_EVENT_TYPES = frozenset({"run.completed", "run.failed", "run.cancelled"})
MAX_WAIT = 60.0  # the most seconds the server holds one `result?wait=` request
_CONNECT_ATTEMPTS = 3  # tries of a request that is safe to repeat, when connecting fails
_RECONNECTS = 8  # consecutive failed tries to (re)open an event stream before giving up
_STREAM_READ_TIMEOUT = 45.0  # the server sends a keep-alive comment every 15 s


class Operations:
    """The API's operations as flows, and how requests are built and answers read."""

    def __init__(self, url: str, api_key: str | None, timeout: float) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{url!r} is not a server URL: use http(s)://host:port")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._headers = {
            "User-Agent": f"bosun-client/{__version__}",
            "Accept": "application/json",
        }
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    # -- runs -------------------------------------------------------------------------------

    @Operation
    def submit(
        self,
        workflow: str,
        input: Any = None,
        *,
        idempotency_key: str | None = None,
        priority: int | None = None,
        session: str | None = None,
        deadline: float | timedelta | datetime | None = None,
        queue: str | None = None,
        webhook: str | None = None,
    ) -> Flow[SubmittedRun]:
        """Submit a run of `workflow` with `input` (an object of named inputs or an array).

        With an `idempotency_key` used before, the server returns that run instead, with
        `created` False (and the request is safe to retry). `deadline` is seconds from now or
        a datetime.
        """
        if isinstance(deadline, timedelta):
            deadline = deadline.total_seconds()
        if session is not None:
            check_identifier(session, "session")  # the server's rule, before a round trip
        if queue is not None:
            check_identifier(queue, "queue")
        body = {
            "workflow": workflow,
            "input": input,
            "idempotency_key": idempotency_key,
            "priority": priority,
            "session": session,
            "deadline": rfc3339(deadline) if isinstance(deadline, datetime) else deadline,
            "queue": queue,
            "webhook": webhook,
        }
        request = self._request(
            "POST", "/v1/runs", json={k: v for k, v in body.items() if v is not None}
        )
        response = yield from self._exchange(request, safe=idempotency_key is not None)
        run = RunInfo.from_json(_json(response))
        return SubmittedRun.of(run, created=response.status_code == 201)  # 200: it existed

    @Operation
    def get(self, run_id: str) -> Flow[RunInfo]:
        """One run; `RunNotFound` if there is none with that id (for this API key)."""
        return (yield from self._get(run_id))

    @Operation
    def list(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        session: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
        version: str | None = None,
    ) -> Flow[RunPage]:
        """One page of runs, newest first; pass `next_cursor` back as `cursor` for the next."""
        params = _list_params(
            status, workflow, session, created_after, created_before, limit, version
        )
        return (yield from self._page(params, cursor))

    @ItemOperation
    def iter_runs(
        self,
        *,
        status: RunStatus | None = None,
        workflow: str | None = None,
        session: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
        version: str | None = None,
    ) -> ItemFlow[RunInfo]:
        """Every run matching the filters, newest first, fetched `limit` per page."""
        params = _list_params(
            status, workflow, session, created_after, created_before, limit, version
        )
        while True:
            page = yield from self._page(params, cursor)
            for run in page.runs:
                yield Emit(run)
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    @Operation
    def wait(self, run_id: str, timeout: float | None = None) -> Flow[RunInfo]:
        """Wait until the run is finished and return it; `ResultTimeout` after `timeout`
        seconds (None waits for ever)."""
        return (yield from self._wait(run_id, timeout))

    @Operation
    def result(self, run_id: str, timeout: float | None = None) -> Flow[Any]:
        """Wait for the run and return its result; `RunFailed` or `RunCancelled` when it
        did not complete, `ResultTimeout` after `timeout` seconds."""
        return outcome((yield from self._wait(run_id, timeout)))

    @ItemOperation
    def events(
        self, run_id: str, *, after: int = 0, timeout: float | None = None
    ) -> ItemFlow[RunEvent]:
        """The run's events after event `after`, in order, following new ones until the run
        finishes; `ResultTimeout` if it has not finished after `timeout` seconds. A dropped
        connection is reopened where it broke: no gap, no duplicate."""
        give_up = None if timeout is None else time.monotonic() + timeout
        last, failures = after, 0
        while True:
            if failures > _RECONNECTS:
                raise ServiceError(f"lost the event stream of run {run_id} at {self.url}")
            if failures:
                yield Sleep(min(0.1 * 2 ** (failures - 1), 2.0))
            request = self._events_request(run_id, last, give_up, timeout)
            try:
                response = yield Send(request, stream=True)
            except httpx.TransportError:
                failures += 1
                continue
            if not response.is_success:
                raise _problem(response, (yield from _read_all(response)))
            seen = last
            last, end = yield from _follow(response, last, give_up)
            if end == "final":
                return
            failures = 0 if last > seen else failures + 1
            if end == "closed" and last == seen and (yield from self._get(run_id)).finished:
                return  # its final event is at or before `after`

    @Operation
    def signal(self, run_id: str, name: str, payload: Any = None) -> Flow[None]:
        """Send the signal `name` with a JSON `payload`; `InvalidRunState` if it finished."""
        body = {"name": name, "payload": payload}
        request = self._request("POST", _run_path(run_id, "signals"), json=body)
        yield from self._exchange(request, safe=False)

    @Operation
    def approve(self, run_id: str, call_id: str) -> Flow[None]:
        """Let the run's tool call `call_id`, which waits for approval, run as proposed.

        `ApprovalNotFound` if no call waits under that id, `ApprovalDecided` if it was decided
        already or timed out (the same for `reject` and `edit`)."""
        yield from self._decide(run_id, call_id, {"decision": "approve"})

    @Operation
    def reject(self, run_id: str, call_id: str, *, message: str | None = None) -> Flow[None]:
        """Refuse the tool call `call_id`: it does not run, and the model reads `message`."""
        body: dict[str, Any] = {"decision": "reject"}
        if message is not None:
            body["message"] = message
        yield from self._decide(run_id, call_id, body)

    @Operation
    def edit(self, run_id: str, call_id: str, arguments: dict[str, Any]) -> Flow[None]:
        """Run the tool call `call_id` with `arguments` instead of the model's;
        `InvalidRequest` if they do not fit the tool's schema (nothing is decided then)."""
        yield from self._decide(run_id, call_id, {"decision": "edit", "arguments": arguments})

    @Operation
    def cancel(self, run_id: str) -> Flow[builtins.list[str]]:
        """Cancel the run and its unfinished children; return the ids cancelled."""
        request = self._request("POST", _run_path(run_id, "cancel"))
        body = _json((yield from self._exchange(request, safe=False)))
        return [str(i) for i in _field(body, "cancelled", builtins.list)]

    @Operation
    def resume(self, run_id: str) -> Flow[RunInfo]:
        """Put a `blocked` run back in its queue (needs the `admin` scope)."""
        request = self._request("POST", _run_path(run_id, "resume"))
        return RunInfo.from_json(_json((yield from self._exchange(request, safe=False))))

    # -- the rest of the API ----------------------------------------------------------------

    @Operation
    def workflows(self) -> Flow[builtins.list[dict[str, Any]]]:
        """The server's registered workflows, their queues, inputs and event triggers."""
        response = yield from self._exchange(self._request("GET", "/v1/workflows"))
        return _field(_json(response), "workflows", builtins.list)

    @Operation
    def queues(self) -> Flow[builtins.list[dict[str, Any]]]:
        """Per queue: `ready`, `in_flight`, `waiting` and `oldest_ready_age`."""
        response = yield from self._exchange(self._request("GET", "/v1/queues"))
        return _field(_json(response), "queues", builtins.list)

    @Operation
    def post_event(
        self, name: str, data: Any, *, event_id: str | None = None
    ) -> Flow[dict[str, Any]]:
        """Start the workflows triggered by event `name`; an `event_id` posted before starts
        nothing new (and makes the request safe to retry)."""
        headers = {} if event_id is None else {"Idempotency-Key": event_id}
        path = f"/v1/events/{quote(name, safe='')}"
        request = self._request("POST", path, json=data, headers=headers)
        body = _json((yield from self._exchange(request, safe=event_id is not None)))
        if not isinstance(body, dict):
            raise ServiceError(f"{request.url} answered {body!r}, not an object")
        return body

    # -- shared steps -----------------------------------------------------------------------

    def _decide(self, run_id: str, call_id: str, body: dict[str, Any]) -> Flow[None]:
        path = _run_path(run_id, "approvals", quote(call_id, safe=""))
        yield from self._exchange(self._request("POST", path, json=body), safe=False)

    def _get(self, run_id: str) -> Flow[RunInfo]:
        response = yield from self._exchange(self._request("GET", _run_path(run_id)))
        return RunInfo.from_json(_json(response))

    def _page(self, params: dict[str, str], cursor: str | None) -> Flow[RunPage]:
        query = params if cursor is None else {**params, "cursor": cursor}
        body = _json((yield from self._exchange(self._request("GET", "/v1/runs", params=query))))
        try:
            runs = tuple(RunInfo.from_json(r) for r in body["runs"])
            return RunPage(runs, body.get("next_cursor"))
        except (KeyError, TypeError) as exc:
            message = f"the server sent a page of runs the client cannot read: {exc}"
            raise ServiceError(message) from exc

    def _wait(self, run_id: str, timeout: float | None) -> Flow[RunInfo]:
        give_up = None if timeout is None else time.monotonic() + timeout
        wait = MAX_WAIT if timeout is None else min(MAX_WAIT, max(timeout, 0.0))
        while True:
            params = {"wait": f"{wait:.3f}".rstrip("0").rstrip(".")}
            path = _run_path(run_id, "result")
            request = self._request("GET", path, params=params, read_timeout=wait + self.timeout)
            run = RunInfo.from_json(_json((yield from self._exchange(request))))
            if run.finished:
                return run
            if give_up is not None:
                wait = min(MAX_WAIT, give_up - time.monotonic())
                if wait <= 0:
                    raise ResultTimeout(f"run {run_id} is still {run.status} after {timeout} s")

    def _events_request(
        self, run_id: str, last: int, give_up: float | None, timeout: float | None
    ) -> httpx.Request:
        read_timeout = max(self.timeout, _STREAM_READ_TIMEOUT)
        if give_up is not None:
            left = give_up - time.monotonic()
            if left <= 0:
                raise ResultTimeout(f"run {run_id} is still unfinished after {timeout} s")
            read_timeout = min(read_timeout, left)
        headers = {"Accept": "text/event-stream"}
        if last:
            headers["Last-Event-ID"] = str(last)
        path = _run_path(run_id, "events")
        return self._request("GET", path, headers=headers, read_timeout=read_timeout)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> httpx.Request:
        timeout = httpx.Timeout(self.timeout, read=read_timeout or self.timeout)
        headers = {**self._headers, **(headers or {})}
        content = None
        if json is not None:  # bosun's JSON policy: NaN or Infinity is refused, by path
            content = serde.dumps(json, f"the body of {method} {path}").encode()
            headers["Content-Type"] = "application/json"
        return httpx.Request(
            method,
            self.url + path,
            params=params,
            content=content,
            headers=headers,
            extensions={"timeout": timeout.as_dict()},
        )

    def _exchange(self, request: httpx.Request, *, safe: bool = True) -> Flow[httpx.Response]:
        """Send `request` and return its successful response; an error status raises the
        bosun exception it stands for. A `safe` request is retried when connecting fails."""
        attempts = _CONNECT_ATTEMPTS if safe else 1
        for attempt in range(1, attempts + 1):
            try:
                response: httpx.Response = yield Send(request)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                if attempt == attempts:
                    raise _unreachable(request, exc) from exc
                yield Sleep(0.2 * attempt)
                continue
            except httpx.TransportError as exc:
                raise _unreachable(request, exc) from exc
            if not response.is_success:
                raise _problem(response, response.content)
            return response
        raise AssertionError("unreachable")


def _run_path(run_id: str, *rest: str) -> str:
    return "/".join(("/v1/runs", quote(run_id, safe=""), *rest))


def _list_params(
    status: str | None,
    workflow: str | None,
    session: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    limit: int,
    version: str | None = None,
) -> dict[str, str]:
    params = {
        "status": status,
        "workflow": workflow,
        "session": session,
        "version": version,
        "created_after": None if created_after is None else rfc3339(created_after),
        "created_before": None if created_before is None else rfc3339(created_before),
        "limit": str(limit),
    }
    return {k: v for k, v in params.items() if v is not None}


def _read_all(response: httpx.Response) -> Flow[bytes]:
    content = b""
    while chunk := (yield Read(response)):
        content += chunk
    return content


def _follow(
    response: httpx.Response, last: int, give_up: float | None
) -> Generator[IO | Emit[RunEvent], Any, tuple[int, Literal["final", "closed", "dropped"]]]:
    """Emit the events of one SSE connection that come after event `last`; return the last
    one emitted and how the stream ended: at a final event, closed early, or dropped (also
    when the caller's deadline `give_up` passes)."""
    decoder = EventStreamDecoder()
    try:
        while chunk := (yield Read(response)):
            for data in decoder.feed(chunk):
                event = RunEvent.from_json(_loads(data, "an event"))
                if event.id is None:  # ephemeral: pass it on, it moves no position
                    yield Emit(event)
                    continue
                if event.id <= last:
                    continue
                last = event.id
                yield Emit(event)
                if event.type in FINAL_EVENT_TYPES:
                    return last, "final"
            if give_up is not None and time.monotonic() >= give_up:
                break
        else:
            yield Close(response)
            return last, "closed"
    except httpx.TransportError:
        pass
    yield Close(response)
    return last, "dropped"


def _loads(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ServiceError(f"the server sent {what} that is not JSON: {exc}") from exc


def _json(response: httpx.Response) -> Any:
    return _loads(response.content, f"an answer to {response.request.url.path}")


def _field(body: Any, key: str, kind: type[T]) -> T:
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, kind):
        raise ServiceError(f"the server sent {body!r}: expected {key!r} to be a {kind.__name__}")
    return value


def _problem(response: httpx.Response, content: bytes) -> BosunError:
    """The exception an error response stands for (RFC 9457 problem or not)."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    error = error_for(response.status_code, body)
    if isinstance(error, RateLimited) and error.retry_after is None:
        retry_after = response.headers.get("Retry-After", "")
        error.retry_after = float(retry_after) if retry_after.isdigit() else None
    return error


def _unreachable(request: httpx.Request, exc: httpx.TransportError) -> ServiceError:
    url = request.url.copy_with(query=None)
    reason = str(exc) or type(exc).__name__
    return ServiceError(f"cannot reach the bosun server ({request.method} {url}): {reason}")
