"""Schedules on SQLite (see `bosun.schedules`)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time

from bosun.errors import InvalidSchedule, ScheduleNotFound
from bosun.records import Firing, NewSchedule, ScheduleRecord
from bosun.store.notify import LocalNotifier
from bosun.store.sqlite.io import GroupCommitWriter, Q, Reader, SqliteConfig
from bosun.store.sqlite.payloads import insert_run


class SqliteSchedules:
    """The schedule operations of `SqliteStore`."""

    _writer: GroupCommitWriter
    _reader: Reader
    config: SqliteConfig
    notifier: LocalNotifier

    async def add_schedule(self, schedule: NewSchedule) -> ScheduleRecord:
        def op(conn: sqlite3.Connection) -> ScheduleRecord:
            params = {**dataclasses.asdict(schedule), "now": time.time()}
            row = conn.execute(Q["insert_schedule"], params).fetchone()
            if row is None:
                raise InvalidSchedule(
                    f"a schedule named {schedule.name!r} already exists: delete it first "
                    "or choose another name"
                )
            return ScheduleRecord.from_row(row)

        return await self._writer.submit(op)

    async def declare_schedules(self, workflows: list[str], schedules: list[NewSchedule]) -> None:
        def op(conn: sqlite3.Connection) -> None:
            now = time.time()
            for schedule in schedules:
                conn.execute(Q["declare_schedule"], {**dataclasses.asdict(schedule), "now": now})
            names = json.dumps([schedule.name for schedule in schedules])
            conn.execute(
                Q["delete_undeclared_schedules"],
                {"workflows": json.dumps(workflows), "names": names},
            )

        await self._writer.submit(op)

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        def op(conn: sqlite3.Connection) -> ScheduleRecord | None:
            row = conn.execute(Q["get_schedule"], {"name": name}).fetchone()
            return None if row is None else ScheduleRecord.from_row(row)

        return self._reader.call(op)

    async def list_schedules(self) -> list[ScheduleRecord]:
        def op(conn: sqlite3.Connection) -> list[ScheduleRecord]:
            return [ScheduleRecord.from_row(r) for r in conn.execute(Q["list_schedules"])]

        return await self._reader.submit(op)

    async def set_schedule_paused(
        self, name: str, paused: bool, next_tick: int | None = None
    ) -> ScheduleRecord:
        def op(conn: sqlite3.Connection) -> ScheduleRecord:
            params = {"name": name, "paused": paused, "next_tick": next_tick, "now": time.time()}
            row = conn.execute(Q["set_schedule_paused"], params).fetchone()
            if row is None:
                raise ScheduleNotFound(f"no schedule named {name!r}")
            return ScheduleRecord.from_row(row)

        return await self._writer.submit(op)

    async def delete_schedule(self, name: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if conn.execute(Q["delete_schedule"], {"name": name}).rowcount == 0:
                raise ScheduleNotFound(f"no schedule named {name!r}")

        await self._writer.submit(op)

    async def due_schedules(
        self, workflows: list[str], now: float, limit: int
    ) -> list[ScheduleRecord]:
        def op(conn: sqlite3.Connection) -> list[ScheduleRecord]:
            params = {"workflows": json.dumps(workflows), "now": now, "limit": limit}
            return [ScheduleRecord.from_row(r) for r in conn.execute(Q["due_schedules"], params)]

        return await self._reader.submit(op)

    async def fire_schedule(self, firing: Firing, now: float) -> list[str] | None:
        def op(conn: sqlite3.Connection) -> list[str] | None:
            if conn.execute(Q["advance_schedule"], firing.params(now)).rowcount != 1:
                return None
            created = [
                run.id
                for run in firing.runs
                if insert_run(conn, run, now, self.config.offload_bytes).rowcount == 1
            ]
            if created:
                params = {"name": firing.name, "run_id": created[-1]}
                conn.execute(Q["set_schedule_last_run"], params)
            return created

        created = await self._writer.submit(op)
        if created:
            self.notifier.work_ready()
        return created
