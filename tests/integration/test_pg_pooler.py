"""PostgreSQL behind a transaction-mode pooler, and each process's connection budget.

`?pooler=transaction` turns psycopg's server-side prepared statements off and LISTENs only on
`listen_url` (a direct connection), polling without one; a process never holds more than its
pool (`pool_max`) and its one LISTEN connection; a connection refused for the server's limit
is a `ConnectionLimitReached` naming the limit and the budget. The contract suite and the
chaos test run through PgBouncer too (test_store_contract.py, e2e/test_chaos.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import quote

import psycopg
import pytest

from bosun.errors import ConfigurationError, ConnectionLimitReached
from bosun.records import NewRun
from bosun.store.notify import Wakeup
from bosun.store.postgres import PostgresStore
from bosun.store.postgres.io import split_url
from tests.helpers.pg_servers import PgBouncer, scratch_postgres

pytestmark = pytest.mark.timeout(120)


def new_run(queue: str = "default") -> NewRun:
    return NewRun(id=uuid.uuid4().hex, workflow="wf", queue=queue, input="{}")


def test_url_options_name_the_pooler_the_listener_and_the_budget() -> None:
    direct = split_url("postgresql://u:p@db:5432/app?sslmode=require")
    assert (direct.pooler, direct.listen_conninfo, direct.connections) == (
        "none",
        "postgresql://u:p@db:5432/app?sslmode=require",
        11,
    )
    listen = "postgresql://u:p@db:5432/app?sslmode=require&pool_max=3"
    pooled = split_url(
        f"postgres://u:p@pgbouncer:6432/app?pooler=transaction&pool_max=4&listen_url={quote(listen)}"
    )
    assert pooled.conninfo == "postgresql://u:p@pgbouncer:6432/app"
    assert pooled.listen_conninfo == "postgresql://u:p@db:5432/app?sslmode=require"
    assert pooled.connections == 5
    assert "4 pooled connections (pool_max) through the pooler + 1 LISTEN" in pooled.budget()
    polling = split_url("postgresql://pgbouncer:6432/app?pooler=transaction&pool_max=2")
    assert polling.listen_conninfo is None and polling.connections == 2
    assert "no LISTEN connection (it polls)" in polling.budget()
    for bad in ("pooler=statement", "pool_max=0", "listen_url=mysql%3A%2F%2Fx"):
        with pytest.raises(ConfigurationError):
            split_url(f"postgresql://db/app?{bad}")


async def test_listen_url_wakes_workers_through_a_transaction_pooler(
    pg_url: str, pg_bouncer: PgBouncer
) -> None:
    """A process on a transaction pooler LISTENs on `listen_url`: another process's new run
    wakes its workers at once, not at their next poll."""
    listening = PostgresStore(pg_bouncer.url(pg_url))
    other = PostgresStore(pg_bouncer.url(pg_url, listen=False))
    await listening.open()
    await other.open()
    try:
        assert listening.events_poll_interval == 5.0
        woken = Wakeup()
        listening.notifier.add_work_event(woken)
        await asyncio.sleep(0.5)  # the listener connects
        await woken.wait(0)  # what it heard on connecting
        began = time.monotonic()
        await other.create_run(new_run())
        await woken.wait(5.0)
        assert time.monotonic() - began < 2.0, "NOTIFY never reached the listen_url connection"
    finally:
        await other.close()
        await listening.close()


async def test_without_listen_url_a_pooled_process_polls(
    pg_url: str, pg_bouncer: PgBouncer
) -> None:
    store = PostgresStore(pg_bouncer.url(pg_url, listen=False))
    await store.open()
    try:
        assert store._listener is None, "a LISTEN through a transaction pooler hears nothing"
        assert store.events_poll_interval == 0.5  # streams poll instead of waiting for NOTIFY
        await store.follow_events()
        assert store._listener is None
        run_id, _ = await store.create_run(new_run())
        assert (await store.get_run(run_id)) is not None
    finally:
        await store.close()


def server_connections(url: str) -> int:
    """Connections to `url`'s database other than this one."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_process_holds_at_most_its_pool_and_one_listen_connection(pg_url: str) -> None:
    store = PostgresStore(f"{pg_url}?pool_max=3")
    await store.open()
    peak = 0
    try:

        async def busy() -> None:
            for _ in range(5):
                await store.create_run(new_run())
                await store.claim_runs("w", ["default"], 2, 30, time.time())

        load = asyncio.gather(*(busy() for _ in range(40)))
        while not load.done():
            peak = max(peak, await asyncio.to_thread(server_connections, pg_url))
            await asyncio.sleep(0.01)
        await load
    finally:
        await store.close()
    assert 2 <= peak <= 3 + 1, f"{peak} connections: the budget is pool_max 3 + 1 LISTEN"


async def test_a_refused_connection_names_the_limit_and_the_budget() -> None:
    with scratch_postgres(max_connections=4, superuser_reserved_connections="0") as server:
        held = [await psycopg.AsyncConnection.connect(server.url) for _ in range(4)]
        try:
            store = PostgresStore(f"{server.url}?pool_max=2")
            with pytest.raises(ConnectionLimitReached) as caught:
                await store.open()
            message = str(caught.value)
            assert "too many clients" in message and "max_connections" in message, message
            assert "2 pooled connections (pool_max) + 1 LISTEN connection" in message, message
            assert "?pooler=transaction" in message, message
        finally:
            for conn in held:
                await conn.close()
        # Once a slot frees up, it opens (the migration took one connection; the pool's
        # first is the same slot).
        store = PostgresStore(f"{server.url}?pool_max=2")
        await store.open()
        await store.close()


async def test_a_refused_connection_says_what_to_check(pg_url: str) -> None:
    """A missing database and a server that is not there get different advice."""
    from bosun.errors import StoreUnavailable
    from tests.conftest import PG_URL

    missing = PG_URL.rsplit("/", 1)[0] + f"/no_such_db_{uuid.uuid4().hex[:8]}"
    with pytest.raises(StoreUnavailable, match="has no such database: create it first"):
        await PostgresStore(missing).open()
    with pytest.raises(StoreUnavailable, match=r"is the server up and reachable\?"):
        await PostgresStore("postgresql://127.0.0.1:1/x").open()
