"""`bosun workers`: the worker processes registered in the database, what they serve and
which deployment version they run."""

from __future__ import annotations

import dataclasses
import time

from bosun.cli.common import DatabaseOpt, JsonOpt, print_json, run_async, when, with_store
from bosun.cli.tables import print_table
from bosun.records import WorkerRecord


def _state(worker: WorkerRecord, now: float) -> str:
    if worker.expires_at < now:
        return "gone"
    return "draining" if worker.draining else "alive"


def workers(database: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """List workers: host, version, queues, busy slots, and whether each is alive.

    A worker that stopped without retiring (killed) shows as `gone` for an hour."""
    records = run_async(lambda: with_store(database, lambda s: s.list_workers()))
    now = time.time()
    if as_json:
        print_json([{**dataclasses.asdict(w), "state": _state(w, now)} for w in records])
        return
    print_table(
        ("worker", "version", "queues", "busy", "state", "last seen"),
        [
            (
                w.id,
                w.version,
                ",".join(w.queues),
                f"{w.busy}/{w.concurrency}",
                _state(w, now),
                when(w.last_seen),
            )
            for w in records
        ],
        optional=("state", "queues", "busy", "version", "last seen"),
    )
