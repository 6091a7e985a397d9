"""What the UI tests share: a fresh copy of the test app served by real uvicorn with an
in-process worker, and helpers to submit runs and wait for them over the HTTP API."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from tests.helpers.serving import Served, serve

from bosun.loader import load_app
from bosun.server import ServerConfig

HERE = Path(__file__).parent


@contextmanager
def served_ui(db: Path, **config: Any) -> Iterator[tuple[Served, ModuleType]]:
    """The UI test app (freshly imported, so its module state starts clean) on its own
    SQLite file; yields the server and the app's module."""
    app = load_app(str(HERE / "ui_app.py"))
    module = sys.modules["bosun_app_ui_app"]
    app.use_database(f"sqlite:///{db}")
    options: dict[str, Any] = {"worker_concurrency": 4, "key_cache_seconds": 0.0, "rate_limit": 0}
    options.update(config)
    with serve(app, ServerConfig(**options)) as server:
        yield server, module


def submit(client: httpx.Client, workflow: str, data: Any = None, **extra: Any) -> str:
    """Submit a run over the API; return its id."""
    response = client.post("/v1/runs", json={"workflow": workflow, "input": data, **extra})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def run_of(client: httpx.Client, run_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/runs/{run_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_status(client: httpx.Client, run_id: str, status: str, timeout: float = 20) -> None:
    """Poll the API until the run has `status`; fail with the run as it is otherwise."""
    give_up = time.monotonic() + timeout
    while (run := run_of(client, run_id))["status"] != status:
        if time.monotonic() > give_up:
            raise AssertionError(f"run {run_id} never became {status}: {run}")
        time.sleep(0.05)
