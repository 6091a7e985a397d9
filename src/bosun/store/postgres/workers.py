"""The worker registry on PostgreSQL: who is alive, serving what, on which version."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bosun.records import WORKER_FORGET_AFTER, HeldLease, WorkerRecord
from bosun.store.notify import LocalNotifier
from bosun.store.postgres.io import Conn, Q, T
from bosun.store.rows import worker_from_row


class PostgresWorkers:
    """The worker-registry operations of `PostgresStore`."""

    notifier: LocalNotifier

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

    async def expire_worker(self, worker_id: str, now: float) -> list[str]:
        async def op(conn: Conn) -> list[str]:
            params = {"owner": worker_id, "now": now}
            rows = await (await conn.execute(Q["expire_worker_leases"], params)).fetchall()
            return [r["id"] for r in rows]

        expired = await self._run(op)
        if expired:
            self.notifier.work_ready()  # this process's workers: NOTIFY wakes the others
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
            "owners": list(owners),
            "queues": list(queues),
            "workflows": list(workflows),
            "now": now,
            "limit": limit,
        }

        async def op(conn: Conn) -> list[HeldLease]:
            cur = await conn.execute(Q["leases_held_by"], params)
            return [
                HeldLease(r["id"], r["lease_owner"], r["lease_token"], r["lease_expires_at"])
                for r in await cur.fetchall()
            ]

        return await self._run(op, idempotent=True)
