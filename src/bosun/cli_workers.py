"""`bosun workers`: the worker processes registered in the database, what they serve and
which deployment version they run."""

from __future__ import annotations

import dataclasses
import time

from rich.table import Table

from bosun.cli_common import DatabaseOpt, JsonOpt, _print_json, _run, _when, _with_store, cli, out
from bosun.store.records import WorkerRecord


def _state(worker: WorkerRecord, now: float) -> str:
    if worker.expires_at < now:
        return "gone"
    return "draining" if worker.draining else "alive"


@cli.command("workers")
def workers(database: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """List workers: host, version, queues, busy slots, and whether each is alive.

    A worker that stopped without retiring (killed) shows as `gone` for an hour."""
    records = _run(lambda: _with_store(database, lambda s: s.list_workers()))
    now = time.time()
    if as_json:
        _print_json([{**dataclasses.asdict(w), "state": _state(w, now)} for w in records])
        return
    table = Table("worker", "version", "queues", "busy", "state", "last seen")
    table.columns[0].no_wrap = True
    for w in records:
        table.add_row(
            w.id,
            w.version,
            ",".join(w.queues),
            f"{w.busy}/{w.concurrency}",
            _state(w, now),
            _when(w.last_seen),
        )
    out.print(table)
