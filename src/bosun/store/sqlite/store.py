"""The SQLite connector: stdlib sqlite3 in WAL mode, one group-committing writer.

Schedules and rate limits live in their own modules, mixed in here.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

from bosun.errors import (
    InvalidRunState,
    LeaseLost,
    RunNotFound,
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
from bosun.store.admission import admit, candidate_window
from bosun.store.notify import Finished, LocalNotifier
from bosun.store.rows import (
    claimed_runs,
    dump_json,
    entry_from_row,
    event_from_row,
    journal_query,
    list_runs_sql,
    run_from_row,
    run_params,
    stats_from_row,
    unserved_from_row,
    with_history,
)
from bosun.store.sqlite.api_keys import SqliteApiKeys
from bosun.store.sqlite.fair import fair_candidates, save_turns
from bosun.store.sqlite.io import (
    MIGRATIONS,
    GroupCommitWriter,
    Q,
    Reader,
    SqliteConfig,
    connect,
    current_version,
    ensure_parent,
    journal_params,
    migrate,
    translate,
)
from bosun.store.sqlite.memories import SqliteMemories
from bosun.store.sqlite.payloads import OFFLOADED, insert_run, resolve, result_column, store_input
from bosun.store.sqlite.rate_limits import SqliteRateLimits
from bosun.store.sqlite.schedules import SqliteSchedules
from bosun.store.sqlite.sessions import SqliteSessions, insert_messages
from bosun.store.sqlite.usage import SqliteUsage
from bosun.store.sqlite.workers import SqliteWorkers
from bosun.store.sqlite.workload import SqliteWorkload
from bosun.store.waiters import ResultWaiters


def append_events(
    conn: sqlite3.Connection, run_id: str, events: list[tuple[str, str]], now: float
) -> None:
    """Give events the run's next positions and insert them (inside the writer's
    transaction, which holds the database's write lock)."""
    row = conn.execute(Q["take_event_seqs"], {"run_id": run_id, "n": len(events)}).fetchone()
    if row is not None:
        insert_events(conn, run_id, row[0], events, now)


def insert_events(
    conn: sqlite3.Connection, run_id: str, last: int, events: list[tuple[str, str]], now: float
) -> None:
    """Insert events at the positions taken up to `last`, in one statement's executions."""
    first = last - len(events) + 1
    conn.executemany(
        Q["insert_event"],
        [(run_id, first + i, kind, data, now) for i, (kind, data) in enumerate(events)],
    )


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


