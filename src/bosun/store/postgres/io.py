"""PostgreSQL plumbing: queries, URL handling, error translation, the lease fence."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Self, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import PoolTimeout

from bosun.errors import (
    BosunError,
    ConfigurationError,
    ConnectionLimitReached,
    LeaseLost,
    StoreError,
    StoreUnavailable,
)
from bosun.records import Lease
from bosun.store.sqlfiles import SqlFunction, load_functions, load_migrations, load_queries

Q = {name: sql.encode() for name, sql in load_queries("postgresql").items()}
MIGRATIONS = load_migrations("postgresql")
FUNCTIONS = load_functions("postgresql")
# The revision of the files in functions/: bump it (and FUNCTIONS_DIGEST, which
# tests/integration/test_pg_functions.py checks) with every change to them. A process re-applies
# its files only if their revision is at least the database's, so an older release that starts
# during a rolling deploy never puts older function bodies back.
FUNCTIONS_REVISION = 6
FUNCTIONS_DIGEST = "b0343a8fd5427e3a0d51a28262ded9f4ba6432772560f88aeec389636542c0b3"
SCHEMA = "bosun"
_MIGRATION_LOCK = 0x626F73756E  # "bosun": serialises concurrent migrators
LEASE_LOST = "BL001"
POOL_WAIT = 5.0  # seconds a call waits for a connection before reporting the store away

T = TypeVar("T")
Conn = psycopg.AsyncConnection[dict[str, Any]]


POOLERS = ("none", "transaction")


@dataclass(frozen=True)
class UrlOptions:
    """A PostgreSQL URL with bosun's own options taken out; `conninfo` goes to libpq.

    A process holds at most `connections` to the database at once: its pool (`pool_max`)
    and, when it listens, one LISTEN connection (`listen_conninfo`). Opening the store first
    migrates on one connection of its own, closed before the pool opens.
    """

    conninfo: str
    pool_max: int = 10
    # `auto`: a database with no memories yet moves onto pgvector when the server offers it;
    # `exact`: it stays on exact search until `bosun db memory-search pgvector`.
    memory_search: str = "auto"
    # `transaction`: the URL reaches the server through a transaction-mode pooler (PgBouncer,
    # RDS Proxy, Supabase's or Neon's pooler): no server-side prepared statements, and no
    # LISTEN through it. `none`: a direct connection (or a session-mode pool).
    pooler: str = "none"
    # Where to LISTEN when the URL goes through a transaction pooler: a direct connection (or
    # a session-mode pool) to the same database. Without one such a process polls.
    listen_url: str | None = None

    @property
    def listen_conninfo(self) -> str | None:
        """The URL of the LISTEN connection; None: none, the process polls."""
        if self.listen_url is not None:
            return self.listen_url
        return None if self.pooler == "transaction" else self.conninfo

    @property
    def connections(self) -> int:
        """The most connections a process holds at once (its pool and its LISTEN one)."""
        return self.pool_max + (self.listen_conninfo is not None)

    def budget(self) -> str:
        """This process's connection budget, in words (for errors and logs)."""
        if self.listen_conninfo is None:
            listen = "no LISTEN connection (it polls)"
        else:
            listen = "1 LISTEN connection" + (" (listen_url)" if self.listen_url else "")
        through = " through the pooler" if self.pooler == "transaction" else ""
        return f"up to {self.pool_max} pooled connections (pool_max){through} + {listen}"


