"""The SQLite connector: stdlib sqlite3 in WAL mode, one group-committing writer."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from typing import Any

from bosun.errors import (
    InvalidRunState,
    InvalidSchedule,
    LeaseLost,
    RunNotFound,
    ScheduleNotFound,
)
from bosun.ratelimit import BucketState, RateLimit, give_back, take
from bosun.store.admission import admit, candidate_window
from bosun.store.notify import Finished, LocalNotifier
from bosun.store.records import (
    TERMINAL_STATUSES,
    ClaimedRun,
    EventRecord,
    Firing,
    JournalEntry,
    Lease,
    NewRun,
    NewSchedule,
    Progress,
    QueueStats,
    RunFilter,
    RunRecord,
    ScheduleRecord,
    SignalRecord,
)
from bosun.store.rows import (
    dump_json,
    entry_from_row,
    entry_params,
    run_from_row,
    run_params,
    stats_from_row,
)
from bosun.store.sqlfiles import load_migrations, load_queries
from bosun.store.sqlite_io import (
    GroupCommitWriter,
    Reader,
    SqliteConfig,
    connect,
    current_version,
    ensure_parent,
    migrate,
    translate,
)

Q = load_queries("sqlite")
MIGRATIONS = load_migrations("sqlite")


def _entry_params(run_id: str, entry: JournalEntry) -> dict[str, Any]:
    return {"run_id": run_id, **entry_params(entry)}


def _settle_parent(
    conn: sqlite3.Connection,
    parent_id: str,
    parent_seq: str,
    status: str,
    output: str | None,
    error: dict[str, Any] | None,
    now: float,
) -> None:
    """Record a child's outcome in its parent's journal and wake the parent."""
    conn.execute(
        Q["settle_child_entry"],
        {
            "parent_id": parent_id,
            "parent_seq": parent_seq,
            "status": status,
            "output": output,
            "error": dump_json(error),
            "now": now,
        },
    )
    conn.execute(Q["wake_run"], {"run_id": parent_id, "now": now})


class SqliteStore:
    """Store on a local SQLite file. Several processes may share the file."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.config = SqliteConfig.from_url(url)
        self.notifier = LocalNotifier()
        self._writer = GroupCommitWriter(self.config)
        self._reader = Reader(self.config)
        self._open = False

    # -- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        if self._open:
            return
        ensure_parent(self.config.path)
        try:
            write_conn = connect(self.config)
            migrate(write_conn, MIGRATIONS, self.config.path)
            read_conn = connect(self.config)
        except sqlite3.Error as exc:
            raise translate(exc, self.config.path) from exc
        self._writer.start(write_conn)
        self._reader.start(read_conn)
        self._open = True

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        await self._writer.stop()
        self._reader.stop()

    async def schema_version(self) -> int:
        return await self._reader.submit(current_version)

    # -- runs -----------------------------------------------------------------------------

    async def create_run(self, run: NewRun) -> tuple[str, bool]:
        def op(conn: sqlite3.Connection) -> tuple[str, bool]:
            cur = conn.execute(Q["insert_run"], run_params(run, time.time()))
            if cur.rowcount == 1:
                return run.id, True
            params = {"id": run.id, "key": run.idempotency_key}
            row = conn.execute(Q["conflicting_run"], params).fetchone()
            if row is None:
                raise InvalidRunState(f"run {run.id} could not be created")
            return str(row["id"]), row["id"] == run.id

        result = await self._writer.submit(op)
        if result[1]:
            self.notifier.work_ready()
        return result

    async def create_claimed_run(
        self, run: NewRun, owner: str, lease_ttl: float
    ) -> ClaimedRun | None:
        def op(conn: sqlite3.Connection) -> ClaimedRun | None:
            now = time.time()
            params = {**run_params(run, now), "owner": owner, "expires": now + lease_ttl}
            row = conn.execute(Q["insert_claimed_run"], params).fetchone()
            if row is None:
                return None
            lease = Lease(run.id, owner, row["lease_token"], row["wake_seq"])
            return ClaimedRun(run_from_row(row), lease, {}, [])

        return await self._writer.submit(op)

    async def get_run(self, run_id: str) -> RunRecord | None:
        def op(conn: sqlite3.Connection) -> RunRecord | None:
            row = conn.execute(Q["get_run"], {"id": run_id}).fetchone()
            return None if row is None else run_from_row(row)

        return self._reader.call(op)

    async def list_runs(self, where: RunFilter) -> list[RunRecord]:
        clauses, params = [], []
        for column in ("status", "workflow", "parent_id"):
            value = getattr(where, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if where.before is not None:
            clauses.append("(created_at, id) < (?, ?)")
            params.extend(where.before)
        sql = "SELECT * FROM runs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(where.limit)

        def op(conn: sqlite3.Connection) -> list[RunRecord]:
            return [run_from_row(r) for r in conn.execute(sql, params)]

        return await self._reader.submit(op)

    async def get_journal(self, run_id: str) -> list[JournalEntry]:
        def op(conn: sqlite3.Connection) -> list[JournalEntry]:
            return [entry_from_row(r) for r in conn.execute(Q["journal_of"], {"run_id": run_id})]

        return await self._reader.submit(op)

    async def list_events(self, run_id: str, after: int = 0) -> list[EventRecord]:
        def op(conn: sqlite3.Connection) -> list[EventRecord]:
            rows = conn.execute(Q["events_of"], {"run_id": run_id, "after": after})
            return [
                EventRecord(r["id"], r["run_id"], r["type"], r["data"], r["created_at"])
                for r in rows
            ]

        return await self._reader.submit(op)

    async def set_queue_limit(self, queue: str, max_running: int | None) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if max_running is None:
                conn.execute(Q["delete_queue_limit"], {"queue": queue})
            else:
                params = {"queue": queue, "max_running": max_running, "now": time.time()}
                conn.execute(Q["set_queue_limit"], params)

        await self._writer.submit(op)
        self.notifier.work_ready()

    async def queue_stats(self) -> list[QueueStats]:
        def op(conn: sqlite3.Connection) -> list[QueueStats]:
            return [stats_from_row(r) for r in conn.execute(Q["queue_stats"])]

        return await self._reader.submit(op)

    # -- workers --------------------------------------------------------------------------

    async def claim_runs(
        self, owner: str, queues: list[str], limit: int, lease_ttl: float, now: float
    ) -> list[ClaimedRun]:
        def op(conn: sqlite3.Connection) -> list[ClaimedRun]:
            qs = json.dumps(queues)
            candidates = conn.execute(
                Q["claim_candidates"], {"queues": qs, "now": now, "window": candidate_window(limit)}
            ).fetchall()
            if not candidates:
                return []
            limits = {
                r["queue"]: r["max_running"]
                for r in conn.execute(Q["queue_limits_of"], {"queues": qs})
            }
            running = {}
            if limits:
                running = {
                    r["queue"]: r["running"]
                    for r in conn.execute(
                        Q["running_per_queue"], {"queues": json.dumps(list(limits))}
                    )
                }
            chosen = admit((tuple(c) for c in candidates), limits, running, limit)
            rows = conn.execute(
                Q["claim_runs"],
                {
                    "owner": owner,
                    "run_ids": json.dumps(chosen),
                    "expires": now + lease_ttl,
                    "now": now,
                },
            ).fetchall()
            if not rows:
                return []
            ids = json.dumps([row["id"] for row in rows])
            journals: dict[str, dict[str, JournalEntry]] = {row["id"]: {} for row in rows}
            for r in conn.execute(Q["journals_of"], {"run_ids": ids}):
                journals[r["run_id"]][r["seq"]] = entry_from_row(r)
            signals: dict[str, list[SignalRecord]] = {row["id"]: [] for row in rows}
            for r in conn.execute(Q["pending_signals_of"], {"run_ids": ids}):
                signals[r["run_id"]].append(
                    SignalRecord(r["id"], r["name"], r["payload"], r["created_at"])
                )
            return [
                ClaimedRun(
                    run_from_row(row),
                    Lease(row["id"], owner, row["lease_token"], row["wake_seq"]),
                    journals[row["id"]],
                    signals[row["id"]],
                )
                for row in rows
            ]

        return await self._writer.submit(op)

    async def save_progress(self, lease: Lease, progress: Progress, lease_ttl: float) -> None:
        def op(conn: sqlite3.Connection) -> tuple[str | None, bool]:
            now = time.time()
            fence = {"run_id": lease.run_id, "token": lease.token, "now": now}
            if conn.execute(Q["check_lease"], fence).fetchone() is None:
                raise LeaseLost(f"run {lease.run_id}: lease {lease.token} is no longer held")
            for child in progress.children:
                conn.execute(Q["insert_run"], run_params(child, now))
            for entry in progress.journal:
                conn.execute(Q["upsert_journal"], _entry_params(lease.run_id, entry))
            for signal_id, seq in progress.consumed_signals:
                conn.execute(Q["consume_signal"], {"id": signal_id, "seq": seq})
            for event_type, data in progress.events:
                conn.execute(
                    Q["insert_event"],
                    {"run_id": lease.run_id, "type": event_type, "data": data, "now": now},
                )
            return self._apply_outcome(conn, lease, progress, fence)

        finished, woke_parent = await self._writer.submit(op)
        if progress.children or woke_parent:
            self.notifier.work_ready()
        if finished in TERMINAL_STATUSES and progress.outcome is not None:
            outcome = progress.outcome
            self.notifier.run_finished(
                lease.run_id, Finished(str(finished), outcome.result, outcome.error)
            )

    def _apply_outcome(
        self, conn: sqlite3.Connection, lease: Lease, progress: Progress, fence: dict[str, Any]
    ) -> tuple[str | None, bool]:
        """Apply the outcome; return the run's final status (if it ended or blocked) and
        whether a parent was woken."""
        outcome = progress.outcome
        if outcome is None:
            return None, False
        now = fence["now"]
        if outcome.kind == "suspend":
            conn.execute(
                Q["suspend_run"], {**fence, "wake_at": outcome.wake_at, "wake_seq": lease.wake_seq}
            )
            return None, False
        if outcome.kind == "release":
            conn.execute(Q["release_run"], fence)
            return None, False
        status = {"complete": "completed", "fail": "failed", "block": "blocked"}[outcome.kind]
        row = conn.execute(
            Q["finish_run"],
            {
                **fence,
                "status": status,
                "result": outcome.result,
                "error": dump_json(outcome.error),
                "finished_at": None if status == "blocked" else now,
            },
        ).fetchone()
        woke_parent = row is not None and bool(row["parent_id"]) and status != "blocked"
        if woke_parent:
            _settle_parent(
                conn,
                row["parent_id"],
                row["parent_seq"],
                "completed" if status == "completed" else "failed",
                outcome.result,
                outcome.error,
                now,
            )
        return status, woke_parent

    async def renew_leases(self, owner: str, leases: list[Lease], lease_ttl: float) -> list[Lease]:
        def op(conn: sqlite3.Connection) -> set[tuple[str, str]]:
            now = time.time()
            run_ids = json.dumps([lease.run_id for lease in leases])
            rows = conn.execute(
                Q["renew_leases"], {"owner": owner, "expires": now + lease_ttl, "run_ids": run_ids}
            ).fetchall()
            return {(r["id"], r["lease_token"]) for r in rows}

        held = await self._writer.submit(op)
        return [lease for lease in leases if (lease.run_id, lease.token) not in held]

    async def release_leases(self, owner: str, run_ids: list[str]) -> int:
        def op(conn: sqlite3.Connection) -> int:
            params = {"owner": owner, "now": time.time(), "run_ids": json.dumps(run_ids)}
            return conn.execute(Q["release_leases"], params).rowcount

        released = await self._writer.submit(op)
        if released:
            self.notifier.work_ready()
        return released

    # -- operators ------------------------------------------------------------------------

    async def send_signal(self, run_id: str, name: str, payload: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            row = conn.execute(Q["get_run"], {"id": run_id}).fetchone()
            if row is None:
                raise RunNotFound(f"no run with id {run_id!r}")
            if row["status"] in TERMINAL_STATUSES:
                raise InvalidRunState(
                    f"run {run_id} is {row['status']}; signals can only be sent to live runs"
                )
            now = time.time()
            conn.execute(
                Q["insert_signal"], {"run_id": run_id, "name": name, "payload": payload, "now": now}
            )
            conn.execute(Q["wake_run"], {"run_id": run_id, "now": now})

        await self._writer.submit(op)
        self.notifier.work_ready()

    async def cancel_run(self, run_id: str) -> list[str]:
        def op(conn: sqlite3.Connection) -> list[str]:
            row = conn.execute(Q["get_run"], {"id": run_id}).fetchone()
            if row is None:
                raise RunNotFound(f"no run with id {run_id!r}")
            if row["status"] in TERMINAL_STATUSES:
                raise InvalidRunState(f"run {run_id} is already {row['status']}")
            now = time.time()
            ids = [r["id"] for r in conn.execute(Q["unfinished_tree"], {"run_id": run_id})]
            for rid in ids:
                conn.execute(Q["cancel_one"], {"id": rid, "now": now})
            if row["parent_id"]:
                error = {
                    "type": "ChildFailed",
                    "status": "cancelled",
                    "child_run_id": run_id,
                    "message": f"child run {run_id} was cancelled",
                }
                _settle_parent(
                    conn, row["parent_id"], row["parent_seq"], "failed", None, error, now
                )
            return ids

        ids = await self._writer.submit(op)
        for rid in ids:
            self.notifier.run_finished(rid, Finished("cancelled", None, None))
        self.notifier.work_ready()  # a parent waiting on the cancelled run may be due
        return ids

    async def resume_run(self, run_id: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            row = conn.execute(Q["get_run"], {"id": run_id}).fetchone()
            if row is None:
                raise RunNotFound(f"no run with id {run_id!r}")
            if row["status"] != "blocked":
                raise InvalidRunState(
                    f"run {run_id} is {row['status']}; only blocked runs can be resumed"
                )
            conn.execute(Q["resume_run"], {"run_id": run_id, "now": time.time()})

        await self._writer.submit(op)
        self.notifier.work_ready()

    # -- retention ------------------------------------------------------------------------

    async def prune_runs(self, finished_before: float, batch: int = 1000) -> int:
        def op(conn: sqlite3.Connection) -> int:
            rows = conn.execute(Q["prunable_runs"], {"before": finished_before, "batch": batch})
            ids = json.dumps([r["id"] for r in rows])
            for query in ("prune_journal", "prune_signals", "prune_events"):
                conn.execute(Q[query], {"run_ids": ids})
            return conn.execute(Q["prune_runs"], {"run_ids": ids}).rowcount

        return await self._writer.submit(op)

    # -- schedules ---

    async def add_schedule(self, schedule: NewSchedule) -> ScheduleRecord:
        def op(conn: sqlite3.Connection) -> ScheduleRecord:
            params = {**dataclasses.asdict(schedule), "now": time.time()}
            row = conn.execute(Q["insert_schedule"], params).fetchone()
            if row is None:
                raise InvalidSchedule(
                    f"a schedule named {schedule.name!r} already exists: delete it first "
                    "or choose another name"
                )
            return ScheduleRecord.from_row(row)

        return await self._writer.submit(op)

    async def declare_schedules(self, workflows: list[str], schedules: list[NewSchedule]) -> None:
        def op(conn: sqlite3.Connection) -> None:
            now = time.time()
            for schedule in schedules:
                conn.execute(Q["declare_schedule"], {**dataclasses.asdict(schedule), "now": now})
            names = json.dumps([schedule.name for schedule in schedules])
            conn.execute(
                Q["delete_undeclared_schedules"],
                {"workflows": json.dumps(workflows), "names": names},
            )

        await self._writer.submit(op)

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        def op(conn: sqlite3.Connection) -> ScheduleRecord | None:
            row = conn.execute(Q["get_schedule"], {"name": name}).fetchone()
            return None if row is None else ScheduleRecord.from_row(row)

        return self._reader.call(op)

    async def list_schedules(self) -> list[ScheduleRecord]:
        def op(conn: sqlite3.Connection) -> list[ScheduleRecord]:
            return [ScheduleRecord.from_row(r) for r in conn.execute(Q["list_schedules"])]

        return await self._reader.submit(op)

    async def set_schedule_paused(
        self, name: str, paused: bool, next_tick: int | None = None
    ) -> ScheduleRecord:
        def op(conn: sqlite3.Connection) -> ScheduleRecord:
            params = {"name": name, "paused": paused, "next_tick": next_tick, "now": time.time()}
            row = conn.execute(Q["set_schedule_paused"], params).fetchone()
            if row is None:
                raise ScheduleNotFound(f"no schedule named {name!r}")
            return ScheduleRecord.from_row(row)

        return await self._writer.submit(op)

    async def delete_schedule(self, name: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if conn.execute(Q["delete_schedule"], {"name": name}).rowcount == 0:
                raise ScheduleNotFound(f"no schedule named {name!r}")

        await self._writer.submit(op)

    async def due_schedules(
        self, workflows: list[str], now: float, limit: int
    ) -> list[ScheduleRecord]:
        def op(conn: sqlite3.Connection) -> list[ScheduleRecord]:
            params = {"workflows": json.dumps(workflows), "now": now, "limit": limit}
            return [ScheduleRecord.from_row(r) for r in conn.execute(Q["due_schedules"], params)]

        return await self._reader.submit(op)

    async def fire_schedule(self, firing: Firing, now: float) -> list[str] | None:
        def op(conn: sqlite3.Connection) -> list[str] | None:
            if conn.execute(Q["advance_schedule"], firing.params(now)).rowcount != 1:
                return None
            created = [
                run.id
                for run in firing.runs
                if conn.execute(Q["insert_run"], run_params(run, now)).rowcount == 1
            ]
            if created:
                params = {"name": firing.name, "run_id": created[-1]}
                conn.execute(Q["set_schedule_last_run"], params)
            return created

        created = await self._writer.submit(op)
        if created:
            self.notifier.work_ready()
        return created

    # -- rate limits ---------------------------------------------------------------------

    async def reserve_rate(
        self,
        name: str,
        limit: RateLimit,
        requests: int,
        tokens: int,
        *,
        now: float | None = None,
        lease: Lease | None = None,
        entry: JournalEntry | None = None,
    ) -> float:
        # The writer's transaction (BEGIN IMMEDIATE) holds the database's write lock, so no
        # other process can move the buckets between the read and the write.
        def op(conn: sqlite3.Connection) -> float:
            at = time.time() if now is None else now
            _fence(conn, lease)
            state, wait = take(_rate_buckets(conn, name, limit, at), limit, requests, tokens, at)
            if wait > 0:
                return wait
            _save_rate_buckets(conn, name, state, lease, entry)
            return 0.0

        return await self._writer.submit(op)

    async def settle_rate(
        self,
        name: str,
        limit: RateLimit,
        tokens: int,
        *,
        now: float | None = None,
        lease: Lease | None = None,
        entry: JournalEntry | None = None,
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            at = time.time() if now is None else now
            _fence(conn, lease)
            state = give_back(_rate_buckets(conn, name, limit, at), limit, tokens, at)
            _save_rate_buckets(conn, name, state, lease, entry)

        await self._writer.submit(op)

    async def get_rate_buckets(self, name: str) -> BucketState | None:
        def op(conn: sqlite3.Connection) -> BucketState | None:
            row = conn.execute(Q["get_rate_buckets"], {"name": name}).fetchone()
            return None if row is None else BucketState(*row)

        return self._reader.call(op)


def _fence(conn: sqlite3.Connection, lease: Lease | None) -> None:
    if lease is None:
        return
    fence = {"run_id": lease.run_id, "token": lease.token}
    if conn.execute(Q["check_lease"], fence).fetchone() is None:
        raise LeaseLost(f"run {lease.run_id}: lease {lease.token} is no longer held")


def _rate_buckets(conn: sqlite3.Connection, name: str, limit: RateLimit, now: float) -> BucketState:
    params = {
        "name": name,
        "request_capacity": limit.requests,
        "token_capacity": limit.tokens,
        "per": limit.per,
        "now": now,
    }
    return BucketState(*conn.execute(Q["upsert_rate_limit"], params).fetchone())


def _save_rate_buckets(
    conn: sqlite3.Connection,
    name: str,
    state: BucketState,
    lease: Lease | None,
    entry: JournalEntry | None,
) -> None:
    params = dataclasses.asdict(state) | {"name": name}
    conn.execute(Q["save_rate_buckets"], params)
    if lease is not None and entry is not None:
        # The entry's finish time is the bucket's: grants then read in the order they took.
        entry = dataclasses.replace(entry, finished_at=state.updated_at)
        conn.execute(Q["upsert_journal"], _entry_params(lease.run_id, entry))
