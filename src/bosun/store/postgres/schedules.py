"""Schedules on PostgreSQL (see `bosun.schedules`)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable

from bosun.errors import InvalidSchedule, ScheduleNotFound
from bosun.records import Firing, NewSchedule, ScheduleRecord
from bosun.store.postgres.io import Conn, Q, T
from bosun.store.rows import run_params


class PostgresSchedules:
    """The schedule operations of `PostgresStore`."""

    async def _run(self, op: Callable[[Conn], Awaitable[T]], *, idempotent: bool = False) -> T:
        raise NotImplementedError

    async def add_schedule(self, schedule: NewSchedule) -> ScheduleRecord:
        async def op(conn: Conn) -> ScheduleRecord:
            params = {**dataclasses.asdict(schedule), "now": time.time()}
            row = await (await conn.execute(Q["insert_schedule"], params)).fetchone()
            if row is None:
                raise InvalidSchedule(
                    f"a schedule named {schedule.name!r} already exists: delete it first "
                    "or choose another name"
                )
            return ScheduleRecord.from_row(row)

        return await self._run(op)

    async def declare_schedules(self, workflows: list[str], schedules: list[NewSchedule]) -> None:
        async def op(conn: Conn) -> None:
            now = time.time()
            async with conn.transaction():
                for schedule in schedules:
                    params = {**dataclasses.asdict(schedule), "now": now}
                    await conn.execute(Q["declare_schedule"], params)
                names = [schedule.name for schedule in schedules]
                await conn.execute(
                    Q["delete_undeclared_schedules"], {"workflows": workflows, "names": names}
                )

        await self._run(op)

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        async def op(conn: Conn) -> ScheduleRecord | None:
            row = await (await conn.execute(Q["get_schedule"], {"name": name})).fetchone()
            return None if row is None else ScheduleRecord.from_row(row)

        return await self._run(op)

    async def list_schedules(self) -> list[ScheduleRecord]:
        async def op(conn: Conn) -> list[ScheduleRecord]:
            rows = await (await conn.execute(Q["list_schedules"])).fetchall()
            return [ScheduleRecord.from_row(r) for r in rows]

        return await self._run(op)

    async def set_schedule_paused(
        self, name: str, paused: bool, next_tick: int | None = None
    ) -> ScheduleRecord:
        async def op(conn: Conn) -> ScheduleRecord:
            params = {"name": name, "paused": paused, "next_tick": next_tick, "now": time.time()}
            row = await (await conn.execute(Q["set_schedule_paused"], params)).fetchone()
            if row is None:
                raise ScheduleNotFound(f"no schedule named {name!r}")
            return ScheduleRecord.from_row(row)

        return await self._run(op)

    async def delete_schedule(self, name: str) -> None:
        async def op(conn: Conn) -> None:
            row = await (await conn.execute(Q["delete_schedule"], {"name": name})).fetchone()
            if row is None:
                raise ScheduleNotFound(f"no schedule named {name!r}")

        await self._run(op)

    async def due_schedules(
        self, workflows: list[str], now: float, limit: int
    ) -> list[ScheduleRecord]:
        async def op(conn: Conn) -> list[ScheduleRecord]:
            params = {"workflows": workflows, "now": now, "limit": limit}
            rows = await (await conn.execute(Q["due_schedules"], params)).fetchall()
            return [ScheduleRecord.from_row(r) for r in rows]

        return await self._run(op)

    async def fire_schedule(self, firing: Firing, now: float) -> list[str] | None:
        async def op(conn: Conn) -> list[str] | None:
            async with conn.transaction():
                cur = await conn.execute(Q["advance_schedule"], firing.params(now))
                if await cur.fetchone() is None:
                    return None
                created = []
                for run in firing.runs:
                    cur = await conn.execute(Q["insert_run"], run_params(run, now))
                    if await cur.fetchone() is not None:
                        created.append(run.id)
                if created:
                    params = {"name": firing.name, "run_id": created[-1]}
                    await conn.execute(Q["set_schedule_last_run"], params)
                    for queue in sorted({run.queue for run in firing.runs}):
                        await conn.execute("SELECT pg_notify('bosun_work', %s)", (queue,))
                return created

        return await self._run(op)
