"""`GET /v1/queues`, the UI's queue page and `bosun queues` against a real uvicorn and
database: each key sees its own tenant's depths (an admin key every tenant's), every known
queue shows (at zero when empty), and ready runs of a workflow no live worker serves are
named under their queue once they have waited the grace period."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers.records import worker_record
from tests.helpers.serving import Served, serve

import bosun
from bosun.records import UNSERVED_GRACE, NewRun, Outcome, Progress
from bosun.server import ServerConfig
from bosun.store import Store, store_for_url


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    app = bosun.App("queues", database=f"sqlite:///{tmp_path}/bosun.db")

    @app.workflow(name="approve")
    async def approve(ctx: bosun.Context) -> None:
        await ctx.wait_for_signal("go")

    with serve(app, ServerConfig(worker_concurrency=0, key_cache_seconds=0.0)) as running:
        yield running


def queued(served: Served, tenant: str, workflow: str = "approve", queue: str = "default") -> str:
    run = NewRun(id=uuid.uuid4().hex, workflow=workflow, queue=queue, input="{}", tenant=tenant)
    run_id, _ = served.call(served.app.store.create_run(run))
    return str(run_id)


def age(db: Path, run_id: str, seconds: float) -> None:
    """Make a run look as if it had been ready for `seconds` (no test waits a minute)."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE runs SET ready_at = ?, created_at = ? WHERE id = ?",
            (time.time() - seconds, time.time() - seconds, run_id),
        )


def depths(served: Served, key: str) -> dict[str, dict[str, object]]:
    with served.client(key) as client:
        answer = client.get("/v1/queues")
    assert answer.status_code == 200, answer.text
    return {q["queue"]: q for q in answer.json()["queues"]}


def test_a_key_sees_its_own_tenants_queues_and_an_admin_key_all(served: Served) -> None:
    queued(served, "acme")
    queued(served, "globex")
    queued(served, "globex")
    queued(served, "globex", queue="secret-gpu")
    acme = depths(served, served.key("acme", "read"))
    assert {name: q["ready"] for name, q in acme.items()} == {"default": 1}
    globex = depths(served, served.key("globex", "read"))
    assert {name: q["ready"] for name, q in globex.items()} == {"default": 2, "secret-gpu": 1}
    admin = depths(served, served.key("acme", "admin"))
    assert {name: q["ready"] for name, q in admin.items()} == {"default": 3, "secret-gpu": 1}


def test_ready_runs_no_worker_serves_are_named_after_the_grace_period(
    served: Served, tmp_path: Path
) -> None:
    key = served.key("acme", "read")
    fresh = queued(served, "acme", workflow="publish_report")
    assert depths(served, key)["default"]["unserved"] == []  # workers may still be starting
    age(tmp_path / "bosun.db", fresh, UNSERVED_GRACE + 5)
    [unserved] = depths(served, key)["default"]["unserved"]
    assert unserved["workflow"] == "publish_report" and unserved["ready"] == 1
    assert unserved["oldest_ready_age"] >= UNSERVED_GRACE
    # Another tenant's unserved runs are not this key's business; the app's queue shows.
    globex = depths(served, served.key("globex", "read"))
    assert {name: (q["ready"], q["unserved"]) for name, q in globex.items()} == {"default": (0, [])}

    with served.client() as browser:
        browser.cookies.set("bosun_key", key)
        page = browser.get("/ui/queues")
    assert page.status_code == 200
    assert 'data-unserved="publish_report"' in page.text
    assert "no worker serves workflow" in page.text


