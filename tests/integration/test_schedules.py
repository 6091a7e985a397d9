"""Schedules on both stores: declared and added schedules, one run per tick however many
schedulers race, missed ticks, pause/resume/delete. Time is a fake `now` passed in, except in
the one test that lets a real worker fire a tick."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

import bosun
from bosun.errors import InvalidSchedule, ScheduleNotFound
from bosun.records import NewSchedule, RunFilter, RunRecord
from bosun.schedules import Scheduler, new_schedule, resume_schedule, run_key
from bosun.store import Store
from tests.helpers.wait import wait_until

pytestmark = pytest.mark.timeout(60)

T0 = int(datetime(2024, 1, 1, 10, 0, tzinfo=UTC).timestamp())  # a Monday, on a 5-minute tick

AppFactory = Callable[..., bosun.App]


def build_app(url: str, schedule: str | None = None, **options: Any) -> bosun.App:
    """An App with `report` (optionally scheduled) and an unscheduled `other`."""
    app = bosun.App("schedules", database=url)

    @app.workflow(name="report", schedule=schedule, **options)
    async def report(ctx: bosun.Context, scheduled_at: datetime, topic: str = "news") -> str:
        return f"{topic}@{scheduled_at.isoformat()}"

    @app.workflow(name="other")
    async def other(ctx: bosun.Context) -> None:
        return None

    return app


@pytest.fixture
async def apps(any_db_url: str) -> AsyncIterator[AppFactory]:
    """Open Apps on one database, each with its own connections (like separate workers)."""
    opened: list[bosun.App] = []

    def make(schedule: str | None = None, **options: Any) -> bosun.App:
        app = build_app(any_db_url, schedule, **options)
        opened.append(app)
        return app

    yield make
    for app in opened:
        await app.close()


async def opened(app: bosun.App) -> bosun.App:
    await app.open()
    return app


async def add(store: Store, name: str = "reports", **fields: Any) -> None:
    fields.setdefault("workflow", "report")
    fields.setdefault("cron", "*/5 * * * *")
    await store.add_schedule(new_schedule(name, now=fields.pop("now", T0 - 1), **fields))


async def runs_by_key(store: Store) -> dict[str, Any]:
    runs = await store.list_runs(RunFilter(limit=1000))
    keys = [r.idempotency_key for r in runs]
    assert len(keys) == len(set(keys))
    return {r.idempotency_key: r for r in runs}


async def test_declared_schedules_follow_the_code(apps: AppFactory) -> None:
    app = await opened(apps("*/5 * * * *", timezone="Europe/Paris"))
    await add(app.store, "cli-made", workflow="other", cron="@daily")
    await Scheduler(app).declare(now=T0 - 1)
    record = await app.store.get_schedule("report")
    assert record is not None
    assert (record.source, record.cron, record.timezone, record.next_tick) == (
        "code",
        "*/5 * * * *",
        "Europe/Paris",
        T0,
    )

    # A restart keeps the next tick, so ticks missed while down are seen as missed.
    await Scheduler(app).declare(now=T0 + 3600)
    assert (await app.store.get_schedule("report")).next_tick == T0  # type: ignore[union-attr]
    await app.store.set_schedule_paused("report", True)
    await Scheduler(app).declare(now=T0 + 3600)
    assert (await app.store.get_schedule("report")).paused  # type: ignore[union-attr]

    # New code: a new expression moves the next tick.
    changed = await opened(apps("0 * * * *", schedule_missed="catch_up"))
    await Scheduler(changed).declare(now=T0 + 1)
    record = await app.store.get_schedule("report")
    assert record is not None
    assert (record.cron, record.missed, record.next_tick) == ("0 * * * *", "catch_up", T0 + 3600)

    # Code without the schedule removes it; schedules added by hand stay.
    await Scheduler(await opened(apps(None))).declare(now=T0 + 2)
    assert [s.name for s in await app.store.list_schedules()] == ["cli-made"]


async def test_each_tick_starts_one_run_however_many_schedulers_race(apps: AppFactory) -> None:
    workers = [await opened(apps()) for _ in range(4)]
    store = workers[0].store
    await add(store)
    schedulers = [Scheduler(w) for w in workers]
    started: list[str] = []
    for n in range(5):
        tick = T0 + 300 * n
        fired = await asyncio.gather(
            *(s.fire_due(tick + 0.25 * i) for i, s in enumerate(schedulers))
        )
        started += [run_id for ids in fired for run_id in ids]
    runs = await runs_by_key(store)
    assert sorted(runs) == [run_key("reports", T0 + 300 * n) for n in range(5)]
    assert sorted(started) == sorted(r.id for r in runs.values())
    record = await store.get_schedule("reports")
    assert record is not None
    assert (record.next_tick, record.last_tick) == (T0 + 1500, T0 + 1200)
    assert record.last_run_id == runs[run_key("reports", T0 + 1200)].id


async def test_a_stale_decision_loses_the_compare_and_set(apps: AppFactory) -> None:
    a, b = await opened(apps()), await opened(apps())
    await add(a.store)
    # Both read the schedule as due before either acts.
    seen_a = await a.store.due_schedules(["report"], T0, 10)
    seen_b = await b.store.due_schedules(["report"], T0 + 1, 10)
    plan_a = Scheduler(a).plan(seen_a[0], T0)
    plan_b = Scheduler(b).plan(seen_b[0], T0 + 1)
    assert plan_a is not None and plan_b is not None
    assert plan_a[0].next_tick == plan_b[0].next_tick == T0 + 300
    assert not plan_a[1] and not plan_b[1]  # nothing missed
    first, second = await asyncio.gather(
        b.store.fire_schedule(plan_b[0], T0 + 1), a.store.fire_schedule(plan_a[0], T0)
    )
    assert [first is None, second is None].count(True) == 1
    assert len(await runs_by_key(a.store)) == 1


async def test_missed_ticks_are_skipped(apps: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    app = await opened(apps())
    await add(app.store)
    scheduler = Scheduler(app)
    # Down for an hour, back 10 s after a tick: only that tick starts.
    with caplog.at_level(logging.WARNING, "bosun.schedules"):
        await scheduler.fire_due(T0 + 3610)
    assert "ticks missed since 2024-01-01T10:00:00Z were dropped" in caplog.text
    assert sorted(await runs_by_key(app.store)) == [run_key("reports", T0 + 3600)]
    # Down again, back 2 minutes after a tick: that tick is missed too; nothing starts.
    await scheduler.fire_due(T0 + 7200 + 120)
    assert len(await runs_by_key(app.store)) == 1
    record = await app.store.get_schedule("reports")
    assert record is not None and record.next_tick == T0 + 7500


async def test_missed_ticks_catch_up_within_the_bound(apps: AppFactory) -> None:
    app = await opened(apps())
    await add(app.store, missed="catch_up", max_catch_up=3)
    await Scheduler(app).fire_due(T0 + 3600 + 200)
    runs = await runs_by_key(app.store)
    assert sorted(runs) == [run_key("reports", T0 + s) for s in (3000, 3300, 3600)]
    started_at = [json.loads(r.input)["scheduled_at"] for r in runs.values()]
    assert sorted(started_at) == [
        "2024-01-01T10:50:00Z",
        "2024-01-01T10:55:00Z",
        "2024-01-01T11:00:00Z",
    ]
    assert (await app.store.get_schedule("reports")).next_tick == T0 + 3900  # type: ignore[union-attr]


async def test_ticks_across_a_daylight_saving_change(apps: AppFactory) -> None:
    app = await opened(apps())
    paris_noon = int(datetime(2024, 3, 29, 11, tzinfo=UTC).timestamp())
    await add(app.store, cron="30 2 * * *", timezone="Europe/Paris", now=paris_noon)
    scheduler = Scheduler(app)
    for _ in range(3):
        record = await app.store.get_schedule("reports")
        assert record is not None
        await scheduler.fire_due(record.next_tick + 5)
    runs = await runs_by_key(app.store)
    # 02:30 CET, then 03:00 CEST (02:30 does not exist on the 31st), then 02:30 CEST.
    assert sorted(runs) == [
        "schedule:reports:2024-03-30T01:30:00Z",
        "schedule:reports:2024-03-31T01:00:00Z",
        "schedule:reports:2024-04-01T00:30:00Z",
    ]
    inputs = sorted(json.loads(r.input)["scheduled_at"] for r in runs.values())
    assert inputs[1] == "2024-03-31T03:00:00+02:00"  # the tick in the schedule's time zone


async def test_inputs_errors_and_unknown_workflows(apps: AppFactory) -> None:
    app = await opened(apps())
    store = app.store
    await add(store, "with-input", input={"topic": "weather"})
    await add(store, "bad-input", input={"colour": "red"})
    await add(store, "elsewhere", workflow="not_in_this_app")
    started = await Scheduler(app).fire_due(T0 + 1)
    runs = await runs_by_key(store)
    assert len(started) == 1 and sorted(runs) == [run_key("with-input", T0)]
    assert json.loads(runs[run_key("with-input", T0)].input) == {
        "topic": "weather",
        "scheduled_at": "2024-01-01T10:00:00Z",
    }
    bad = await store.get_schedule("bad-input")
    assert bad is not None and bad.next_tick == T0 + 300
    assert "unexpected keyword argument 'colour'" in (bad.last_error or "")
    elsewhere = await store.get_schedule("elsewhere")
    assert elsewhere is not None and elsewhere.next_tick == T0  # left for a worker that knows it


async def test_pause_resume_delete(apps: AppFactory) -> None:
    app = await opened(apps())
    store = app.store
    await add(store)
    with pytest.raises(InvalidSchedule, match="already exists"):
        await add(store)
    assert (await store.set_schedule_paused("reports", True)).paused
    assert await Scheduler(app).fire_due(T0 + 3600) == []
    # Resuming starts from the next tick: ticks that fell while paused never start.
    resumed = await resume_schedule(store, "reports", now=T0 + 3601)
    assert (resumed.paused, resumed.next_tick) == (False, T0 + 3900)
    assert await Scheduler(app).fire_due(T0 + 3601) == []
    assert len(await Scheduler(app).fire_due(T0 + 3900)) == 1
    await store.delete_schedule("reports")
    assert await store.list_schedules() == []
    assert len(await runs_by_key(store)) == 1  # its runs stay
    for operation in (
        store.delete_schedule("reports"),
        store.set_schedule_paused("reports", True),
        resume_schedule(store, "reports"),
    ):
        with pytest.raises(ScheduleNotFound, match="no schedule named 'reports'"):
            await operation


@pytest.mark.timeout(30)
async def test_a_worker_fires_due_ticks_in_real_time(apps: AppFactory) -> None:
    app = await opened(apps("0 0 1 1 *"))  # declared, but not due during this test
    await app.store.add_schedule(_due_soon())
    async with app.worker(concurrency=2):

        async def fired_and_done() -> list[RunRecord] | None:
            runs = await app.store.list_runs(RunFilter(workflow="report"))
            return runs if runs and runs[0].status == "completed" else None

        runs = await wait_until(fired_and_done, 20, "the due tick's run to complete")
    assert [r.status for r in runs] == ["completed"]
    assert runs[0].idempotency_key and runs[0].idempotency_key.startswith("schedule:soon:")
    assert json.loads(runs[0].result or "null").startswith("t@")
    declared = await app.store.get_schedule("report")
    assert declared is not None and declared.source == "code"


def _due_soon() -> NewSchedule:
    """A schedule whose next tick is a second away (cron ticks are whole minutes)."""
    schedule = new_schedule("soon", workflow="report", cron="* * * * *", input={"topic": "t"})
    return dataclasses.replace(schedule, next_tick=int(time.time()) + 1)
