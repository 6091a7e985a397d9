"""Schedules: cron expressions that start runs, declared in code or added at run time."""

from __future__ import annotations

from typing import Protocol

from bosun.records import Firing, NewSchedule, ScheduleRecord


class ScheduleStore(Protocol):
    """Stores schedules and fires their ticks, each exactly once."""

    async def add_schedule(self, schedule: NewSchedule) -> ScheduleRecord:
        """Insert a schedule; `InvalidSchedule` if its name is taken."""

    async def declare_schedules(self, workflows: list[str], schedules: list[NewSchedule]) -> None:
        """Upsert the schedules declared in code, and delete code-declared schedules of
        `workflows` that are no longer declared, in one transaction.

        A declared schedule keeps its next tick and paused state unless its cron expression or
        time zone changed.
        """

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        """The schedule, or None."""

    async def list_schedules(self) -> list[ScheduleRecord]:
        """All schedules by name."""

    async def set_schedule_paused(
        self, name: str, paused: bool, next_tick: int | None = None
    ) -> ScheduleRecord:
        """Pause or resume a schedule (moving its next tick if given); `ScheduleNotFound`."""

    async def delete_schedule(self, name: str) -> None:
        """Delete a schedule (its runs stay); `ScheduleNotFound` if there is none."""

    async def due_schedules(
        self, workflows: list[str], now: float, limit: int
    ) -> list[ScheduleRecord]:
        """Unpaused schedules of these workflows whose next tick is at or before `now`."""

    async def fire_schedule(self, firing: Firing, now: float) -> list[str] | None:
        """Apply a scheduler's decision atomically: advance the schedule to `firing.next_tick`
        only if it is still at `firing.expected_tick`, and insert `firing.runs` (whose
        idempotency keys make a tick's run unique) in the same transaction.

        Returns the ids of the runs created, or None if another scheduler moved it first.
        """
