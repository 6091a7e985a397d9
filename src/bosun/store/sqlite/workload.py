"""The recent workload on SQLite, for `bosun plan --from-db`."""

from __future__ import annotations

import sqlite3

from bosun.store.sqlite.io import Q, Reader
from bosun.store.workload import WORKLOAD_SAMPLE_LIMIT, WorkloadRun, WorkloadSample


class SqliteWorkload:
    """The workload query of `SqliteStore`."""

    _reader: Reader

    async def workload_sample(
        self, since: float, limit: int = WORKLOAD_SAMPLE_LIMIT
    ) -> WorkloadSample:
        params = {"since": since, "limit": limit}

        def op(conn: sqlite3.Connection) -> WorkloadSample:
            hourly = conn.execute(Q["workload_hourly"], params).fetchall()
            queues = conn.execute(Q["workload_queues"], params).fetchall()
            runs = conn.execute(Q["workload_runs"], params).fetchall()
            return WorkloadSample(
                hourly=[(int(h["hour"]), int(h["runs"])) for h in hourly],
                first_created=float(hourly[0]["first"]) if hourly else None,
                runs=[WorkloadRun.from_row(r) for r in runs],
                queues=[q["queue"] for q in queues],
            )

        return await self._reader.submit(op)
