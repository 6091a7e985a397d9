"""Past one primary, what bosun supports today: shards, one database each (docs/scaling.md).

A shard is a whole bosun deployment on a database of its own (in production a primary of
its own): its own workers, its own API; a tenant belongs to one shard, and whoever submits
picks the shard by tenant. Here two shards, one reached directly and one through PgBouncer,
each with its own worker process, serve the runs of their own tenants, and nothing crosses.
"""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from tests.conftest import PG_URL, _with_db
from tests.helpers.pg_servers import PgBouncer
from tests.helpers.processes import APPS, PgEnv, stop_procs

from bosun.loader import load_app

APP = APPS / "fleet_steps.py"
TENANTS = [f"tenant-{i}" for i in range(6)]
RUNS_PER_TENANT = 5


def shard_of(tenant: str, shards: int) -> int:
    """The router: a tenant's shard, stable across processes."""
    return zlib.crc32(tenant.encode()) % shards


@pytest.fixture
def second_pg_url(pg_template: str) -> Iterator[str]:
    name = f"bosun_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield _with_db(PG_URL, name)
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_shards_by_tenant_each_on_its_own_database_serve_only_their_tenants(
    tmp_path: Path, pg_url: str, second_pg_url: str, pg_bouncer: PgBouncer
) -> None:
    effects = tmp_path / "effects.txt"
    shards = [
        PgEnv(tmp=tmp_path, db_path=tmp_path / "0.db", effects=effects, database=pg_url),
        PgEnv(
            tmp=tmp_path,
            db_path=tmp_path / "1.db",
            effects=effects,
            database=pg_bouncer.url(second_pg_url),
            direct=second_pg_url,
        ),
    ]
    assert {shard_of(t, 2) for t in TENANTS} == {0, 1}, "both shards get tenants"
    try:
        workers = [shard.worker(APP, name=f"shard{i}") for i, shard in enumerate(shards)]
        apps = []
        for shard in shards:
            app = load_app(str(APP))
            app.use_database(shard.url)
            apps.append(app)
        submitted: dict[str, str] = {}  # run -> tenant
        for app in apps:
            await app.open()
        try:
            for tenant in TENANTS:
                app = apps[shard_of(tenant, 2)]
                for n in range(RUNS_PER_TENANT):
                    handle = await app.start("fleet_run", n=n, tenant=tenant)
                    submitted[handle.run_id] = tenant
            results = await asyncio.gather(
                *(
                    apps[shard_of(tenant, 2)].get_handle(run_id).result(timeout=60)
                    for run_id, tenant in submitted.items()
                )
            )
        finally:
            for app in apps:
                await app.close()
        assert all(len(result) == 2 for result in results)
        for index, shard in enumerate(shards):
            rows = shard.query("SELECT id, tenant, status FROM runs")
            expected = {r for r, t in submitted.items() if shard_of(t, 2) == index}
            assert {row["id"] for row in rows} == expected, f"shard {index} holds other runs"
            assert {row["status"] for row in rows} == {"completed"}
        # Each run's steps ran on its own shard's worker.
        pid_shard = {w.pid: i for i, w in enumerate(workers)}
        for line in effects.read_text().splitlines():
            run_id, _step, pid, _at = line.split(":")
            assert pid_shard[int(pid)] == shard_of(submitted[run_id], 2)
        assert all(w.poll() is None for w in workers), "a shard's worker exited"
    finally:
        for shard in shards:
            stop_procs(shard.procs)
