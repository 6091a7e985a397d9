"""pgvector for memories: which search path a database uses, and moving its memories onto
pgvector and back.

The path lives in the database, not in a process: the `add_memory` and `search_memories`
functions (`sql/postgresql/functions/`) read `memory_vectors` on every call, so every process
sharing the database switches at the commit of the move, whichever release it runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

from bosun.errors import ConfigurationError

log = logging.getLogger("bosun.store")

MemorySearchPath = Literal["exact", "pgvector"]
# What `?memory_search=` in a PostgreSQL URL may say: `auto` moves a database with no memories
# yet onto pgvector when the server offers the extension; `exact` never moves on its own.
AUTO_MODES = ("auto", "exact")
# pgvector's HNSW build is much faster while the graph fits in memory (its default: 64 MB).
BUILD_MEMORY = "512MB"
# Where bosun creates the extension when the database lacks it: a schema of its own, so
# pgvector's hundred functions and operators stay out of bosun's schema. A database that
# has the extension already (in `public`, say) is used as it is.
EXTENSION_SCHEMA = "bosun_vector"


@dataclass(frozen=True)
class MemorySearch:
    """Where a PostgreSQL database's memories are searched, for `bosun db memory-search`."""

    path: MemorySearchPath
    extension: Literal["enabled", "available", "missing"]  # pgvector on this server
    vector_schema: str | None
    memories: int
    indexed_dims: tuple[int, ...]  # dimension counts with an HNSW index

    def describe(self) -> str:
        if self.path == "pgvector":
            dims = ", ".join(map(str, self.indexed_dims)) or "none yet"
            return (
                f"pgvector (HNSW, cosine; indexed dimensions: {dims}) over {self.memories} memories"
            )
        hint = {
            "enabled": "pgvector is installed: `bosun db memory-search pgvector` moves them",
            "available": "the server offers pgvector: `bosun db memory-search pgvector` moves them",
            "missing": "the server has no pgvector: see docs/operations.md to add it",
        }[self.extension]
        return f"exact (float8 arrays) over {self.memories} memories; {hint}"


def _first(row: Any) -> Any:
    """A row's first column, from the pool's dict rows or the migration's tuples."""
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


async def _scalar(conn: psycopg.AsyncConnection[Any], query: str) -> Any:
    row = await (await conn.execute(query.encode())).fetchone()
    return None if row is None else _first(row)


async def _column(conn: psycopg.AsyncConnection[Any], query: str) -> list[Any]:
    return [_first(row) for row in await (await conn.execute(query.encode())).fetchall()]


async def _extension(conn: psycopg.AsyncConnection[Any]) -> tuple[str, str | None]:
    """pgvector on this server: ("enabled", its schema), ("available", None) or ("missing",
    None)."""
    schema = await _scalar(
        conn,
        "SELECT n.nspname FROM pg_extension AS e JOIN pg_namespace AS n "
        "ON n.oid = e.extnamespace WHERE e.extname = 'vector'",
    )
    if schema is not None:
        return "enabled", str(schema)
    offered = await _scalar(
        conn, "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"
    )
    return ("available" if offered else "missing"), None


async def path(conn: psycopg.AsyncConnection[Any]) -> MemorySearchPath:
    """The path `search_memories` takes now."""
    moved = await _scalar(conn, "SELECT count(*) FROM memory_vectors")
    return "pgvector" if moved else "exact"


async def move_when_empty(conn: psycopg.AsyncConnection[Any], now: float) -> None:
    """At start (`?memory_search=auto`, the default): a database with no memories yet moves
    onto pgvector when the server offers it; one with memories says how to move them. In
    the caller's transaction, under the migration lock; a refusal (no privilege to create
    the extension) leaves the exact path and says so."""
    if await path(conn) == "pgvector":
        return
    state, _ = await _extension(conn)
    if state == "missing":
        return
    if await _scalar(conn, "SELECT EXISTS (SELECT 1 FROM memories)"):
        log.warning(
            "this PostgreSQL server offers pgvector, but memories are searched exactly: "
            "`bosun db memory-search pgvector` moves them onto its HNSW index"
        )
        return
    try:
        async with conn.transaction():
            await enable(conn, now)
    except ConfigurationError as exc:
        log.warning("memories stay on exact search: %s", exc)


