"""SQLite plumbing: URL parsing, connections, migrations and the group-commit writer.

All writes go through one writer thread. It takes every operation waiting in its queue and
runs them in a single transaction, so concurrent runs share one
fsync: durable steps per second can exceed the disk's single-commit rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from bosun.errors import (
    BosunError,
    ConfigurationError,
    LeaseLost,
    SchemaTooNew,
    StoreError,
    StoreUnavailable,
)
from bosun.records import JournalEntry, Lease
from bosun.store.rows import entry_params
from bosun.store.sqlfiles import Migration, load_migrations, load_queries

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

Q = load_queries("sqlite")
MIGRATIONS = load_migrations("sqlite")
_SYNC_MODES = {"OFF", "NORMAL", "FULL", "EXTRA"}
MAX_BATCH = 512
DEFAULT_OFFLOAD_BYTES = 16 * 1024  # inputs and results larger than this leave the runs row


@dataclass(frozen=True)
class SqliteConfig:
    """Where the database lives and how hard it syncs."""

    path: str
    synchronous: str = "FULL"
    busy_timeout_ms: int = 5000
    offload_bytes: int = DEFAULT_OFFLOAD_BYTES

    @classmethod
    def from_url(cls, url: str) -> SqliteConfig:
        """Parse `sqlite:///relative.db`, `sqlite:////absolute.db`, with query options
        `synchronous=FULL|NORMAL|OFF|EXTRA`, `busy_timeout_ms=N` and `offload_bytes=N`."""
        parts = urlsplit(url)
        if parts.scheme != "sqlite":
            raise ConfigurationError(f"not a SQLite URL: {url!r}")
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if parts.netloc or not path or path == ":memory:":
            raise ConfigurationError(
                f"bad SQLite URL {url!r}: use sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db (in-memory databases cannot be shared)"
            )
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(options) - {"synchronous", "busy_timeout_ms", "offload_bytes"}
        if unknown:
            raise ConfigurationError(f"unknown SQLite URL option(s): {', '.join(sorted(unknown))}")
        sync = options.get("synchronous", "FULL").upper()
        if sync not in _SYNC_MODES:
            raise ConfigurationError(
                f"synchronous={sync!r}: choose one of {', '.join(sorted(_SYNC_MODES))}"
            )
        try:
            busy = int(options.get("busy_timeout_ms", "5000"))
            offload = int(options.get("offload_bytes", str(DEFAULT_OFFLOAD_BYTES)))
        except ValueError as exc:
            raise ConfigurationError("busy_timeout_ms and offload_bytes must be integers") from exc
        if offload < 0:
            raise ConfigurationError("offload_bytes must be >= 0")
        return cls(path=path, synchronous=sync, busy_timeout_ms=busy, offload_bytes=offload)


def translate(exc: BaseException, path: str) -> BaseException:
    """Turn a driver error into bosun's tree, keeping the cause."""
    if isinstance(exc, BosunError) or not isinstance(exc, sqlite3.Error):
        return exc
    text = str(exc)
    if "locked" in text or "busy" in text:
        hint = "another process holds a lock on it; stop it or raise busy_timeout_ms"
    elif "not a database" in text or "malformed" in text:
        hint = "the file is not a SQLite database; use another database URL"
    elif "unable to open" in text or "readonly" in text:
        hint = "check the path exists and is readable and writable"
    elif isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        hint = "the database cannot be used"
    else:
        return StoreError(f"SQLite database {path}: {text}")
    error = StoreUnavailable(f"SQLite database {path}: {text} ({hint})")
    error.__cause__ = exc
    return error


