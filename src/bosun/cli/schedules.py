"""`bosun schedules`: the cron schedules that start runs."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Annotated, Any

import typer

from bosun.cli.common import (
    DatabaseOpt,
    JsonOpt,
    fail,
    out,
    parse_json,
    print_json,
    run_async,
    when,
    with_store,
)
from bosun.cli.tables import print_table
from bosun.errors import ConfigurationError
from bosun.records import ScheduleRecord
from bosun.store import ScheduleStore

schedules_cli = typer.Typer(help="Cron schedules that start runs.", no_args_is_help=True)
ScheduleName = Annotated[str, typer.Argument(help="The schedule's name.", show_default=False)]


def _schedule_json(record: ScheduleRecord) -> dict[str, Any]:
    from bosun.schedules import iso

    data = dataclasses.asdict(record)
    data["input"] = json.loads(record.input)
    data["next_tick_at"] = iso(record.next_tick)
    data["last_tick_at"] = None if record.last_tick is None else iso(record.last_tick)
    return data


def _local(tick: int | None, timezone: str) -> str:
    from bosun.cron import zone

    if tick is None:
        return "-"
    try:
        return datetime.fromtimestamp(tick, zone(timezone)).strftime("%Y-%m-%d %H:%M %Z")
    except ConfigurationError:
        return when(tick) + " UTC"


def _schedule_done(as_json: bool, verb: str, record: ScheduleRecord) -> None:
    if as_json:
        print_json({"name": record.name, "action": verb, "schedule": _schedule_json(record)})
        return
    out.print(f"{verb} schedule {record.name}", highlight=False)
    if not record.paused:
        next_at = _local(record.next_tick, record.timezone)
        out.print(f"next tick: {next_at} ({record.cron})", highlight=False)


@schedules_cli.command("add")
def schedules_add(
    name: ScheduleName,
    workflow: Annotated[str, typer.Option("--workflow", "-w", help="Workflow each tick starts.")],
    cron: Annotated[
        str, typer.Option(help="Cron expression: 5 fields (e.g. '*/5 * * * *') or @daily etc.")
    ],
    timezone: Annotated[str, typer.Option(help="IANA time zone of the expression.")] = "UTC",
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="JSON object of the runs' named inputs.")
    ] = None,
    queue: Annotated[str | None, typer.Option(help="Queue (default: the workflow's).")] = None,
    missed: Annotated[
        str, typer.Option(help="Ticks missed while no worker ran: skip or catch_up.")
    ] = "skip",
    max_catch_up: Annotated[
        int, typer.Option(min=1, help="Missed ticks started at most with catch_up.")
    ] = 3,
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a schedule: a run of --workflow at each tick of --cron, started by any worker
    that knows the workflow."""
    from bosun.schedules import new_schedule

    data = parse_json(input, "--input")
    try:
        schedule = new_schedule(
            name,
            workflow=workflow,
            cron=cron,
            timezone=timezone,
            input=data,
            queue=queue,
            missed=missed,
            max_catch_up=max_catch_up,
        )
    except ConfigurationError as exc:
        fail(str(exc), 2)
    record = run_async(
        lambda: with_store(database, lambda s: s.add_schedule(schedule), create=True)
    )
    _schedule_done(as_json, "added", record)


@schedules_cli.command("list")
def schedules_list(database: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """List schedules with their next tick."""
    records = run_async(lambda: with_store(database, lambda s: s.list_schedules()))
    if as_json:
        print_json([_schedule_json(r) for r in records])
        return
    rows = []
    for r in records:
        cron = r.cron if r.timezone == "UTC" else f"{r.cron} ({r.timezone})"
        next_at = "paused" if r.paused else _local(r.next_tick, r.timezone)
        state = f"{r.source}, {r.missed.replace('_', ' ')}"
        rows.append((r.name, r.workflow, cron, next_at, state, r.last_error or ""))
    print_table(
        ("name", "workflow", "cron", "next tick", "state", "last error"),
        rows,
        optional=("next tick", "cron", "last error", "state"),
        free_text=("last error",),
    )


@schedules_cli.command("pause")
def schedules_pause(
    name: ScheduleName, database: DatabaseOpt = None, as_json: JsonOpt = False
) -> None:
    """Pause a schedule: its ticks start nothing until it is resumed."""
    record = run_async(lambda: with_store(database, lambda s: s.set_schedule_paused(name, True)))
    _schedule_done(as_json, "paused", record)


@schedules_cli.command("resume")
def schedules_resume(
    name: ScheduleName, database: DatabaseOpt = None, as_json: JsonOpt = False
) -> None:
    """Resume a paused schedule from its next tick (ticks missed while paused never start)."""
    from bosun.schedules import resume_schedule

    record = run_async(lambda: with_store(database, lambda s: resume_schedule(s, name)))
    _schedule_done(as_json, "resumed", record)


@schedules_cli.command("delete")
def schedules_delete(
    name: ScheduleName, database: DatabaseOpt = None, as_json: JsonOpt = False
) -> None:
    """Delete a schedule (its runs stay). One declared in code returns when a worker starts."""

    async def delete(store: ScheduleStore) -> ScheduleRecord | None:
        record = await store.get_schedule(name)
        await store.delete_schedule(name)
        return record

    record = run_async(lambda: with_store(database, delete))
    declared = record is not None and record.source == "code"
    if as_json:
        print_json({"name": name, "action": "deleted", "declared_in_code": declared})
        return
    out.print(f"deleted schedule {name}", highlight=False)
    if declared:
        out.print(
            "it is declared in code (@app.workflow(schedule=…)): the next worker to start "
            "declares it again; remove schedule= to delete it for good",
            highlight=False,
        )
