"""`GET /v1/queues` and the UI's queue page over HTTP against a real uvicorn: each key sees
its own tenant's depths (an admin key every tenant's), and ready runs of a workflow no live
worker serves are named under their queue once they have waited the grace period."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from serving import Served, serve

import bosun
from bosun.server import ServerConfig
from bosun.store import store_for_url
from bosun.store.records import UNSERVED_GRACE, NewRun


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
    # Another tenant's unserved runs are not this key's business.
    assert depths(served, served.key("globex", "read")) == {}

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