def split_url(url: str) -> UrlOptions:
    """Take bosun's own options (`pool_max`, `memory_search`, `pooler`, `listen_url`) out of
    the URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    options: dict[str, Any] = {}
    kept = []
    for key, value in query:
        if key == "pool_max":
            try:
                options["pool_max"] = int(value)
            except ValueError as exc:
                raise ConfigurationError("pool_max must be an integer") from exc
            if options["pool_max"] < 1:
                raise ConfigurationError(f"pool_max must be at least 1, not {value}")
        elif key == "memory_search":
            if value not in ("auto", "exact"):
                raise ConfigurationError(
                    f"memory_search must be auto or exact, not {value!r} (moving memories "
                    "onto pgvector is `bosun db memory-search pgvector`)"
                )
            options["memory_search"] = value
        elif key == "pooler":
            if value not in POOLERS:
                raise ConfigurationError(
                    f"pooler must be one of {', '.join(POOLERS)}, not {value!r} (a "
                    "session-mode pool needs none: it behaves as a direct connection)"
                )
            options["pooler"] = value
        elif key == "listen_url":
            if urlsplit(value).scheme not in ("postgresql", "postgres"):
                raise ConfigurationError(
                    "listen_url must be a postgresql:// URL, percent-encoded inside the "
                    f"database URL, not {redact(value)!r}"
                )
            options["listen_url"] = split_url(value).conninfo
        else:
            kept.append((key, value))
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    conninfo = urlunsplit((scheme, parts.netloc, parts.path, urlencode(kept), ""))
    return UrlOptions(conninfo, **options)


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


# What a server or pooler says when a connection limit is reached: PostgreSQL's
# max_connections (and the slots it keeps for superusers), a role's or a database's
# CONNECTION LIMIT, PgBouncer's max_client_conn, max_db_connections, max_user_connections.
_REFUSALS = (
    "too many clients already",
    "remaining connection slots are reserved",
    "too many connections for",
    "no more connections allowed",
)
REFUSAL_MEMORY = 60.0  # seconds a refusal explains a pool that cannot get a connection
_refused: dict[str, tuple[float, str]] = {}  # conninfo -> (when, what the server said)


def refusal(exc: BaseException) -> str | None:
    """What the server said, if `exc` is a connection refused for a connection limit."""
    if not isinstance(exc, psycopg.OperationalError):
        return None
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    said = next((line for line in lines if any(m in line for m in _REFUSALS)), None)
    if said is None:
        return None
    return said.split("FATAL:", 1)[-1].strip()


class PooledConnection(psycopg.AsyncConnection[dict[str, Any]]):
    """The pool's connections: a connection refused for a connection limit is noted, so
    that a pool which then cannot hand out a connection says why."""

    @classmethod
    async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        try:
            return await super().connect(conninfo, **kwargs)
        except psycopg.OperationalError as exc:
            said = refusal(exc)
            if said is not None:
                _refused[conninfo] = (time.monotonic(), said)
            raise


def recent_refusal(conninfo: str) -> str | None:
    """What the server said when it last refused a connection to `conninfo`, if lately."""
    noted = _refused.get(conninfo)
    if noted is None or time.monotonic() - noted[0] > REFUSAL_MEMORY:
        return None
    return noted[1]


def translate(exc: BaseException, where: str, options: UrlOptions | None = None) -> BaseException:
    """Map psycopg errors to bosun's tree, keeping the cause. A connection refused for a
    connection limit (or, given the URL's `options`, a pool starved by such refusals)
    becomes `ConnectionLimitReached`, naming the limit and this process's budget."""
    if isinstance(exc, BosunError) or not isinstance(exc, psycopg.Error | OSError):
        return exc
    said = refusal(exc)
    if said is None and options is not None and isinstance(exc, PoolTimeout):
        said = recent_refusal(options.conninfo)
    if said is not None:
        budget = f"; this process holds {options.budget()}" if options is not None else ""
        error: BosunError = ConnectionLimitReached(
            f"PostgreSQL {where} refused a new connection: {said}. Its connection limit is "
            f"reached (the server's max_connections, or the pooler's max_client_conn){budget}."
            " Lower ?pool_max=, raise the limit, or put a transaction-mode pooler in front "
            "(?pooler=transaction; docs/scaling.md has the connection math)"
        )
    elif isinstance(exc, psycopg.Error) and exc.sqlstate == LEASE_LOST:
        error = LeaseLost(exc.diag.message_primary or "lease lost")
    elif isinstance(exc, psycopg.OperationalError | OSError | psycopg.InterfaceError):
        error = StoreUnavailable(f"PostgreSQL {where}: {exc} ({_connection_hint(exc)})")
    else:
        error = StoreError(f"PostgreSQL {where}: {exc}")
    error.__cause__ = exc
    return error


def _connection_hint(exc: BaseException) -> str:
    """What to check, for a connection the server refused or never answered."""
    text = str(exc)
    if 'database "' in text and "does not exist" in text:
        return "the server is up but has no such database: create it first, e.g. with createdb"
    if "password authentication failed" in text or "no password supplied" in text:
        return "check the user and password in the URL"
    return "is the server up and reachable?"


@contextlib.asynccontextmanager
async def in_schema(conn: psycopg.AsyncConnection[Any]) -> AsyncIterator[None]:
    """A transaction whose statements find bosun's tables unqualified (SET LOCAL
    search_path), for rarely run code that names them so. A pooled connection carries no
    session settings (a transaction-mode pooler gives each transaction whichever server
    connection is free), so everything else names its `bosun.` tables itself."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL search_path TO {SCHEMA}".encode())
        yield


async def current_version(conn: psycopg.AsyncConnection[Any]) -> int:
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations ("
        "version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)"
    )
    cur = await conn.execute(
        f"SELECT COALESCE(MAX(version), 0) AS v FROM {SCHEMA}.schema_migrations"
    )
    row: Any = await cur.fetchone()
    return int(row["v"] if isinstance(row, dict) else row[0])


async def apply_functions(
    conn: psycopg.AsyncConnection[Any],
    functions: list[SqlFunction],
    now: float,
    *,
    force: bool,
    revision: int | None = None,
) -> bool:
    """Re-apply the current function definitions (`sql/postgresql/functions/`), in order.

    Call it after the migrations, in their transaction and under their advisory lock: two
    sessions replacing one function at once fail ("tuple concurrently updated"). The digest
    of each file applied is kept in `schema_functions`, with the files' `revision`, so a start
    whose files match those applied last (and that applied no migration: `force`) replaces
    nothing, and one whose revision is older than the database's (an old release starting
    during a rolling deploy) leaves the newer definitions alone. Returns whether it applied
    them.
    """
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_functions ("
        "name text PRIMARY KEY, sha256 text NOT NULL, applied_at double precision NOT NULL, "
        "revision integer NOT NULL DEFAULT 0)"
    )
    if revision is None:
        revision = FUNCTIONS_REVISION
    wanted = {f.name: f.sha256 for f in functions}
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute("SELECT name, sha256, revision FROM schema_functions")
        rows = await cur.fetchall()
    applied = {str(name): str(digest) for name, digest, _ in rows}
    newest = max((int(r) for _, _, r in rows), default=0)
    if not force and (applied == wanted or newest > revision):
        return False
    for function in functions:
        await conn.execute(function.sql.encode())
    # A file removed leaves its functions in place: dropping them takes a migration.
    await conn.execute("DELETE FROM schema_functions")
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO schema_functions (name, sha256, applied_at, revision) "
            "VALUES (%s, %s, %s, %s)",
            [(name, digest, now, revision) for name, digest in wanted.items()],
        )
    return True


async def fence(conn: Conn, lease: Lease | None) -> None:
    if lease is None:
        return
    params = {"run_id": lease.run_id, "token": lease.token}
    if await (await conn.execute(Q["fence_run"], params)).fetchone() is None:
        raise LeaseLost(f"run {lease.run_id}: lease {lease.token} is no longer held")