class SqliteStore(
    SqliteSchedules,
    SqliteRateLimits,
    SqliteApiKeys,
    SqliteUsage,
    SqliteSessions,
    SqliteMemories,
    SqliteWorkers,
    SqliteWorkload,
):
    """Store on a local SQLite file. Several processes may share the file."""

    events_poll_interval = 0.25
    schema_latest = MIGRATIONS[-1].version

    def __init__(self, url: str) -> None:
        self.url = url
        self.config = SqliteConfig.from_url(url)
        self.notifier = LocalNotifier()
        # Other processes' runs finish unheard of here: their waiters are read on a timer.
        self.results = ResultWaiters(self.notifier, self.finished_runs)
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
        await self.results.close()
        await self._writer.stop()
        self._reader.stop()

    async def schema_version(self) -> int:
        return await self._reader.submit(current_version)

    # -- runs -----------------------------------------------------------------------------

    async def create_run(self, run: NewRun) -> tuple[str, bool]:
        def op(conn: sqlite3.Connection) -> tuple[str, bool]:
            cur = insert_run(conn, run, time.time(), self.config.offload_bytes)
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
        self, run: NewRun, owner: str, lease_ttl: float, *, version: str | None = None
    ) -> ClaimedRun | None:
        def op(conn: sqlite3.Connection) -> ClaimedRun | None:
            now = time.time()
            params = {
                **run_params(run, now),
                "owner": owner,
                "expires": now + lease_ttl,
                "version": version,
            }
            large = len(run.input) > self.config.offload_bytes
            if large:
                params["input"] = OFFLOADED
            row = conn.execute(Q["insert_claimed_run"], params).fetchone()
            if row is None:
                return None
            if large:
                store_input(conn, run.id, run.input)
            lease = Lease(run.id, owner, row["lease_token"], row["wake_seq"])
            record = run_from_row(row, input=run.input)
            return ClaimedRun(record, lease, {}, [])

        return await self._writer.submit(op)

    async def get_run(self, run_id: str) -> RunRecord | None:
        def op(conn: sqlite3.Connection) -> RunRecord | None:
            row = conn.execute(Q["get_run"], {"id": run_id}).fetchone()
            return None if row is None else run_from_row(resolve(conn, [row])[0])

        return self._reader.call(op)

    async def finished_runs(self, run_ids: Sequence[str]) -> list[RunRecord]:
        def op(conn: sqlite3.Connection) -> list[RunRecord]:
            rows = conn.execute(Q["finished_runs"], {"ids": json.dumps(list(run_ids))}).fetchall()
            return [run_from_row(r) for r in resolve(conn, rows)]

        return await self._reader.submit(op)  # up to thousands of ids: off the event loop

    async def list_runs(self, where: RunFilter) -> list[RunRecord]:
        sql, params = list_runs_sql(where, "?")

        def op(conn: sqlite3.Connection) -> list[RunRecord]:
            return [run_from_row(r) for r in resolve(conn, conn.execute(sql, params).fetchall())]

        return await self._reader.submit(op)

    async def get_journal(self, run_id: str, *, status: str | None = None) -> list[JournalEntry]:
        query, params = journal_query(run_id, status)

        def op(conn: sqlite3.Connection) -> list[JournalEntry]:
            return [entry_from_row(r) for r in conn.execute(Q[query], params)]

        return await self._reader.submit(op)

    async def list_events(
        self, run_id: str, after: int = 0, limit: int = 1000
    ) -> list[EventRecord]:
        def op(conn: sqlite3.Connection) -> list[EventRecord]:
            params = {"run_id": run_id, "after": after, "limit": limit}
            return [event_from_row(r) for r in conn.execute(Q["events_of"], params)]

        return await self._reader.submit(op)

    async def follow_events(self) -> None:
        """Nothing to set up: other processes' events are found by polling."""

    async def publish(self, run_id: str, event_type: str, data: str) -> None:
        """In this process only: SQLite has no channel between processes."""
        self.notifier.ephemeral(run_id, event_type, data)

    async def watch(self, run_id: str) -> None:
        """Nothing to send: only this process's workers can reach this process's streams."""

    async def set_queue_limit(self, queue: str, max_running: int | None) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if max_running is None:
                conn.execute(Q["delete_queue_limit"], {"queue": queue})
            else:
                params = {"queue": queue, "max_running": max_running, "now": time.time()}
                conn.execute(Q["set_queue_limit"], params)

        await self._writer.submit(op)
        self.notifier.work_ready()

    async def queue_stats(
        self, tenant: str | None = None, known: Iterable[str] = ()
    ) -> list[QueueStats]:
        declared = json.dumps(sorted(set(known)))

        def op(conn: sqlite3.Connection) -> list[QueueStats]:
            now = time.time()
            params = {
                "tenant": tenant,
                "now": now,
                "since": now - QUEUE_FORGET_AFTER,
                "known": declared,
            }
            return [stats_from_row(r) for r in conn.execute(Q["queue_stats"], params)]

        return await self._reader.submit(op)

    async def unserved_work(
        self, now: float, grace: float = UNSERVED_GRACE, tenant: str | None = None
    ) -> list[UnservedWork]:
        params = {"now": now, "grace": grace, "tenant": tenant}

        def op(conn: sqlite3.Connection) -> list[UnservedWork]:
            return [unserved_from_row(r) for r in conn.execute(Q["unserved_work"], params)]

        return await self._reader.submit(op)

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
        def op(conn: sqlite3.Connection) -> list[ClaimedRun]:
            qs = json.dumps(queues)
            limits = {
                r["queue"]: r["max_running"]
                for r in conn.execute(Q["queue_limits_of"], {"queues": qs})
            }
            fair = conn.execute(Q["fair_runs_ready"], {"queues": qs, "now": now}).fetchone()[0]
            # Candidates over a queue's limit are skipped: read more only when there is one.
            window = candidate_window(limit) if limits else limit
            params = {
                "queues": qs,
                "now": now,
                "window": window,
                "any_version": not versions,
                "versions": json.dumps(list(versions)),
                "any_workflow": not workflows,
                "workflows": json.dumps(list(workflows)),
            }
            if not workflows:  # a tool's claim of any workflow ranks every ready run
                candidates = conn.execute(Q["claim_candidates"], params).fetchall()
            elif fair:  # each queue's and workflow's next fairness keys in turn
                candidates = fair_candidates(conn, queues, workflows, window, params)
            else:  # each queue's and workflow's first runs in index order, merged
                candidates = [
                    row
                    for queue in queues
                    for workflow in workflows
                    for row in conn.execute(
                        Q["claim_candidates_fast"], {**params, "queue": queue, "workflow": workflow}
                    )
                ]
                candidates.sort(key=lambda row: (-row["priority"], row["ready_at"]))
                del candidates[window:]
            if not candidates:
                return []
            running = {}
            if limits:
                running = {
                    r["queue"]: r["running"]
                    for r in conn.execute(
                        Q["running_per_queue"], {"queues": json.dumps(list(limits))}
                    )
                }
            chosen = admit((tuple(c)[:3] for c in candidates), limits, running, limit)
            if fair and workflows:
                save_turns(conn, candidates, chosen)
            rows = conn.execute(
                Q["claim_runs"],
                {
                    "owner": owner,
                    "run_ids": json.dumps(chosen),
                    "expires": now + lease_ttl,
                    "now": now,
                    "version": versions[0] if versions else None,
                },
            ).fetchall()
            if not rows:
                return []
            rows = resolve(conn, rows)
            journal_ids, signal_ids = with_history(rows)
            journal_rows = signal_rows = []
            if journal_ids:
                params = {"run_ids": json.dumps(journal_ids)}
                journal_rows = conn.execute(Q["journals_of"], params).fetchall()
            if signal_ids:
                params = {"run_ids": json.dumps(signal_ids)}
                signal_rows = conn.execute(Q["pending_signals_of"], params).fetchall()
            # A running candidate is one whose lease expired: claiming it is a takeover.
            expired = {c["id"] for c in candidates if c["status"] == "running"}
            return claimed_runs(rows, owner, journal_rows, signal_rows, expired)

        return await self._writer.submit(op)

    async def save_progress(self, lease: Lease, progress: Progress, lease_ttl: float) -> None:
        def op(conn: sqlite3.Connection) -> tuple[str | None, bool]:
            now = time.time()
            fence = {"run_id": lease.run_id, "token": lease.token, "now": now}
            # The fence first, before any write (a refusal must leave nothing to undo); with
            # events to add it is the statement that takes their positions.
            events = progress.events
            if events:
                taken = {**fence, "n": len(events)}
                row = conn.execute(Q["take_event_seqs_fenced"], taken).fetchone()
            else:
                row = conn.execute(Q["check_lease"], fence).fetchone()
            if row is None:
                raise LeaseLost(f"run {lease.run_id}: lease {lease.token} is no longer held")
            for child in progress.children:
                insert_run(conn, child, now, self.config.offload_bytes)
            for entry in progress.journal:
                conn.execute(Q["upsert_journal"], journal_params(lease.run_id, entry))
            for signal_id, seq in progress.consumed_signals:
                conn.execute(Q["consume_signal"], {"id": signal_id, "seq": seq})
            for added in progress.session_appends:
                insert_messages(
                    conn,
                    added.tenant,
                    added.session,
                    added.messages,
                    added.run_id,
                    added.source,
                    now,
                )
            if events:
                insert_events(conn, lease.run_id, row[0], events, now)
            return self._apply_outcome(conn, lease, progress, fence)

        finished, woke_parent = await self._writer.submit(op)
        if progress.events:
            self.notifier.events_added(lease.run_id)
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
                "result": result_column(
                    conn, lease.run_id, outcome.result, self.config.offload_bytes
                ),
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

    async def send_signal(
        self, run_id: str, name: str, payload: str, *, waiting_at: str | None = None
    ) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute(Q["get_run"], {"id": run_id}).fetchone()
            if row is None:
                raise RunNotFound(f"no run with id {run_id!r}")
            if row["status"] in TERMINAL_STATUSES:
                raise InvalidRunState(
                    f"run {run_id} is {row['status']}; signals can only be sent to live runs"
                )
            if waiting_at is not None:
                wait = {"run_id": run_id, "seq": waiting_at, "name": name, "now": time.time()}
                if conn.execute(Q["wait_is_open"], wait).fetchone() is None:
                    return False
            now = time.time()
            conn.execute(
                Q["insert_signal"], {"run_id": run_id, "name": name, "payload": payload, "now": now}
            )
            conn.execute(Q["wake_run"], {"run_id": run_id, "now": now})
            append_events(conn, run_id, [signal_event(name)], now)
            return True

        if not await self._writer.submit(op):
            return False
        self.notifier.work_ready()
        self.notifier.events_added(run_id)
        return True

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
                append_events(conn, rid, [CANCELLED_EVENT], now)
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
            self.notifier.events_added(rid)
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
            now = time.time()
            conn.execute(Q["resume_run"], {"run_id": run_id, "now": now})
            append_events(conn, run_id, [RESUMED_EVENT], now)

        await self._writer.submit(op)
        self.notifier.work_ready()
        self.notifier.events_added(run_id)

    # -- retention ------------------------------------------------------------------------

    async def prune_runs(self, finished_before: float, batch: int = 1000) -> int:
        def op(conn: sqlite3.Connection) -> int:
            rows = conn.execute(Q["prunable_runs"], {"before": finished_before, "batch": batch})
            ids = json.dumps([r["id"] for r in rows])
            for query in ("prune_journal", "prune_signals", "prune_events", "prune_payloads"):
                conn.execute(Q[query], {"run_ids": ids})
            return conn.execute(Q["prune_runs"], {"run_ids": ids}).rowcount

        return await self._writer.submit(op)