def connect(config: SqliteConfig) -> sqlite3.Connection:
    """Open a connection in autocommit mode with WAL and the configured sync level."""
    conn = sqlite3.connect(config.path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(config.busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {config.synchronous}")
    conn.execute("PRAGMA foreign_keys = OFF")
    return conn


def _statements(script: str) -> list[str]:
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()
    ):
        raise StoreError(f"incomplete SQL statement in migration: {buffer[:80]!r}")
    return statements


def _has_migrations_table(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    return row is not None


def current_version(conn: sqlite3.Connection) -> int:
    if not _has_migrations_table(conn):
        conn.execute(
            "CREATE TABLE schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, migrations: list[Migration], path: str) -> int:
    """Apply missing migrations in one transaction; refuse a newer schema.

    An up-to-date database is only read, so opening it never waits for a writer.
    """
    latest = migrations[-1].version if migrations else 0
    if _has_migrations_table(conn):
        version = current_version(conn)
        if version == latest:
            return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(conn)
        latest = migrations[-1].version if migrations else 0
        if version > latest:
            raise SchemaTooNew(
                f"SQLite database {path} is at schema version {version}, but this bosun "
                f"knows versions up to {latest}: upgrade bosun, or use another database"
            )
        for migration in migrations:
            if migration.version <= version:
                continue
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
            version = migration.version
        conn.execute("COMMIT")
        return version
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class GroupCommitWriter:
    """One thread, one connection; queued operations share transactions."""

    def __init__(self, config: SqliteConfig) -> None:
        self._config = config
        self._queue: queue.SimpleQueue[tuple[Op, asyncio.Future[Any]] | None] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="bosun-sqlite-writer", daemon=True)
        self._thread.start()

    async def submit(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run `op` inside the next group transaction; raise what it raised."""
        if self._thread is None:
            raise StoreError("the SQLite store is not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put((op, future))
        return await future

    async def stop(self) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    def _run(self) -> None:
        assert self._conn is not None
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            outcomes = self._run_batch(self._conn, [op for op, _ in batch])
            assert self._loop is not None
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(_deliver, batch, outcomes)
        self._conn.close()

    def _run_batch(self, conn: sqlite3.Connection, ops: list[Op]) -> list[tuple[bool, Any]]:
        """Run `ops` in one transaction.

        Operations check their preconditions before they write, and raise a `BosunError`
        only then, so such a refusal leaves nothing to undo. Any other error may have left a
        partial write: the batch is rolled back and each operation retried on its own.
        """
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            return [(False, translate(exc, self._config.path))] * len(ops)
        outcomes: list[tuple[bool, Any]] = []
        for op in ops:
            try:
                outcomes.append((True, op(conn)))
            except BosunError as exc:
                outcomes.append((False, exc))
            except Exception as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if len(ops) == 1:
                    return [(False, translate(exc, self._config.path))]
                return [self._run_batch(conn, [one])[0] for one in ops]
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            return [(False, translate(exc, self._config.path))] * len(ops)
        return outcomes


def _deliver(batch: list[tuple[Op, asyncio.Future[Any]]], outcomes: list[tuple[bool, Any]]) -> None:
    for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class Reader:
    """Reads on their own connection and thread, so they never wait for the writer."""

    def __init__(self, config: SqliteConfig) -> None:
        self._config = config
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def start(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def submit(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read that may scan many rows on a thread."""
        return await asyncio.to_thread(self._call, self._connection(), op)

    def call(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run a point read inline: an indexed lookup costs less than a thread hop."""
        return self._call(self._connection(), op)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the SQLite store is not open")
        return self._conn

    def _call(self, conn: sqlite3.Connection, op: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                return op(conn)
            except sqlite3.Error as exc:
                raise translate(exc, self._config.path) from exc

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def ensure_parent(path: str) -> None:
    """Create the folder of the database file (the default lives in ./.bosun/)."""
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(f"cannot create folder {parent} for {path}: {exc}") from exc


def journal_params(run_id: str, entry: JournalEntry) -> dict[str, Any]:
    return {"run_id": run_id, **entry_params(entry)}


def fence(conn: sqlite3.Connection, lease: Lease | None) -> None:
    if lease is None:
        return
    fence = {"run_id": lease.run_id, "token": lease.token}
    if conn.execute(Q["check_lease"], fence).fetchone() is None:
        raise LeaseLost(f"run {lease.run_id}: lease {lease.token} is no longer held")
