"""Reading the HTTP API's Server-Sent Events streams in tests, over a real connection."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from tests.helpers.wait import wait_for


def submit(client: httpx.Client, workflow: str, data: Any = None, **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/runs", json={"workflow": workflow, "input": data, **extra})
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def sse_iter(response: httpx.Response, *, typed: bool = True) -> Iterator[dict[str, Any]]:
    """The events of an SSE response; each durable one's `id:` line matches its data's id,
    an ephemeral one has neither, and (`typed`, as the API sends them) each one's `event:`
    line names its type, so a browser's `EventSource.addEventListener(type, …)` gets it."""
    data: list[str] = []
    event_id = event_type = None
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("event:"):
            event_type = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line == "" and data:
            event = json.loads("\n".join(data))
            assert (None if event["id"] is None else str(event["id"])) == event_id
            assert event_type == (event["type"] if typed else None), (event_type, event)
            yield event
            data, event_id, event_type = [], None, None


def listen(client: httpx.Client, run_id: str) -> tuple[threading.Thread, list[dict[str, Any]]]:
    """Follow a run's stream in a thread; the list fills as events arrive."""
    got: list[dict[str, Any]] = []

    def listen() -> None:
        with client.stream("GET", f"/v1/runs/{run_id}/events") as response:
            got.extend(sse_iter(response))

    listener = threading.Thread(target=listen)
    listener.start()
    return listener, got


def until_seen(got: list[dict[str, Any]], event_type: str) -> None:
    """Wait until a stream `listen` follows has delivered an event of `event_type`."""
    wait_for(lambda: any(e["type"] == event_type for e in got), 20, f"a {event_type} event")


def sse(response: httpx.Response, stop_after: int | None = None) -> list[dict[str, Any]]:
    """The events of an SSE response, optionally stopping (and dropping it) early."""
    return list(itertools.islice(sse_iter(response), stop_after))
