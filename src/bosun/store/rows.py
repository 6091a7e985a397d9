"""Rows in and out of the database, the same for every connector.

Connectors hand rows that support `row["column"]` (sqlite3.Row, psycopg's dict rows) and get
back records; records go in as parameter mappings. Error dicts are stored as JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from bosun.records import (
    ApiKeyRecord,
    ClaimedRun,
    EventRecord,
    JournalEntry,
    Lease,
    NewRun,
    QueueStats,
    RunFilter,
    RunRecord,
    SignalRecord,
    UnservedWork,
    WorkerRecord,
)


def load_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# One encoder for compact JSON text, not one per call (json.dumps with options builds one).
# Strict, as everything bosun stores: NaN and Infinity are not JSON (PostgreSQL's jsonb and
# browsers refuse them), so a ValueError here beats a row no reader can parse.
compact_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def dump_json(value: Any) -> str | None:
    return None if value is None else compact_json(value)


def run_from_row(row: Any, input: str | None = None) -> RunRecord:
    """The record of a runs row; `input` replaces the row's (an offloaded input, read apart)."""
    return RunRecord(
        id=row["id"],
        workflow=row["workflow"],
        queue=row["queue"],
        status=row["status"],
        input=row["input"] if input is None else input,
        result=row["result"],
        error=load_json(row["error"]),
        priority=row["priority"],
        idempotency_key=row["idempotency_key"],
        parent_id=row["parent_id"],
        parent_seq=row["parent_seq"],
        deadline=row["deadline"],
        ready_at=row["ready_at"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        tenant=row["tenant"],
        session=row["session"],
        webhook_url=row["webhook_url"],
        version=row["version"],
        traceparent=row["traceparent"],
    )


def list_runs_sql(where: RunFilter, placeholder: str, table: str = "runs") -> tuple[str, list[Any]]:
    """The query listing runs that match `where`, newest first, with its parameters."""
    clauses, params = [], []
    for column in ("status", "workflow", "queue", "parent_id", "tenant", "session", "version"):
        value = getattr(where, column)
        if value is not None:
            clauses.append(f"{column} = {placeholder}")
            params.append(value)
    if where.created_after is not None:
        clauses.append(f"created_at >= {placeholder}")
        params.append(where.created_after)
    if where.created_before is not None:
        clauses.append(f"created_at < {placeholder}")
        params.append(where.created_before)
    if where.before is not None:
        clauses.append(f"(created_at, id) < ({placeholder}, {placeholder})")
        params.extend(where.before)
    sql = f"SELECT * FROM {table}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += f" ORDER BY created_at DESC, id DESC LIMIT {placeholder}"
    params.append(where.limit)
    return sql, params


def event_from_row(row: Any) -> EventRecord:
    return EventRecord(row["seq"], row["run_id"], row["type"], row["data"], row["created_at"])


def api_key_from_row(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        tenant=row["tenant"],
        name=row["name"],
        hash=row["hash"],
        scopes=tuple(json.loads(row["scopes"])),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def api_key_params(key: ApiKeyRecord) -> dict[str, Any]:
    return {
        "id": key.id,
        "tenant": key.tenant,
        "name": key.name,
        "hash": key.hash,
        "scopes": json.dumps(list(key.scopes)),
        "created_at": key.created_at,
    }


def journal_query(run_id: str, status: str | None) -> tuple[str, dict[str, Any]]:
    """The named query and parameters of `get_journal(run_id, status=status)`."""
    if status is None:
        return "journal_of", {"run_id": run_id}
    return "journal_of_in_status", {"run_id": run_id, "status": status}


def entry_from_row(row: Any) -> JournalEntry:
    return JournalEntry(
        seq=row["seq"],
        kind=row["kind"],
        name=row["name"],
        status=row["status"],
        output=row["output"],
        error=load_json(row["error"]),
        attempt=row["attempt"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        wake_at=row["wake_at"],
        child_id=row["child_id"],
    )


def stats_from_row(row: Any) -> QueueStats:
    return QueueStats(
        queue=row["queue"],
        ready=int(row["ready"] or 0),
        in_flight=int(row["in_flight"] or 0),
        waiting=int(row["waiting"] or 0),
        oldest_ready_age=float(row["oldest_ready_age"] or 0),
        runnable=int(row["runnable"] or 0),
    )


def unserved_from_row(row: Any) -> UnservedWork:
    return UnservedWork(
        queue=row["queue"],
        workflow=row["workflow"],
        ready=int(row["ready"]),
        oldest_ready_age=float(row["oldest_ready_age"]),
    )


def run_params(run: NewRun, now: float) -> dict[str, Any]:
    return {
        "id": run.id,
        "workflow": run.workflow,
        "queue": run.queue,
        "priority": run.priority,
        "input": run.input,
        "idempotency_key": run.idempotency_key,
        "parent_id": run.parent_id,
        "parent_seq": run.parent_seq,
        "deadline": run.deadline,
        "concurrency_key": run.concurrency_key,
        "concurrency_limit": run.concurrency_limit,
        "fairness_key": run.fairness_key,
        "tenant": run.tenant,
        "session": run.session,
        "webhook_url": run.webhook_url,
        "traceparent": run.traceparent,
        "now": now,
    }


def entry_params(entry: JournalEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "kind": entry.kind,
        "name": entry.name,
        "status": entry.status,
        "output": entry.output,
        "error": dump_json(entry.error),
        "attempt": entry.attempt,
        "started_at": entry.started_at,
        "finished_at": entry.finished_at,
        "wake_at": entry.wake_at,
        "child_id": entry.child_id,
    }


def with_history(rows: list[Any]) -> tuple[list[str], list[str]]:
    """Of freshly claimed rows, the ids that may have a journal and those that may have
    signals: a first claim has no journal, and a run never woken has no signals."""
    journals = [row["id"] for row in rows if row["attempts"] > 1]
    signals = [row["id"] for row in rows if row["wake_seq"] > 0]
    return journals, signals


def claimed_runs(
    rows: list[Any],
    owner: str,
    journal_rows: list[Any],
    signal_rows: list[Any],
    took_over: Collection[str] = (),
) -> list[ClaimedRun]:
    """Assemble claimed runs from their rows, journal rows and pending-signal rows;
    `took_over` holds the ids whose expired lease the claim took over."""
    journals: dict[str, dict[str, JournalEntry]] = {row["id"]: {} for row in rows}
    for r in journal_rows:
        journals[r["run_id"]][r["seq"]] = entry_from_row(r)
    signals: dict[str, list[SignalRecord]] = {row["id"]: [] for row in rows}
    for r in signal_rows:
        signals[r["run_id"]].append(SignalRecord(r["id"], r["name"], r["payload"], r["created_at"]))
    return [
        ClaimedRun(
            run_from_row(row),
            Lease(row["id"], owner, row["lease_token"], row["wake_seq"]),
            journals[row["id"]],
            signals[row["id"]],
            took_over=row["id"] in took_over,
        )
        for row in rows
    ]


def worker_from_row(row: Any) -> WorkerRecord:
    """A worker row of either dialect (queue lists are JSON text on SQLite, arrays on
    PostgreSQL)."""

    def names(value: Any) -> tuple[str, ...]:
        return tuple(json.loads(value) if isinstance(value, str) else value)

    return WorkerRecord(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        queues=names(row["queues"]),
        concurrency=row["concurrency"],
        busy=row["busy"],
        version=row["version"],
        compatible=names(row["compatible"]),
        draining=bool(row["draining"]),
        started_at=row["started_at"],
        last_seen=row["last_seen"],
        expires_at=row["expires_at"],
        workflows=None if row["workflows"] is None else names(row["workflows"]),
        pid_namespace=row["pid_namespace"],
        pid_started=row["pid_started"],
    )
