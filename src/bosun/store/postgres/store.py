"""The PostgreSQL connector: psycopg 3 async with a pool, SKIP LOCKED claims, LISTEN/NOTIFY.

Each domain operation is one round trip where it matters: a worker's fenced writes are one
call of the `save_progress_batch` SQL function (see `sql/postgresql/functions`). NOTIFY wakes idle
workers when a run becomes ready and result waiters when a run ends; polling stays the fallback.
Schedules and rate limits live in their own modules, mixed in here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from bosun.errors import (
    BosunError,
    InvalidRunState,
    LeaseLost,
    RunNotFound,
    SchemaTooNew,
    StoreError,
)
from bosun.events import CANCELLED_EVENT, RESUMED_EVENT, signal_event
from bosun.records import (
    QUEUE_FORGET_AFTER,
    TERMINAL_STATUSES,
    UNSERVED_GRACE,
    ClaimedRun,
    EventRecord,
    JournalEntry,
    Lease,
    NewRun,
    Progress,
    QueueStats,
    RunFilter,
    RunRecord,
    UnservedWork,
)
from bosun.store.admission import candidate_window
from bosun.store.notify import Finished, LocalNotifier
from bosun.store.postgres import vectors
from bosun.store.postgres.api_keys import PostgresApiKeys
from bosun.store.postgres.io import (
    _MIGRATION_LOCK,
    FUNCTIONS,
    MIGRATIONS,
    POOL_WAIT,
    SCHEMA,
    Conn,
    PooledConnection,
    Q,
    T,
    apply_functions,
    current_version,
    redact,
    split_url,
    translate,
)
from bosun.store.postgres.memories import PostgresMemories
from bosun.store.postgres.progress import ProgressBatcher
from bosun.store.postgres.rate_limits import PostgresRateLimits
from bosun.store.postgres.schedules import PostgresSchedules
from bosun.store.postgres.sessions import PostgresSessions, append_params
from bosun.store.postgres.usage import PostgresUsage
from bosun.store.postgres.workers import PostgresWorkers
from bosun.store.postgres.workload import PostgresWorkload
from bosun.store.rows import (
    claimed_runs,
    dump_json,
    entry_from_row,
    entry_params,
    event_from_row,
    journal_query,
    list_runs_sql,
    run_from_row,
    run_params,
    stats_from_row,
    unserved_from_row,
    with_history,
)
from bosun.store.waiters import ResultWaiters

log = logging.getLogger("bosun.store.postgres")
MAX_NOTIFY_BYTES = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
PLAIN_OUTCOMES = frozenset({"complete", "fail", "suspend"})


class PostgresStore(
    PostgresSchedules,
    PostgresRateLimits,
    PostgresApiKeys,
    PostgresUsage,
    PostgresSessions,
    PostgresMemories,
    PostgresWorkers,
    PostgresWorkload,
):
    """Store on a PostgreSQL server; any number of processes and machines may share it."""

    schema_latest = MIGRATIONS[-1].version
    # NOTIFY wakes streams, and polling only covers a lost listener; a process with no
    # LISTEN connection (a transaction pooler and no listen_url) polls every 0.5 s instead.
    events_poll_interval = 5.0

    def __init__(self, url: str) -> None:
        self.url = url
        self._options = split_url(url)
        self._conninfo, self._pool_max = self._options.conninfo, self._options.pool_max
        # Through a transaction pooler, psycopg's server-side prepared statements would land
        # on whichever server connection the pooler picks next (PgBouncer before 1.21 does
        # not carry them): every statement is sent whole instead.
        self._prepare: dict[str, Any] = (
            {"prepare_threshold": None} if self._options.pooler == "transaction" else {}
        )
        if not self._options.listen_conninfo:
            self.events_poll_interval = 0.5
        self.notifier = LocalNotifier()
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._listener: asyncio.Task[None] | None = None
        # NOTIFY tells result waiters of runs other processes finish; without a LISTEN
        # connection they are read on a timer, as on SQLite.
        self.results = ResultWaiters(
            self.notifier, self.finished_runs, lambda: self._listener is not None
        )
        self._follow_events = False
        self._sending: set[asyncio.Task[None]] = set()  # live events owed to a new watch
        self._origin = uuid.uuid4().hex[:12]  # tells this process's NOTIFYs from others'
        self._where = redact(self._conninfo)

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        if self._pool is not None:
            return
        await self._migrate()
        # No session state: every statement names bosun's schema, and the SQL functions set
        # what they need for their own call, so any transaction may run on any connection.
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._pool_max,
            kwargs={"autocommit": True, "row_factory": dict_row, **self._prepare},
            connection_class=PooledConnection,
            open=False,
            # Fail a call within seconds while the server is away (callers back off and
            # retry), and keep trying to reconnect at a bounded pace.
            timeout=POOL_WAIT,
            reconnect_timeout=POOL_WAIT,
        )
        try:
            await pool.open(wait=True, timeout=10)
        except Exception as exc:
            await pool.close()
            raise translate(exc, self._where, self._options) from exc
        self._pool = pool
        self._progress = ProgressBatcher(pool, self._where, self._options)
        if self._options.listen_conninfo is not None:
            self._listener = asyncio.create_task(self._listen(), name="bosun-pg-listen")
        else:
            log.info(
                "PostgreSQL %s through a transaction pooler without listen_url: no LISTEN, "
                "workers and streams poll",
                self._where,
            )
        log.debug("PostgreSQL %s: this process holds %s", self._where, self._options.budget())

    async def close(self) -> None:
        await self.results.close()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        for task in list(self._sending):
            task.cancel()
        if self._pool is not None:
            await self._progress.close()
            pool, self._pool = self._pool, None
            await pool.close()

    async def _migrate(self) -> None:
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, **self._prepare
            )
        except Exception as exc:
            raise translate(exc, self._where, self._options) from exc
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                await conn.execute(f"SET LOCAL search_path TO {SCHEMA}")
                version = await current_version(conn)
                latest = MIGRATIONS[-1].version
                if version > latest:
                    raise SchemaTooNew(
                        f"PostgreSQL database {self._where} is at bosun schema version "
                        f"{version}, but this bosun knows versions up to {latest}: upgrade "
                        "bosun, or use another database"
                    )
                for migration in MIGRATIONS:
                    if migration.version > version:
                        await conn.execute(migration.sql.encode())
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name, applied_at) "
                            "VALUES (%s, %s, %s)",
                            (migration.version, migration.name, time.time()),
                        )
                # Each function as it is now, from its one file: migrations that defined it
                # stay as they were (databases have applied them).
                await apply_functions(conn, FUNCTIONS, time.time(), force=version < latest)
                if self._options.memory_search == "auto":
                    await vectors.move_when_empty(conn, time.time())
        except BosunError:
            raise
        except Exception as exc:
            raise translate(exc, self._where, self._options) from exc
        finally:
            await conn.close()

    async def schema_version(self) -> int:
        async def op(conn: Conn) -> int:
            return await current_version(conn)

        return await self._run(op, idempotent=True)

    # -- plumbing -------------------------------------------------------------------------

    async def _run(self, op: Callable[[Conn], Awaitable[T]], *, idempotent: bool = False) -> T:
        """Run `op` on a pooled connection, translating errors.

        When a connection turns out broken (the server restarted), every idle connection is
        checked at once so that later calls get fresh ones. An idempotent operation (reads,
        `create_run`) is then retried once; others are not, since they may have been applied.
        """
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not open")
        for attempt in (1, 2):
            try:
                async with self._pool.connection() as conn:
                    return await op(conn)
            except BosunError:
                raise
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                with contextlib.suppress(Exception):
                    await self._pool.check()
                if not idempotent or attempt == 2:
                    raise translate(exc, self._where, self._options) from exc
            except Exception as exc:
                raise translate(exc, self._where, self._options) from exc
        raise AssertionError("unreachable")

    async def _listen(self) -> None:
        """Turn NOTIFY into local wake-ups; reconnect with back-off when the server goes.

        On its own connection, outside the pool: on the URL itself, or on `listen_url` when
        the URL goes through a transaction pooler (LISTEN needs a session)."""
        listen = self._options.listen_conninfo
        assert listen is not None
        delay = 0.1
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(listen, autocommit=True)
                try:
                    await conn.execute("LISTEN bosun_work")
                    await conn.execute("LISTEN bosun_finished")
                    await conn.execute("LISTEN bosun_watch")
                    if self._follow_events:
                        await conn.execute("LISTEN bosun_events")
                        await conn.execute("LISTEN bosun_ephemeral")
                    delay = 0.1
                    self.notifier.work_ready()  # anything missed while disconnected
                    async for note in conn.notifies():
                        if note.channel == "bosun_work":
                            self.notifier.work_ready()
                        elif note.channel == "bosun_events":
                            self.notifier.events_added(note.payload)
                        elif note.channel == "bosun_ephemeral":
                            self._heard_ephemeral(note.payload)
                        elif note.channel == "bosun_watch":
                            self._heard_watch(note.payload)
                        else:
                            self.notifier.run_finished(note.payload, None)
                finally:
                    await conn.close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- runs -----------------------------------------------------------------------------

    async def create_run(self, run: NewRun) -> tuple[str, bool]:
        async def op(conn: Conn) -> tuple[str, bool]:
            # One statement (insert and NOTIFY) in autocommit: one round trip.
            cur = await conn.execute(Q["insert_run"], run_params(run, time.time()))
            if await cur.fetchone() is not None:
                return run.id, True
            params = {"id": run.id, "key": run.idempotency_key}
            row = await (await conn.execute(Q["conflicting_run"], params)).fetchone()
            if row is None:
                raise InvalidRunState(f"run {run.id} could not be created")
            return str(row["id"]), row["id"] == run.id

        # Safe to retry on a broken connection: a second insert finds the first one.
        return await self._run(op, idempotent=True)

    async def create_claimed_run(
        self, run: NewRun, owner: str, lease_ttl: float, *, version: str | None = None
    ) -> ClaimedRun | None:
        async def op(conn: Conn) -> ClaimedRun | None:
            now = time.time()
            params = {
                **run_params(run, now),
                "owner": owner,
                "expires": now + lease_ttl,
                "version": version,
            }
            row = await (await conn.execute(Q["insert_claimed_run"], params)).fetchone()
            if row is None:
                return None
            lease = Lease(run.id, owner, row["lease_token"], row["wake_seq"])
            return ClaimedRun(run_from_row(row), lease, {}, [])

        return await self._run(op)

    async def get_run(self, run_id: str) -> RunRecord | None:
        async def op(conn: Conn) -> RunRecord | None:
            row = await (await conn.execute(Q["get_run"], {"id": run_id})).fetchone()
            return None if row is None else run_from_row(row)

        return await self._run(op, idempotent=True)

    async def finished_runs(self, run_ids: Sequence[str]) -> list[RunRecord]:
        async def op(conn: Conn) -> list[RunRecord]:
            cur = await conn.execute(Q["finished_runs"], {"ids": list(run_ids)})
            return [run_from_row(r) for r in await cur.fetchall()]

        return await self._run(op, idempotent=True)

    async def list_runs(self, where: RunFilter) -> list[RunRecord]:
        sql, params = list_runs_sql(where, "%s", f"{SCHEMA}.runs")

        async def op(conn: Conn) -> list[RunRecord]:
            rows = await (await conn.execute(sql.encode(), params)).fetchall()
            return [run_from_row(r) for r in rows]

        return await self._run(op, idempotent=True)

    async def get_journal(self, run_id: str, *, status: str | None = None) -> list[JournalEntry]:
        query, params = journal_query(run_id, status)

        async def op(conn: Conn) -> list[JournalEntry]:
            rows = await (await conn.execute(Q[query], params)).fetchall()
            return [entry_from_row(r) for r in rows]

        return await self._run(op, idempotent=True)

    async def list_events(
        self, run_id: str, after: int = 0, limit: int = 1000
    ) -> list[EventRecord]:
        async def op(conn: Conn) -> list[EventRecord]:
            params = {"run_id": run_id, "after": after, "limit": limit}
            cur = await conn.execute(Q["events_of"], params)
            return [event_from_row(r) for r in await cur.fetchall()]

        return await self._run(op, idempotent=True)

    async def publish(self, run_id: str, event_type: str, data: str) -> None:
        self.notifier.ephemeral(run_id, event_type, data)
        await self._notify(
            "bosun_ephemeral", [self._origin, run_id, event_type, data], f"run {run_id}"
        )

    async def watch(self, run_id: str) -> None:
        await self._notify("bosun_watch", [self._origin, run_id], f"run {run_id}")

    async def _notify(self, channel: str, message: list[str], about: str) -> None:
        """Best effort: a lost ephemeral event or watch leaves the durable events to come."""
        payload = json.dumps(message, separators=(",", ":"))
        if len(payload.encode()) > MAX_NOTIFY_BYTES:
            return  # too large for NOTIFY: this process's streams have it, others do not

        async def op(conn: Conn) -> None:
            await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))

        try:
            await self._run(op)
        except StoreError as exc:
            log.debug("%s of %s not sent: %s", channel, about, exc)

    def _heard_watch(self, payload: str) -> None:
        """Another process streams a run: send it the live events of its steps running here."""
        try:
            origin, run_id = json.loads(payload)
        except ValueError:
            return
        if origin == self._origin:  # this process's streams are known without it
            return
        self.notifier.watch(run_id)
        for event_type, data in self.notifier.live(run_id):
            message = [self._origin, run_id, event_type, data]
            task = asyncio.create_task(self._notify("bosun_ephemeral", message, f"run {run_id}"))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    def _heard_ephemeral(self, payload: str) -> None:
        try:
            origin, run_id, event_type, data = json.loads(payload)
        except ValueError:
            return
        if origin != self._origin:  # this process delivered its own at once
            self.notifier.ephemeral(run_id, event_type, data)

    async def follow_events(self) -> None:
        """LISTEN for new events too (only processes that serve streams pay for it)."""
        if self._follow_events:
            return
        self._follow_events = True
        if self._listener is not None:  # reconnect so the listener subscribes
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = asyncio.create_task(self._listen(), name="bosun-pg-listen")

    async def set_queue_limit(self, queue: str, max_running: int | None) -> None:
        async def op(conn: Conn) -> None:
            if max_running is None:
                await conn.execute(Q["delete_queue_limit"], {"queue": queue})
            else:
                params = {"queue": queue, "max_running": max_running, "now": time.time()}
                await conn.execute(Q["set_queue_limit"], params)
                await conn.execute("SELECT pg_notify('bosun_work', %s)", (queue,))

        await self._run(op)

    async def queue_stats(
        self, tenant: str | None = None, known: Iterable[str] = ()
    ) -> list[QueueStats]:
        declared = sorted(set(known))

        async def op(conn: Conn) -> list[QueueStats]:
            now = time.time()
            params = {
                "tenant": tenant,
                "now": now,
                "since": now - QUEUE_FORGET_AFTER,
                "known": declared,
            }
            cur = await conn.execute(Q["queue_stats"], params)
            return [stats_from_row(r) for r in await cur.fetchall()]

        return await self._run(op, idempotent=True)

    async def unserved_work(
        self, now: float, grace: float = UNSERVED_GRACE, tenant: str | None = None
    ) -> list[UnservedWork]:
        params = {"now": now, "grace": grace, "tenant": tenant}

        async def op(conn: Conn) -> list[UnservedWork]:
            cur = await conn.execute(Q["unserved_work"], params)
            return [unserved_from_row(r) for r in await cur.fetchall()]

        return await self._run(op, idempotent=True)

    # -- workers --------------------------------------------------------------------------

    async def claim_runs(
        self,
        owner: str,
        queues: list[str],
        limit: int,
        lease_ttl: float,
        now: float,
        *,
        versions: Sequence[str] = (),
        workflows: Sequence[str] = (),
    ) -> list[ClaimedRun]:
        async def op(conn: Conn) -> list[ClaimedRun]:
            params = {
                "owner": owner,
                "queues": queues,
                "limit": limit,
                "window": candidate_window(limit),
                "expires": now + lease_ttl,
                "now": now,
                "versions": list(versions),
                "workflows": list(workflows),
            }
            claimed = await (await conn.execute(Q["claim_ready"], params)).fetchall()
            if not claimed:
                return []
            rows = [row["run"] for row in claimed]
            journal_ids, signal_ids = with_history(rows)
            journal_rows: list[dict[str, Any]] = []
            signal_rows: list[dict[str, Any]] = []
            if journal_ids:
                cur = await conn.execute(Q["journals_of"], {"run_ids": journal_ids})
                journal_rows = await cur.fetchall()
            if signal_ids:
                cur = await conn.execute(Q["pending_signals_of"], {"run_ids": signal_ids})
                signal_rows = await cur.fetchall()
            expired = [row["run"]["id"] for row in claimed if row["took_over"]]
            return claimed_runs(rows, owner, journal_rows, signal_rows, expired)

        return await self._run(op)

    async def save_progress(self, lease: Lease, progress: Progress, lease_ttl: float) -> None:
        outcome = progress.outcome
        journal = progress.journal
        params = {
            # A plain write is made set-based with the rest of its batch (save_progress_batch).
            "plain": not progress.children
            and not progress.consumed_signals
            and not progress.session_appends
            and (outcome.kind in PLAIN_OUTCOMES if outcome else bool(progress.events))
            and len({entry.seq for entry in journal}) == len(journal),
            "run_id": lease.run_id,
            "token": lease.token,
            "wake_seq": lease.wake_seq,
            "now": time.time(),
            "journal": [entry_params(e) for e in journal],
            "consumed": [{"id": i, "seq": s} for i, s in progress.consumed_signals],
            "events": progress.events,
            "children": [run_params(c, 0) for c in progress.children],
            "session_appends": [
                append_params(a.tenant, a.session, a.run_id, a.source, a.messages)
                for a in progress.session_appends
            ],
            "outcome": None
            if outcome is None
            else {
                "kind": outcome.kind,
                "wake_at": outcome.wake_at,
                "result": outcome.result,
                "error": dump_json(outcome.error),
            },
        }

        finished = await self._progress.submit(params)
        if finished == "lease_lost":
            raise LeaseLost(f"run {lease.run_id}: lease {lease.token} is no longer held")
        if progress.events:
            self.notifier.events_added(lease.run_id)
        if finished in TERMINAL_STATUSES and outcome is not None:
            self.notifier.run_finished(
                lease.run_id, Finished(str(finished), outcome.result, outcome.error)
            )

    async def renew_leases(self, owner: str, leases: list[Lease], lease_ttl: float) -> list[Lease]:
        async def op(conn: Conn) -> set[tuple[str, str]]:
            params = {
                "owner": owner,
                "expires": time.time() + lease_ttl,
                "run_ids": [lease.run_id for lease in leases],
            }
            rows = await (await conn.execute(Q["renew_leases"], params)).fetchall()
            return {(r["id"], r["lease_token"]) for r in rows}

        held = await self._run(op)
        return [lease for lease in leases if (lease.run_id, lease.token) not in held]

    async def release_leases(self, owner: str, run_ids: list[str]) -> int:
        async def op(conn: Conn) -> int:
            params = {"owner": owner, "now": time.time(), "run_ids": run_ids}
            row = await (await conn.execute(Q["release_leases"], params)).fetchone()
            return int(row["released"]) if row else 0

        return await self._run(op)

    # -- operators ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked_run(self, conn: Conn, run_id: str) -> AsyncIterator[dict[str, Any]]:
        async with conn.transaction():
            row = await (await conn.execute(Q["lock_run"], {"id": run_id})).fetchone()
            if row is None:
                raise RunNotFound(f"no run with id {run_id!r}")
            yield row

    async def send_signal(
        self, run_id: str, name: str, payload: str, *, waiting_at: str | None = None
    ) -> bool:
        async def op(conn: Conn) -> bool:
            async with self._locked_run(conn, run_id) as row:
                if row["status"] in TERMINAL_STATUSES:
                    raise InvalidRunState(
                        f"run {run_id} is {row['status']}; signals can only be sent to live runs"
                    )
                if waiting_at is not None:
                    wait = {"run_id": run_id, "seq": waiting_at, "name": name, "now": time.time()}
                    if await (await conn.execute(Q["wait_is_open"], wait)).fetchone() is None:
                        return False
                now = time.time()
                await conn.execute(
                    Q["insert_signal"],
                    {"run_id": run_id, "name": name, "payload": payload, "now": now},
                )
                await conn.execute(Q["wake_run"], {"run_id": run_id, "now": now})
                await self._append_events(conn, run_id, [signal_event(name)], now)
                return True

        if not await self._run(op):
            return False
        self.notifier.work_ready()
        self.notifier.events_added(run_id)
        return True

    async def cancel_run(self, run_id: str) -> list[str]:
        async def op(conn: Conn) -> list[str]:
            async with self._locked_run(conn, run_id) as row:
                if row["status"] in TERMINAL_STATUSES:
                    raise InvalidRunState(f"run {run_id} is already {row['status']}")
                now = time.time()
                cur = await conn.execute(Q["unfinished_tree"], {"run_id": run_id})
                ids = [r["id"] for r in await cur.fetchall()]
                await conn.execute(Q["cancel_many"], {"ids": ids, "now": now})
                for rid in ids:
                    await self._append_events(conn, rid, [CANCELLED_EVENT], now)
                if row["parent_id"]:
                    error = {
                        "type": "ChildFailed",
                        "status": "cancelled",
                        "child_run_id": run_id,
                        "message": f"child run {run_id} was cancelled",
                    }
                    await conn.execute(
                        Q["settle_parent"],
                        {
                            "parent_id": row["parent_id"],
                            "parent_seq": row["parent_seq"],
                            "status": "failed",
                            "output": None,
                            "error": dump_json(error),
                            "now": now,
                        },
                    )
                return ids

        ids = await self._run(op)
        for rid in ids:
            self.notifier.run_finished(rid, Finished("cancelled", None, None))
            self.notifier.events_added(rid)
        self.notifier.work_ready()
        return ids

    async def resume_run(self, run_id: str) -> None:
        async def op(conn: Conn) -> None:
            async with self._locked_run(conn, run_id) as row:
                if row["status"] != "blocked":
                    raise InvalidRunState(
                        f"run {run_id} is {row['status']}; only blocked runs can be resumed"
                    )
                now = time.time()
                await conn.execute(Q["resume_run"], {"run_id": run_id, "now": now})
                await self._append_events(conn, run_id, [RESUMED_EVENT], now)

        await self._run(op)
        self.notifier.work_ready()
        self.notifier.events_added(run_id)

    async def _append_events(
        self, conn: Conn, run_id: str, events: list[tuple[str, str]], now: float
    ) -> None:
        params = {"run_id": run_id, "events": Jsonb([list(e) for e in events]), "now": now}
        await conn.execute(Q["append_events"], params)

    # -- retention ------------------------------------------------------------------------

    async def prune_runs(self, finished_before: float, batch: int = 1000) -> int:
        async def op(conn: Conn) -> int:
            params = {"before": finished_before, "batch": batch}
            row = await (await conn.execute(Q["prune_batch"], params)).fetchone()
            return int(row["pruned"]) if row else 0

        return await self._run(op)
