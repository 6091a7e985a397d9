"""PostgreSQL plumbing: queries, URL handling, error translation, the lease fence."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from bosun.errors import BosunError, ConfigurationError, LeaseLost, StoreError, StoreUnavailable
from bosun.store.records import Lease
from bosun.store.sqlfiles import load_migrations, load_queries

Q = {name: sql.encode() for name, sql in load_queries("postgresql").items()}
MIGRATIONS = load_migrations("postgresql")
SCHEMA = "bosun"
_MIGRATION_LOCK = 0x626F73756E  # "bosun": serialises concurrent migrators
LEASE_LOST = "BL001"
POOL_WAIT = 5.0  # seconds a call waits for a connection before reporting the store away

T = TypeVar("T")
Conn = psycopg.AsyncConnection[dict[str, Any]]


def split_url(url: str) -> tuple[str, int]:
    """Take bosun's own `pool_max` option out of the URL; the rest goes to libpq."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    pool_max = 10
    kept = []
    for key, value in query:
        if key == "pool_max":
            try:
                pool_max = int(value)
            except ValueError as exc:
                raise ConfigurationError("pool_max must be an integer") from exc
        else:
            kept.append((key, value))
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(kept), "")), pool_max


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def translate(exc: BaseException, where: str) -> BaseException:
    """Map psycopg errors to bosun's tree, keeping the cause."""
    if isinstance(exc, BosunError) or not isinstance(exc, psycopg.Error | OSError):
        return exc
    if isinstance(exc, psycopg.Error) and exc.sqlstate == LEASE_LOST:
        error: BosunError = LeaseLost(exc.diag.message_primary or "lease lost")
    elif isinstance(exc, psycopg.OperationalError | OSError | psycopg.InterfaceError):
        error = StoreUnavailable(f"PostgreSQL {where}: {exc} (is the server up and reachable?)")
    else:
        error = StoreError(f"PostgreSQL {where}: {exc}")
    error.__cause__ = exc
    return error


async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute(f"SET search_path TO {SCHEMA}")


async def current_version(conn: psycopg.AsyncConnection[Any]) -> int:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"
    )
    cur = await conn.execute("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
    row: Any = await cur.fetchone()
    return int(row["v"] if isinstance(row, dict) else row[0])


async def fence(conn: Conn, lease: Lease | None) -> None:
    if lease is None:
        return
    params = {"run_id": lease.run_id, "token": lease.token}
    if await (await conn.execute(Q["fence_run"], params)).fetchone() is None:
        raise LeaseLost(f"run {lease.run_id}: lease {lease.token} is no longer held")
