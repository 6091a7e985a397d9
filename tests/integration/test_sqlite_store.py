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
    import bosun.store.sqlite_io as io

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