def test_bosun_queues_names_unserved_workflows(tmp_path: Path) -> None:
    db = tmp_path / "bosun.db"

    async def seed() -> list[str]:
        store = store_for_url(f"sqlite:///{db}")
        await store.open()
        try:
            ids = []
            for tenant in ("acme", "globex"):
                run = NewRun(
                    id=uuid.uuid4().hex,
                    workflow="publish_report",
                    queue="default",
                    input="{}",
                    tenant=tenant,
                )
                ids.append((await store.create_run(run))[0])
            return ids
        finally:
            await store.close()

    for run_id in asyncio.run(seed()):
        age(db, run_id, UNSERVED_GRACE + 5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
    cmd = [str(Path(sys.executable).parent / "bosun"), "queues", "--database", f"sqlite:///{db}"]
    shown = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "2 run(s) ready but no worker serves workflow 'publish_report'" in shown.stdout
    as_json = subprocess.run(
        [*cmd, "--tenant", "acme", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    [queue] = json.loads(as_json.stdout)
    assert queue["ready"] == 1
    assert [u["workflow"] for u in queue["unserved"]] == ["publish_report"]


ZERO = {"ready": 0, "in_flight": 0, "waiting": 0, "oldest_ready_age": 0.0, "unserved": []}


async def finish(store: Store, queue: str, tenant: str) -> None:
    """A run of `queue` that a worker claimed and completed: the queue is empty again."""
    run = NewRun(id=uuid.uuid4().hex, workflow="wf", queue=queue, input="{}", tenant=tenant)
    await store.create_run(run)
    [claimed] = await store.claim_runs("w", [queue], 1, 30, time.time())
    await store.save_progress(claimed.lease, Progress(outcome=Outcome("complete", result="1")), 30)


def test_known_queues_without_work_are_listed_at_zero(tmp_path: Path) -> None:
    app = bosun.App("queues", database=f"sqlite:///{tmp_path}/bosun.db")

    @app.workflow(name="render", queue="gpu")
    async def render(ctx: bosun.Context) -> None:
        return None

    with serve(app, ServerConfig(worker_concurrency=0, key_cache_seconds=0.0)) as running:
        running.call(finish(running.app.store, "reports", "acme"))
        queued(running, "globex", queue="secret")
        acme = depths(running, running.key("acme", "read"))
        globex = depths(running, running.key("globex", "read"))
        admin = depths(running, running.key("ops", "admin"))
        with running.client() as browser:
            browser.cookies.set("bosun_key", running.key("acme", "read"))
            page = browser.get("/ui/queues")
    # The app's queues (gpu; default, of its webhook deliveries) are everyone's, at zero;
    # a queue whose last run finished stays, at zero, for the tenant whose run it was.
    assert acme == {q: {"queue": q, **ZERO} for q in ("default", "gpu", "reports")}
    assert set(globex) == {"default", "gpu", "secret"} and globex["gpu"] == {"queue": "gpu", **ZERO}
    assert set(admin) == {"default", "gpu", "reports", "secret"}
    assert admin["reports"] == {"queue": "reports", **ZERO}
    assert page.status_code == 200
    assert re.findall(r'data-queue="([^"]+)"', page.text) == ["default", "gpu", "reports"]


def bosun_queues(db: Path, *args: str) -> list[dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
    cmd = [str(Path(sys.executable).parent / "bosun"), "queues", "--database", f"sqlite:///{db}"]
    shown = subprocess.run(
        [*cmd, "--json", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    rows: list[dict[str, object]] = json.loads(shown.stdout)
    return rows


def test_bosun_queues_lists_served_and_emptied_queues_at_zero(tmp_path: Path) -> None:
    db = tmp_path / "bosun.db"

    async def seed() -> None:
        store = store_for_url(f"sqlite:///{db}")
        await store.open()
        try:
            gpu_worker = worker_record("gpu-1", ttl=600, queues=("gpu",), concurrency=2)
            await store.announce_worker(gpu_worker)
            await finish(store, "reports", "acme")
        finally:
            await store.close()

    asyncio.run(seed())
    zero = {**ZERO, "runnable": 0}  # the CLI also shows what autoscalers scale on
    # No run ever used gpu: a worker serves it. The last run of reports finished.
    assert bosun_queues(db) == [{"queue": q, **zero} for q in ("gpu", "reports")]
    assert bosun_queues(db, "--tenant", "acme") == [
        {"queue": q, **zero} for q in ("gpu", "reports")
    ]
    # Another tenant sees the served queue, not acme's.
    assert bosun_queues(db, "--tenant", "globex") == [{"queue": "gpu", **zero}]
