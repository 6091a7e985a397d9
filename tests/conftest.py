"""Shared fixtures: every test gets its own real SQLite file or PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.helpers.bytecode import pytest_configure  # noqa: F401 (a hook)
from tests.helpers.pg_servers import PgBouncer, pgbouncer
from tests.helpers.xdist_groups import pytest_collection_modifyitems  # noqa: F401 (a hook)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/bosun.db"


# -- PostgreSQL -------------------------------------------------------------------------------
# One database migrated once per session serves as a template; each test gets its own copy
# (CREATE DATABASE … TEMPLATE), which is much faster than migrating per test.

PG_URL = os.environ.get("BOSUN_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    try:
        admin = _pg_admin()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL at {PG_URL}: {exc}")
        pytest.skip(f"no PostgreSQL at {PG_URL} (set BOSUN_TEST_POSTGRES_URL): {exc}")
    name = f"bosun_tpl_{os.getpid()}"
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    from bosun.store.postgres import PostgresStore

    async def migrate() -> None:
        store = PostgresStore(_with_db(PG_URL, name))
        await store.open()
        await store.close()

    asyncio.run(migrate())
    yield name
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_bouncer() -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of the test server, for this test process.
    A small server pool (each test database gets its own), so tests beside it keep theirs."""
    with pgbouncer(PG_URL, pool_size=6) as bouncer:
        yield bouncer


@pytest.fixture
def pg_bouncer_url(pg_url: str, pg_bouncer: PgBouncer) -> str:
    """This test's database through PgBouncer's transaction pooling, without a LISTEN
    connection (the process polls): nothing may rely on session state or NOTIFY."""
    return pg_bouncer.url(pg_url, listen=False)


class _Databases:
    """Copies of the template, one made ahead while a test runs, and dropped after their test
    in the background: a test does not wait for CREATE DATABASE nor DROP DATABASE (each
    writes and syncs a few MB: ~0.3 s apiece on a busy 2-core machine)."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-databases")
        self.spare = self.pool.submit(self._create)
        self.drops: list[tuple[str, Future[None]]] = []

    def _create(self) -> str:
        name = f"bosun_t_{uuid.uuid4().hex[:12]}"
        with _pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    @staticmethod
    def _drop(name: str) -> None:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def take(self) -> str:
        name = self.spare.result()
        self.spare = self.pool.submit(self._create)
        return name

    def drop(self, name: str) -> None:
        self.drops.append((name, self.pool.submit(self._drop, name)))

    def close(self) -> None:
        spare = self.spare
        self.pool.shutdown(wait=True)
        if spare.exception() is None:
            self._drop(spare.result())
        left = [f"{name}: {fut.exception()}" for name, fut in self.drops if fut.exception()]
        if left:  # the server keeps them until someone drops them: say which, and why
            warnings.warn(f"test databases left behind: {'; '.join(left)}", stacklevel=1)


@pytest.fixture(scope="session")
def pg_databases(pg_template: str) -> Iterator[_Databases]:
    databases = _Databases(pg_template)
    yield databases
    databases.close()  # before the template goes


@pytest.fixture
def pg_url(pg_databases: _Databases) -> Iterator[str]:
    name = pg_databases.take()
    yield _with_db(PG_URL, name)
    pg_databases.drop(name)