async def describe(conn: psycopg.AsyncConnection[Any]) -> MemorySearch:
    """The path in use (call with `search_path` set to bosun's schema)."""
    extension, _ = await _extension(conn)
    schema = await _scalar(conn, "SELECT vector_schema FROM memory_vectors")
    count = int(await _scalar(conn, "SELECT count(*) FROM memories") or 0)
    cur = await conn.execute(b"SELECT dims FROM memory_indexes ORDER BY dims")
    dims = tuple(
        int(next(iter(r.values())) if isinstance(r, dict) else r[0]) for r in await cur.fetchall()
    )
    return MemorySearch(
        path="pgvector" if schema is not None else "exact",
        extension=extension,  # type: ignore[arg-type]
        vector_schema=schema,
        memories=count,
        indexed_dims=dims,
    )


async def enable(conn: psycopg.AsyncConnection[Any], now: float) -> None:
    """Move every memory onto pgvector, in the caller's transaction: creates the extension
    (in `EXTENSION_SCHEMA`) if the server offers it and the database lacks it, converts the
    float8 arrays to `vector`, and builds one HNSW index per dimension count. All or nothing.
    """
    if await _scalar(conn, "SELECT vector_schema FROM memory_vectors") is not None:
        return
    state, schema = await _extension(conn)
    if state == "missing":
        raise ConfigurationError(
            "this PostgreSQL server has no pgvector extension: install it on the server "
            "(Debian: postgresql-NN-pgvector; managed services: enable `vector`) and try again"
        )
    if schema is None:
        try:
            async with conn.transaction():
                where = sql.Identifier(EXTENSION_SCHEMA)
                await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(where))
                await conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS vector SCHEMA {}").format(where)
                )
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ConfigurationError(
                "creating the pgvector extension needs a role allowed to (a superuser, or "
                "rds_superuser / azure_pg_admin on managed services): run "
                "`CREATE EXTENSION vector` as one, then this again"
            ) from exc
        schema = EXTENSION_SCHEMA
    vector = sql.SQL("{}.vector").format(sql.Identifier(schema))
    await conn.execute(
        sql.SQL("ALTER TABLE memories ADD COLUMN IF NOT EXISTS vec {}").format(vector)
    )
    moved = await conn.execute(
        sql.SQL(
            "UPDATE memories SET vec = embedding::{}, embedding = NULL WHERE embedding IS NOT NULL"
        ).format(vector)
    )
    await conn.execute(
        "INSERT INTO memory_vectors (vector_schema, enabled_at) VALUES (%s, %s)", (schema, now)
    )
    await conn.execute(
        sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(BUILD_MEMORY))
    )
    cur = await conn.execute(b"SELECT DISTINCT dims FROM memories ORDER BY dims")
    for row in await cur.fetchall():
        dims = int(next(iter(row.values())) if isinstance(row, dict) else row[0])
        await conn.execute("SELECT memory_index(%s, %s)", (dims, schema))
    log.info("memories moved onto pgvector (%d converted)", moved.rowcount)


async def disable(conn: psycopg.AsyncConnection[Any]) -> None:
    """Move every memory back to float8 arrays and exact search, in the caller's
    transaction, so the extension can be dropped. pgvector keeps 4-byte floats, so scores
    may differ from before in the seventh digit."""
    schema = await _scalar(conn, "SELECT vector_schema FROM memory_vectors")
    if schema is None:
        return
    await conn.execute(
        b"UPDATE memories SET embedding = vec::real[]::double precision[], vec = NULL "
        b"WHERE vec IS NOT NULL"
    )
    await conn.execute(b"ALTER TABLE memories DROP COLUMN vec")  # its indexes go with it
    await conn.execute(b"DELETE FROM memory_indexes")
    await conn.execute(b"DELETE FROM memory_vectors")
    log.info("memories moved back to exact search")
