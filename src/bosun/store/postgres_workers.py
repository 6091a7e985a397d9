"""The worker registry on PostgreSQL: who is alive, serving what, on which version."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bosun.store.postgres_io import Conn, Q, T
from bosun.store.records import WORKER_FORGET_AFTER, WorkerRecord
from bosun.store.rows import worker_from_row


class PostgresWorkers:
    """The worker-registry operations of `PostgresStore`."""

    async def _run(self, op: Callable[[Conn], Awaitable[T]], *, idempotent: bool = False) -> T:
        raise NotImplementedError

    async def announce_worker(self, worker: WorkerRecord) -> None:
        params = {
            **worker.__dict__,
            "queues": list(worker.queues),
            "compatible": list(worker.compatible),
            "workflows": None if worker.workflows is None else list(worker.workflows),
        }

        async def op(conn: Conn) -> None:
            await conn.execute(Q["announce_worker"], params)
            await conn.execute(
                Q["forget_dead_workers"], {"before": worker.last_seen - WORKER_FORGET_AFTER}
            )

        await self._run(op, idempotent=True)

    async def retire_worker(self, worker_id: str) -> None:
        async def op(conn: Conn) -> None:
            await conn.execute(Q["retire_worker"], {"id": worker_id})

        await self._run(op, idempotent=True)

    async def list_workers(self) -> list[WorkerRecord]:
        async def op(conn: Conn) -> list[WorkerRecord]:
            cur = await conn.execute(Q["list_workers"])
            return [worker_from_row(r) for r in await cur.fetchall()]

        return await self._run(op, idempotent=True)
