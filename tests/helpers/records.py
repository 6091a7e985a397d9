"""Records the tests build by hand, with defaults for every field a test does not care about."""

from __future__ import annotations

import dataclasses
import time

from bosun.records import WorkerRecord


def worker_record(worker_id: str = "w", *, ttl: float = 30.0, **fields: object) -> WorkerRecord:
    """A live worker's registry row: seen now, expiring in `ttl` s; `fields` override."""
    now = time.time()
    record = WorkerRecord(
        id=worker_id,
        host="host-a",
        pid=123,
        queues=("default",),
        concurrency=4,
        busy=0,
        version="v1",
        compatible=(),
        draining=False,
        started_at=now,
        last_seen=now,
        expires_at=now + ttl,
    )
    return dataclasses.replace(record, **fields)  # type: ignore[arg-type]
