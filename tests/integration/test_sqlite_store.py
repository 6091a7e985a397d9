"""SQLite-specific behaviour: files, pragmas, migrations, locks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bosun.errors import SchemaTooNew, StoreUnavailable
from bosun.store.sqlfiles import load_migrations
from bosun.store.sqlite import SqliteStore


def schema(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    conn.close()
    return rows


async def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    for _ in range(2):
        store = SqliteStore(url)
        await store.open()
        assert await store.schema_version() == len(load_migrations("sqlite"))
        await store.close()
    conn = sqlite3.connect(tmp_path / "a.db")
    assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(
        load_migrations("sqlite")
    )
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_stepwise_migration_equals_fresh_schema(tmp_path: Path) -> None:
    import bosun.store.sqlite.io as io

    migrations = load_migrations("sqlite")
    stepwise = tmp_path / "stepwise.db"
    conn = io.connect(io.SqliteConfig(str(stepwise)))
    for n in range(1, len(migrations) + 1):
        io.migrate(conn, migrations[:n], str(stepwise))
    conn.close()
    fresh = tmp_path / "fresh.db"
    store = SqliteStore(f"sqlite:///{fresh}")
    await store.open()
    await store.close()
    assert schema(stepwise) == schema(fresh)


async def test_a_newer_schema_refuses_to_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db"
    store = SqliteStore(url)
    await store.open()
    await store.close()
    conn = sqlite3.connect(tmp_path / "a.db")
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'from_the_future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew, match="999"):
        await SqliteStore(url).open()


async def test_synchronous_setting_is_applied(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path}/a.db?synchronous=NORMAL")
    await store.open()
    level = await store._reader.submit(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
    await store.close()
    assert level == 1  # NORMAL


async def test_garbage_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable, match="not a SQLite database"):
        await SqliteStore(f"sqlite:///{path}").open()


async def test_locked_database_gives_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/a.db?busy_timeout_ms=100"
    store = SqliteStore(url)
    await store.open()
    holder = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        from tests.integration.test_store_contract import new_run

        with pytest.raises(StoreUnavailable, match="locked"):
            await store.create_run(new_run())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await store.create_run(new_run())  # recovers once the lock is gone
    await store.close()


async def test_large_inputs_and_results_leave_the_hot_row(tmp_path: Path) -> None:
    import json
    import time

    from bosun.records import NewRun, Outcome, Progress, RunFilter

    path = tmp_path / "big.db"
    store = SqliteStore(f"sqlite:///{path}?offload_bytes=1000")
    await store.open()
    try:
        big = json.dumps({"text": "x" * 50_000})
        small = json.dumps({"text": "y"})
        big_id, _ = await store.create_run(NewRun("big", "wf", "default", big))
        await store.create_run(NewRun("small", "wf", "default", small))
        claimed = await store.claim_runs("w", ["default"], 10, 30, time.time())
        assert {c.run.id: c.run.input for c in claimed} == {"big": big, "small": small}
        lease = next(c.lease for c in claimed if c.run.id == "big")
        await store.save_progress(lease, Progress(outcome=Outcome("complete", result=big)), 30)
        record = await store.get_run(big_id)
        assert record is not None and (record.input, record.result) == (big, big)
        assert {r.id: r.input for r in await store.list_runs(RunFilter())}["big"] == big
        conn = sqlite3.connect(path)
        row = conn.execute("SELECT input, result FROM runs WHERE id = 'big'").fetchone()
        sizes = conn.execute("SELECT field, size, length(data) FROM run_payloads").fetchall()
        conn.close()
        assert row == ("@offloaded", "@offloaded")
        assert {field: size for field, size, _ in sizes} == {"input": len(big), "result": len(big)}
        assert all(stored < size / 10 for _, size, stored in sizes)  # compressed
        assert await store.prune_runs(time.time() + 1) == 1
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT count(*) FROM run_payloads").fetchone() == (0,)
        conn.close()
    finally:
        await store.close()


def test_offload_size_is_validated() -> None:
    from bosun.errors import ConfigurationError
    from bosun.store.sqlite.io import SqliteConfig

    assert SqliteConfig.from_url("sqlite:///a.db?offload_bytes=10").offload_bytes == 10
    with pytest.raises(ConfigurationError):
        SqliteConfig.from_url("sqlite:///a.db?offload_bytes=-1")
