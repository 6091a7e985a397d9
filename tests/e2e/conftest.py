"""Fixtures of the end-to-end tests: a world (tests.helpers.processes) per test, on a SQLite
file or on the test's own PostgreSQL database."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers.pg_servers import PgBouncer
from tests.helpers.processes import Env, PgEnv, stop_procs


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    world = Env(tmp=tmp_path, db_path=tmp_path / "bosun.db", effects=tmp_path / "effects.txt")
    yield world
    for proc in world.procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)


@pytest.fixture
def pg_env(tmp_path: Path, pg_url: str) -> Iterator[PgEnv]:
    """A PgEnv on this test's own fresh, migrated PostgreSQL database."""
    world = PgEnv(
        tmp=tmp_path,
        db_path=tmp_path / "unused.db",
        effects=tmp_path / "effects.txt",
        database=pg_url,
    )
    yield world
    stop_procs(world.procs)


@pytest.fixture
def pgbouncer_env(tmp_path: Path, pg_url: str, pg_bouncer: PgBouncer) -> Iterator[PgEnv]:
    """A PgEnv whose processes reach this test's database through PgBouncer's transaction
    pooling, each LISTENing on a direct connection (`listen_url`); `query` reads directly."""
    world = PgEnv(
        tmp=tmp_path,
        db_path=tmp_path / "unused.db",
        effects=tmp_path / "effects.txt",
        database=pg_bouncer.url(pg_url),
        direct=pg_url,
    )
    yield world
    stop_procs(world.procs)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest) -> Env:
    """The same test on a SQLite file and on a PostgreSQL database."""
    world: Env = request.getfixturevalue("env" if request.param == "sqlite" else "pg_env")
    return world
