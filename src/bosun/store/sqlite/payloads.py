"""Large run inputs and results on SQLite: compressed, in `run_payloads`, out of the hot row.

SQLite rewrites a whole row, overflow pages included, on every UPDATE; a run's row is updated
by its claim, each heartbeat and each status change. A value over `offload_bytes` therefore
goes to `run_payloads` (zlib) and the row holds `OFFLOADED`, which no JSON text can be.
Readers get the value back transparently.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Sequence
from typing import Any

from bosun.records import NewRun
from bosun.store.rows import run_params
from bosun.store.sqlite.io import Q

OFFLOADED = "@offloaded"


def store_input(conn: sqlite3.Connection, run_id: str, text: str) -> None:
    _store(conn, run_id, "input", text)


def _store(conn: sqlite3.Connection, run_id: str, field: str, text: str) -> None:
    data = text.encode()
    conn.execute(
        Q["upsert_payload"],
        {"run_id": run_id, "field": field, "data": zlib.compress(data, 6), "size": len(data)},
    )


def insert_run(
    conn: sqlite3.Connection, run: NewRun, now: float, offload_bytes: int, query: str = "insert_run"
) -> sqlite3.Cursor:
    """Insert a run (ON CONFLICT DO NOTHING), its input offloaded when large."""
    params = run_params(run, now)
    large = len(run.input) > offload_bytes
    if large:
        params["input"] = OFFLOADED
    cursor = conn.execute(Q[query], params)
    if large and cursor.rowcount != 0:  # -1 for RETURNING queries: checked by the caller
        _store(conn, run.id, "input", run.input)
    return cursor


def result_column(
    conn: sqlite3.Connection, run_id: str, result: str | None, offload_bytes: int
) -> str | None:
    """What the `result` column holds for this result: the text, or OFFLOADED."""
    if result is None or len(result) <= offload_bytes:
        return result
    _store(conn, run_id, "result", result)
    return OFFLOADED


def resolve(conn: sqlite3.Connection, rows: Sequence[Any]) -> list[Any]:
    """The rows with offloaded inputs and results read back (as dicts where changed)."""
    wanted = {
        (row["id"], field)
        for row in rows
        for field in ("input", "result")
        if row[field] == OFFLOADED
    }
    if not wanted:
        return list(rows)
    run_ids = json.dumps(sorted({run_id for run_id, _ in wanted}))
    found = {
        (row["run_id"], row["field"]): zlib.decompress(row["data"]).decode()
        for row in conn.execute(Q["payloads_of"], {"run_ids": run_ids})
        if (row["run_id"], row["field"]) in wanted
    }
    resolved = []
    for row in rows:
        if row["input"] == OFFLOADED or row["result"] == OFFLOADED:
            row = dict(row)
            for field in ("input", "result"):
                if row[field] == OFFLOADED:
                    row[field] = found.get((row["id"], field), "null")
        resolved.append(row)
    return resolved
