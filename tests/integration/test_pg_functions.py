"""PostgreSQL functions live in `sql/postgresql/functions/`, one file per name, and are
re-applied after the migrations on every open: the files agree with what the migrations
defined, a changed file takes effect without a migration, and many processes may start at once.
"""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

import bosun.store.postgres.io as pg_io
import bosun.store.postgres.store as pg
from bosun.store.postgres import PostgresStore
from bosun.store.sqlfiles import SqlFunction, functions_digest, load_functions, load_migrations

pytestmark = pytest.mark.timeout(120)

Definitions = dict[str, str]  # signature -> pg_get_functiondef


def definitions(conn: psycopg.Connection[tuple[object, ...]]) -> Definitions:
    rows = conn.execute(
        "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc AS p "
        "JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE n.nspname = 'bosun'"
    ).fetchall()
    return {str(sig): str(text) for sig, text in rows}


def versions(url: str) -> dict[str, object]:
    """Each bosun function's pg_proc row version: CREATE OR REPLACE writes a new one."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT p.oid::regprocedure::text, p.xmin::text FROM pg_proc AS p "
            "JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE n.nspname = 'bosun'"
        ).fetchall()
    return {str(sig): xmin for sig, xmin in rows}


def migrations_only(url: str) -> None:
    """The schema as the migrations alone leave it, in an empty database."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA bosun CASCADE")
        with conn.transaction():
            conn.execute("CREATE SCHEMA bosun")
            conn.execute("SET LOCAL search_path TO bosun")
            for migration in load_migrations("postgresql"):
                conn.execute(migration.sql.encode())


def name_of(signature: str) -> str:
    return signature.removeprefix("bosun.").split("(")[0]


async def open_and_close(url: str) -> None:
    store = PostgresStore(url)
    await store.open()
    await store.close()


async def open_at_once(url: str, processes: int = 8) -> None:
    """Open and close `processes` stores at once, each migrating on its own connection."""
    results = await asyncio.gather(
        *(open_and_close(url) for _ in range(processes)), return_exceptions=True
    )
    assert [r for r in results if r is not None] == []


VERSION_IS_SERVED = "bosun.version_is_served(text, text, double precision)"


def version_is_served_now(url: str) -> str:
    """The definition of `version_is_served` the database holds."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT pg_get_functiondef(%s::regprocedure)", (VERSION_IS_SERVED,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def with_marked_version_is_served(marker: str) -> list[SqlFunction]:
    """The function files, with `version_is_served`'s body carrying a comment `marker`."""
    return [
        SqlFunction(f.name, f.sql.replace("SELECT EXISTS", f"SELECT /* {marker} */ EXISTS"))
        if f.name == "version_is_served"
        else f
        for f in load_functions("postgresql")
    ]


def test_every_function_has_one_file_that_redefines_what_the_migrations_left(
    pg_url: str,
) -> None:
    """Each function the migrations leave is redefined by its file, with the same arguments
    and result (CREATE OR REPLACE cannot change those: that takes a migration). The bodies
    may differ: a changed body needs no migration, only a new FUNCTIONS_REVISION."""
    functions = load_functions("postgresql")
    assert functions, "no files in sql/postgresql/functions"
    migrations_only(pg_url)
    migrated = versions(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET search_path TO bosun")
        with conn.transaction():
            for function in functions:
                conn.execute(function.sql.encode())
    from_files = versions(pg_url)
    files = {f.name for f in functions}
    assert {name_of(sig) for sig in migrated} <= files, "functions the migrations define"
    # A file may add a function no migration defines (that needs no migration); every
    # function the migrations leave must be replaced by its file, signature and all.
    for sig, version in migrated.items():
        assert from_files[sig] != version, (
            f"functions/{name_of(sig)}.sql does not define {sig} as the migrations left it "
            "(a changed signature needs a migration that drops the old one)"
        )
    assert {name_of(sig) for sig in from_files} == files, "each file defines its own name"


async def test_a_changed_function_file_is_applied_on_the_next_open(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await open_and_close(pg_url)
    before = versions(pg_url)
    await open_and_close(pg_url)
    assert versions(pg_url) == before, "an open with unchanged files replaced functions"

    changed = with_marked_version_is_served("changed")
    assert changed != load_functions("postgresql")
    monkeypatch.setattr(pg, "FUNCTIONS", changed)
    store = PostgresStore(pg_url)
    await store.open()
    try:
        assert await store.schema_version() == load_migrations("postgresql")[-1].version
    finally:
        await store.close()
    assert "/* changed */" in version_is_served_now(pg_url)
    with psycopg.connect(pg_url) as conn:
        digest = conn.execute(
            "SELECT sha256 FROM bosun.schema_functions WHERE name = 'version_is_served'"
        ).fetchone()
    assert digest == (next(f for f in changed if f.name == "version_is_served").sha256,)

    monkeypatch.undo()
    await open_and_close(pg_url)
    assert "/* changed */" not in version_is_served_now(pg_url)


async def test_many_processes_may_open_a_new_database_at_once(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA bosun CASCADE")
    await open_at_once(pg_url)
    with psycopg.connect(pg_url) as conn:
        applied = conn.execute("SELECT count(*) FROM bosun.schema_migrations").fetchone()
        names = conn.execute("SELECT name FROM bosun.schema_functions ORDER BY name").fetchall()
    assert applied == (len(load_migrations("postgresql")),)
    assert [n for (n,) in names] == [f.name for f in load_functions("postgresql")]


async def test_many_processes_may_apply_changed_functions_at_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamp = f"/* {time.time()} */"
    changed = [
        SqlFunction(f.name, f.sql.replace("AS $$", f"AS $${stamp}"))
        for f in load_functions("postgresql")
    ]
    monkeypatch.setattr(pg, "FUNCTIONS", changed)
    await open_at_once(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET search_path TO bosun")
        texts = definitions(conn)
    assert texts and all(stamp in text for text in texts.values())


def test_the_function_files_match_their_recorded_revision() -> None:
    """A change to a file in functions/ comes with a new FUNCTIONS_REVISION: the digest of
    the files is recorded beside it, so an unbumped change fails here."""
    digest = functions_digest(load_functions("postgresql"))
    assert digest == pg_io.FUNCTIONS_DIGEST, (
        "functions/ changed: bump FUNCTIONS_REVISION in bosun/store/postgres/io.py and set "
        f"FUNCTIONS_DIGEST = {digest!r}"
    )


async def test_an_older_release_leaves_newer_functions_alone(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """During a rolling deploy the old release's processes keep starting: their older files
    must not replace what the new release applied."""
    newer = with_marked_version_is_served("newer")
    monkeypatch.setattr(pg, "FUNCTIONS", newer)
    monkeypatch.setattr(pg_io, "FUNCTIONS_REVISION", pg_io.FUNCTIONS_REVISION + 1)
    await open_and_close(pg_url)  # the new release
    monkeypatch.undo()
    await open_and_close(pg_url)  # an old process starting after it
    assert "/* newer */" in version_is_served_now(pg_url)
