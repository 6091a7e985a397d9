"""Over real HTTP: a run's SSE stream shows a step's start while the step runs (the first
step after a claim, whose record waits for its end), once, and a reconnect gets the record."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.helpers.processes import APPS
from tests.helpers.serving import Served, serve
from tests.helpers.sse import listen, sse, submit
from tests.helpers.wait import wait_for

from bosun.loader import load_app
from bosun.server import ServerConfig

APP = APPS / "live_app.py"


@contextmanager
def _servers(database: str, *, replicas: bool) -> Iterator[Served]:
    """The API to talk to: one server that also runs workers or, with `replicas`, an API
    process without workers beside a worker process (they meet only in the database)."""
    with ExitStack() as stack:
        apps = [load_app(str(APP)) for _ in range(2 if replicas else 1)]
        for app in apps:
            app.use_database(database)
        api_only = ServerConfig(worker_concurrency=0, key_cache_seconds=0.0)
        front = stack.enter_context(
            serve(apps[0], api_only if replicas else ServerConfig(worker_concurrency=2))
        )
        if replicas:
            stack.enter_context(serve(apps[1], ServerConfig(worker_concurrency=2)))
        yield front


def _watch_a_held_step(client: httpx.Client, tmp_path: Path) -> tuple[list[dict[str, Any]], str]:
    """Submit a run, wait for its step to run, then stream it: its start must arrive while
    the step still waits. Return what the stream got and the run id."""
    release = tmp_path / "release"
    run = submit(client, "held", {"release": str(release)})
    wait_for(Path(f"{release}.running").exists, 20, "the step to run")
    listener, got = listen(client, run["id"])
    wait_for(lambda: any(e["type"] == "step.started" for e in got), 20, "the step's start")
    release.touch()
    listener.join(20)
    assert not listener.is_alive()
    return got, run["id"]


def _check(got: list[dict[str, Any]], run_id: str, client: httpx.Client) -> None:
    assert [(e["type"], e["id"] is None) for e in got] == [
        ("step.started", True),  # live: no id, a reconnect does not replay it
        ("step.completed", False),
        ("run.completed", False),
    ], got
    assert got[0]["data"] == {"seq": "1", "name": "hold", "attempt": 1}
    assert got[-1]["data"]["result"] == "released"
    # The record came with the step's end: a stream from the start gets it, with its id.
    with client.stream("GET", f"/v1/runs/{run_id}/events") as response:
        history = sse(response)
    assert [e["type"] for e in history] == ["step.started", "step.completed", "run.completed"]
    assert [e["id"] for e in history] == [1, 2, 3]
    assert [e["id"] for e in got[1:]] == [2, 3]  # the stored copy of the live start was skipped


def test_a_stream_shows_the_first_step_start_while_it_runs(tmp_path: Path) -> None:
    with (
        _servers(f"sqlite:///{tmp_path / 'api.db'}", replicas=False) as api,
        api.client(api.key("acme", "submit")) as client,
    ):
        got, run_id = _watch_a_held_step(client, tmp_path)
        _check(got, run_id, client)


@pytest.mark.postgres
def test_an_api_replica_shows_a_step_start_running_on_a_worker_process(
    tmp_path: Path, pg_url: str
) -> None:
    with (
        _servers(pg_url, replicas=True) as api,
        api.client(api.key("acme", "submit")) as client,
    ):
        got, run_id = _watch_a_held_step(client, tmp_path)
        _check(got, run_id, client)
