"""The recent workload on PostgreSQL, for `bosun plan --from-db`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bosun.store.postgres.io import Conn, Q, T
from bosun.store.workload import WORKLOAD_SAMPLE_LIMIT, WorkloadRun, WorkloadSample


class PostgresWorkload:
    """The workload query of `PostgresStore`."""

    async def _run(self, op: Callable[[Conn], Awaitable[T]], *, idempotent: bool = False) -> T:
        raise NotImplementedError

    async def workload_sample(
        self, since: float, limit: int = WORKLOAD_SAMPLE_LIMIT
    ) -> WorkloadSample:
        params = {"since": since, "limit": limit}

        async def op(conn: Conn) -> WorkloadSample:
            hourly = await (await conn.execute(Q["workload_hourly"], params)).fetchall()
            queues = await (await conn.execute(Q["workload_queues"], params)).fetchall()
            runs = await (await conn.execute(Q["workload_runs"], params)).fetchall()
            return WorkloadSample(
                hourly=[(int(h["hour"]), int(h["runs"])) for h in hourly],
                first_created=float(hourly[0]["first"]) if hourly else None,
                runs=[WorkloadRun.from_row(r) for r in runs],
                queues=[q["queue"] for q in queues],
            )

        return await self._run(op, idempotent=True)
