"""The worker registry on SQLite: who is alive, serving what, on which version."""

from __future__ import annotations

import json
import sqlite3

from bosun.store.records import WORKER_FORGET_AFTER, WorkerRecord
from bosun.store.rows import worker_from_row
from bosun.store.sqlite_io import GroupCommitWriter, Q, Reader


class SqliteWorkers:
    """The worker-registry operations of `SqliteStore`."""

    _writer: GroupCommitWriter
    _reader: Reader

    async def announce_worker(self, worker: WorkerRecord) -> None:
        params = {
            **worker.__dict__,
            "queues": json.dumps(list(worker.queues)),
            "compatible": json.dumps(list(worker.compatible)),
            "workflows": None if worker.workflows is None else json.dumps(list(worker.workflows)),
        }

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(Q["announce_worker"], params)
            conn.execute(
                Q["forget_dead_workers"], {"before": worker.last_seen - WORKER_FORGET_AFTER}
            )

        await self._writer.submit(op)

    async def retire_worker(self, worker_id: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(Q["retire_worker"], {"id": worker_id})

        await self._writer.submit(op)

    async def list_workers(self) -> list[WorkerRecord]:
        def op(conn: sqlite3.Connection) -> list[WorkerRecord]:
            return [worker_from_row(r) for r in conn.execute(Q["list_workers"])]

        return await self._reader.submit(op)
