"""The worker registry on SQLite: who is alive, serving what, on which version."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from bosun.records import WORKER_FORGET_AFTER, HeldLease, WorkerRecord
from bosun.store.notify import LocalNotifier
from bosun.store.rows import worker_from_row
from bosun.store.sqlite.io import GroupCommitWriter, Q, Reader


class SqliteWorkers:
    """The worker-registry operations of `SqliteStore`."""

    _writer: GroupCommitWriter
    _reader: Reader
    notifier: LocalNotifier

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

    async def expire_worker(self, worker_id: str, now: float) -> list[str]:
        def op(conn: sqlite3.Connection) -> list[str]:
            params = {"owner": worker_id, "now": now}
            expired = [r["id"] for r in conn.execute(Q["expire_worker_leases"], params)]
            conn.execute(Q["mark_worker_gone"], {"id": worker_id, "now": now})
            return expired

        expired = await self._writer.submit(op)
        if expired:
            self.notifier.work_ready()
        return expired

    async def leases_held_by(
        self,
        owners: Sequence[str],
        queues: Sequence[str],
        workflows: Sequence[str],
        now: float,
        limit: int,
    ) -> list[HeldLease]:
        params = {
            "owners": json.dumps(list(owners)),
            "queues": json.dumps(list(queues)),
            "workflows": json.dumps(list(workflows)),
            "now": now,
            "limit": limit,
        }

        def op(conn: sqlite3.Connection) -> list[HeldLease]:
            return [
                HeldLease(r["id"], r["lease_owner"], r["lease_token"], r["lease_expires_at"])
                for r in conn.execute(Q["leases_held_by"], params)
            ]

        return await self._reader.submit(op)
