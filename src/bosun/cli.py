"""The `bosun` command line."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from bosun import serde
from bosun.cli_common import (
    ApiKeyOpt,
    AppRef,
    DatabaseOpt,
    JsonOpt,
    LogFormatOpt,
    Loop,
    LoopOpt,
    MetricsTokenOpt,
    UrlOpt,
    _fail,
    _load,
    _loop_factory,
    _parse_json,
    _print_json,
    _record_json,
    _remote,
    _run,
    _setup_logging,
    _when,
    _with_store,
    cli,
    db_cli,
    out,
    runs_cli,
)
from bosun.errors import ConfigurationError
from bosun.ids import check_identifier
from bosun.store import Store
from bosun.store.records import (
    RUN_STATUSES,
    QueueStats,
    RunFilter,
    RunRecord,
    ScheduleRecord,
    UnservedWork,
)

if TYPE_CHECKING:
    from bosun.client import Client

# -- worker ---------------------------------------------------------------------------------


@cli.command()
def worker(
    app_ref: AppRef,
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="Queue to serve (repeatable).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Runs executed at once.")] = 16,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once no work is ready or running.")
    ] = False,
    grace: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Seconds steps in flight get to finish on SIGTERM (default 30; with "
            "--max-seconds N, min(30, N/4)).",
            show_default=False,
        ),
    ] = None,
    max_seconds: Annotated[
        float | None,
        typer.Option(
            "--max-seconds",
            min=0.1,
            help="Drain mode: stop claiming --grace seconds before N, hand back what is held "
            "by N, exit (see docs/serverless.md).",
            metavar="N",
        ),
    ] = None,
    lease_ttl: Annotated[
        float | None, typer.Option(min=0.5, help="Seconds a claim lasts without renewal.")
    ] = None,
    poll_interval: Annotated[float, typer.Option(min=0.01, help="Idle poll seconds.")] = 0.2,
    schedules: Annotated[
        bool, typer.Option("--schedules/--no-schedules", help="Start runs of due schedules.")
    ] = True,
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            envvar="BOSUN_VERSION",
            help="Deployment version to advertise (e.g. the image tag); runs stay on the "
            "version they started on. Default: a hash of the app's workflow and step code.",
        ),
    ] = None,
    compatible_with: Annotated[
        list[str] | None,
        typer.Option(
            "--compatible-with",
            help="An older version whose runs this worker may take over at once (repeatable).",
        ),
    ] = None,
    autoscale: Annotated[
        str | None,
        typer.Option(
            metavar="MIN:MAX",
            help="Supervise MIN to MAX worker processes scaled on queue depth and age.",
            rich_help_panel="Autoscaling",
        ),
    ] = None,
    scale_interval: Annotated[
        float,
        typer.Option(min=0.05, help="Seconds between queue polls.", rich_help_panel="Autoscaling"),
    ] = 5.0,
    cooldown: Annotated[
        float,
        typer.Option(
            min=0, help="Seconds of lower load before scaling down.", rich_help_panel="Autoscaling"
        ),
    ] = 60.0,
    scale_up_age: Annotated[
        float,
        typer.Option(
            min=0,
            help="Add a worker while the oldest ready run waited longer than this (seconds).",
            rich_help_panel="Autoscaling",
        ),
    ] = 30.0,
    status_file: Annotated[
        Path | None,
        typer.Option(
            help="Write the supervisor's state here as JSON.", rich_help_panel="Autoscaling"
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Serve Prometheus metrics at :PORT/metrics."),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address the metrics port listens on.")
    ] = "127.0.0.1",
    metrics_token: MetricsTokenOpt = None,
    log_format: LogFormatOpt = "auto",
    loop: LoopOpt = Loop.auto,
    database: DatabaseOpt = None,
) -> None:
    """Run a worker: claim ready runs and execute them. SIGTERM drains gracefully.

    Exit status: 0 stopped cleanly, 1 error, 2 usage error, 3 some runs could not be handed
    back (they resume once their leases expire).
    """
    from bosun.observe.exposition import serve_metrics
    from bosun.worker.timebox import worker_grace
    from bosun.worker.worker import Worker, WorkerOptions

    # A SIGTERM while the app loads and the store opens must not kill the process: note it,
    # and drain as soon as the worker exists (it holds nothing yet, so that is at once).
    stop_early: list[int] = []
    if autoscale is None:  # the supervisor installs its own handlers
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda number, _frame: stop_early.append(number))
    _setup_logging(log_format)
    loop_factory = _loop_factory(loop)
    try:
        served = tuple(check_identifier(q, "queue") for q in queue or ["default"])
    except ConfigurationError as exc:
        _fail(f"--queue: {exc}", 2)
    app = _load(app_ref)
    if database:
        app.use_database(database)
    try:
        grace = worker_grace(grace, max_seconds)
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    options = WorkerOptions(
        queues=served,
        concurrency=concurrency,
        lease_ttl=lease_ttl or app.lease_ttl,
        poll_interval=poll_interval,
        grace=grace,
        until_idle=until_idle,
        max_seconds=max_seconds,
        schedules=schedules,
        version=version,
        compatible_versions=tuple(compatible_with or ()),
    )
    if autoscale is not None:
        from bosun.worker.autoscale import supervise_app

        _run(
            lambda: supervise_app(
                app_ref,
                app,
                options,
                autoscale,
                interval=scale_interval,
                cooldown=cooldown,
                scale_up_age=scale_up_age,
                status_file=status_file,
                extra_args=("--log-format", log_format),
            )
        )
        return

    async def main() -> tuple[int, int]:
        async with app, serve_metrics(app, metrics_host, metrics_port, metrics_token):
            w = Worker(app, options)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, w.request_stop)
            if stop_early:
                w.request_stop()
            logging.getLogger("bosun.worker").info(
                "worker %s (version %s) serving %s on %s",
                w.owner,
                w.version,
                ",".join(options.queues),
                app.database,
            )
            await w.run()
            return w.abandoned_threads, w.summary.exit_code

    abandoned, code = _run(main, loop_factory)
    if abandoned:
        # Their runs were handed back; waiting for the threads would keep this process (and
        # its pod) alive past the grace period, and a thread cannot be interrupted.
        logging.getLogger("bosun.worker").warning(
            "exiting with %d sync step(s) still running after the grace period", abandoned
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if code:
        raise typer.Exit(code)


# -- run ------------------------------------------------------------------------------------


def _worker_with_url(ctx: typer.Context, url: str) -> str:
    """Why --worker and a server URL do not mix, naming BOSUN_URL when that is where the URL
    came from (a shell that exported it for another command)."""
    message = "--worker runs a worker in this process: it cannot be used with --url"
    source = ctx.get_parameter_source("url")  # click's enum (typer may carry its own click)
    if source is not None and source.name == "ENVIRONMENT":
        message += (
            f". The URL comes from BOSUN_URL={url} in your environment: "
            "`unset BOSUN_URL BOSUN_API_KEY` to run against the local database"
        )
    return message


@cli.command()
def run(
    ctx: typer.Context,
    app_ref: AppRef,
    workflow: Annotated[
        str | None,
        typer.Argument(
            help="Name of the workflow to start. With --url, APP_REF may be left out.",
            show_default=False,
        ),
    ] = None,
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="JSON object (named) or array of inputs.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result.")] = False,
    with_worker: Annotated[
        bool,
        typer.Option("--worker", help="Also run a worker in this process until the run ends."),
    ] = False,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait for the result.")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Start at most one run per key.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Print the run's events as they happen, then wait.")
    ] = False,
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a run of WORKFLOW with --input, optionally waiting for its result.

    With --url the run is submitted to that server: `bosun run --url URL WORKFLOW`. With
    --follow --json every line printed is one JSON object: the events, then the report."""
    if url:
        from bosun import cli_remote

        if with_worker:
            _fail(_worker_with_url(ctx, url), 2)
        data = _parse_json(input, "--input")
        show = cli_remote.event_printer(as_json) if follow else None
        report = _remote(
            url,
            api_key,
            lambda c: cli_remote.run_workflow(
                c,
                workflow or app_ref,
                data,
                idempotency_key=idempotency_key,
                wait=wait,
                timeout=timeout,
                on_event=show,
            ),
        )
        _print_report(report, as_json, lines=follow)
        return
    if workflow is None:
        _fail("Missing argument 'WORKFLOW'.", 2)
    if follow:
        _fail("--follow streams events from a server: give --url (or BOSUN_URL)", 2)
    app = _load(app_ref)
    if database:
        app.use_database(database)
    data = _parse_json(input, "--input")
    try:
        definition = app.registry.workflow(workflow)
        definition.encode_json_input(data)  # validate before touching the database
    except ConfigurationError as exc:
        _fail(str(exc), 2)

    created = True

    async def main() -> dict[str, Any]:
        nonlocal created
        async with app:
            handle = await app.start_json(workflow, data, idempotency_key=idempotency_key)
            created = handle.created
            report: dict[str, Any] = {"run_id": handle.run_id}
            if not (wait or with_worker):
                return report
            if with_worker:
                async with app.worker(queues=[definition.queue]):
                    value = await handle.result(timeout=timeout)
            else:
                value = await handle.result(timeout=timeout)
            report["status"] = "completed"
            report["result"] = json.loads(serde.dump(value, definition.return_hint, "result"))
            return report

    report = _run(main)
    _print_report(report, as_json, created=created)


def _print_report(
    report: dict[str, Any], as_json: bool, lines: bool = False, created: bool = True
) -> None:
    if as_json and lines:  # --follow --json: one JSON object per line
        print(json.dumps(report, default=str))
    elif as_json:
        _print_json(report)
    else:
        if created:
            out.print(f"run [bold]{report['run_id']}[/] started", highlight=False)
        else:
            out.print(
                f"run [bold]{report['run_id']}[/] already existed for this idempotency key: "
                "nothing new started",
                highlight=False,
            )
        if "result" in report:
            out.print("result:", json.dumps(report["result"], indent=2), highlight=False)


# -- runs -----------------------------------------------------------------------------------


@runs_cli.command("list")
def runs_list(
    status: Annotated[
        str | None, typer.Option(help=f"Only runs with this status ({', '.join(RUN_STATUSES)}).")
    ] = None,
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="Only runs on this deployment version (see workers)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    if status is not None and status not in RUN_STATUSES:
        _fail(f"--status must be one of {', '.join(RUN_STATUSES)}", 2)
    if url:
        from bosun.cli_remote import list_runs

        records = _remote(
            url,
            api_key,
            lambda c: list_runs(c, status=status, workflow=workflow, limit=limit, version=version),
        )
    else:
        where = RunFilter(status=status, workflow=workflow, version=version, limit=limit)
        records = _run(lambda: _with_store(database, lambda s: s.list_runs(where)))
    if as_json:
        _print_json([_record_json(r) for r in records])
        return
    table = Table("run id", "workflow", "status", "created", "attempts", "version")
    table.columns[0].no_wrap = True
    for r in records:
        table.add_row(
            r.id, r.workflow, r.status, _when(r.created_at), str(r.attempts), r.version or "-"
        )
    out.print(table)


@runs_cli.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a run and its journal (with --url, the run only: the API has no journal)."""

    async def fetch(store: Store) -> tuple[RunRecord, list[Any]]:
        record = await store.get_run(run_id)
        if record is None:
            from bosun.errors import RunNotFound

            raise RunNotFound(f"no run with id {run_id!r}")
        return record, await store.get_journal(run_id)

    journal: list[Any] | None = None
    if url:
        from bosun.cli_remote import show_run

        record = _remote(url, api_key, lambda c: show_run(c, run_id))
    else:
        record, journal = _run(lambda: _with_store(database, fetch))
    if as_json:
        data = _record_json(record)
        if journal is not None:
            data["journal"] = [dataclasses.asdict(e) for e in journal]
        _print_json(data)
        return
    out.print(f"[bold]{record.id}[/] {record.workflow} — {record.status}", highlight=False)
    if record.error:
        out.print(f"error: {record.error.get('message')}", highlight=False)
    if record.result is not None:
        out.print(f"result: {record.result}", highlight=False)
    if journal is None:
        return
    table = Table("seq", "kind", "name", "status", "attempt", "output")
    table.columns[0].no_wrap = True
    for e in journal:
        output = e.output or (e.error or {}).get("message", "")
        table.add_row(e.seq, e.kind, e.name, e.status, str(e.attempt), (output or "")[:60])
    out.print(table)


def _operate(
    database: str | None,
    as_json: bool,
    verb: str,
    run_id: str,
    action: Callable[[Store], Awaitable[Any]],
    remote: tuple[str | None, str | None, Callable[[Client], Any]],
) -> None:
    url, api_key, over_http = remote
    if url:
        result = _remote(url, api_key, over_http)
    else:
        result = _run(lambda: _with_store(database, action))
    if as_json:
        _print_json({"run_id": run_id, "action": verb, "result": result})
    else:
        out.print(f"{verb} run {run_id}", highlight=False)


@runs_cli.command("cancel")
def runs_cancel(
    run_id: Annotated[str, typer.Argument()],
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a run and its unfinished children."""
    from bosun.cli_remote import cancel_run

    remote = (url, api_key, lambda c: cancel_run(c, run_id))
    _operate(database, as_json, "cancelled", run_id, lambda s: s.cancel_run(run_id), remote)


@runs_cli.command("resume")
def runs_resume(
    run_id: Annotated[str, typer.Argument()],
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resume a blocked run (after deploying code that matches its journal)."""
    from bosun.cli_remote import resume_run

    remote = (url, api_key, lambda c: resume_run(c, run_id))
    _operate(database, as_json, "resumed", run_id, lambda s: s.resume_run(run_id), remote)


@runs_cli.command("signal")
def runs_signal(
    run_id: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument(help="Signal name.")],
    payload: Annotated[str | None, typer.Option(help="JSON payload.")] = None,
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a signal to a run."""
    from bosun.cli_remote import signal_run

    value = _parse_json(payload, "--payload")
    data = json.dumps(value)
    remote = (url, api_key, lambda c: signal_run(c, run_id, name, value))
    _operate(
        database, as_json, "signalled", run_id, lambda s: s.send_signal(run_id, name, data), remote
    )


@cli.command()
def queues(
    database: DatabaseOpt = None,
    tenant: Annotated[
        str | None, typer.Option(help="Count only this tenant's runs (default: every tenant's).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show each queue's depth: ready, in flight, waiting, and the oldest ready run's age;
    and the workflows whose ready runs no live worker serves."""

    async def read(store: Store) -> tuple[list[QueueStats], list[UnservedWork]]:
        stats = await store.queue_stats(tenant=tenant)
        return stats, await store.unserved_work(time.time(), tenant=tenant)

    stats, unserved = _run(lambda: _with_store(database, read))
    if as_json:
        _print_json(
            [
                {
                    **dataclasses.asdict(s),
                    "unserved": [
                        {k: v for k, v in dataclasses.asdict(u).items() if k != "queue"}
                        for u in unserved
                        if u.queue == s.queue
                    ],
                }
                for s in stats
            ]
        )
        return
    table = Table("queue", "ready", "in flight", "waiting", "oldest ready (s)")
    for s in stats:
        table.add_row(
            s.queue, str(s.ready), str(s.in_flight), str(s.waiting), f"{s.oldest_ready_age:.1f}"
        )
    out.print(table)
    for u in unserved:
        out.print(
            f"[yellow]queue {u.queue}: {u.ready} run(s) ready but no worker serves workflow "
            f"{u.workflow!r} (oldest waited {u.oldest_ready_age:.0f} s): start a worker of the "
            "app that defines it[/yellow]"
        )


# -- db -------------------------------------------------------------------------------------


@db_cli.command("upgrade")
def db_upgrade(database: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """Apply pending migrations (they also run when any bosun process starts)."""
    version = _run(lambda: _with_store(database, lambda s: s.schema_version(), create=True))
    if as_json:
        _print_json({"schema_version": version})
    else:
        out.print(f"database at schema version {version}")


# -- schedules ------------------------------------------------------------------------------

schedules_cli = typer.Typer(help="Cron schedules that start runs.", no_args_is_help=True)
cli.add_typer(schedules_cli, name="schedules")
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
        return _when(tick) + " UTC"


def _schedule_done(as_json: bool, verb: str, record: ScheduleRecord) -> None:
    if as_json:
        _print_json({"name": record.name, "action": verb, "schedule": _schedule_json(record)})
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

    data = _parse_json(input, "--input")
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
        _fail(str(exc), 2)
    record = _run(lambda: _with_store(database, lambda s: s.add_schedule(schedule), create=True))
    _schedule_done(as_json, "added", record)


@schedules_cli.command("list")
def schedules_list(database: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """List schedules with their next tick."""
    records = _run(lambda: _with_store(database, lambda s: s.list_schedules()))
    if as_json:
        _print_json([_schedule_json(r) for r in records])
        return
    table = Table("name", "workflow", "cron", "next tick", "state", "last error")
    table.columns[0].no_wrap = True
    for r in records:
        cron = r.cron if r.timezone == "UTC" else f"{r.cron} ({r.timezone})"
        next_at = "paused" if r.paused else _local(r.next_tick, r.timezone)
        state = f"{r.source}, {r.missed.replace('_', ' ')}"
        table.add_row(r.name, r.workflow, cron, next_at, state, (r.last_error or "")[:60])
    out.print(table)


@schedules_cli.command("pause")
def schedules_pause(
    name: ScheduleName, database: DatabaseOpt = None, as_json: JsonOpt = False
) -> None:
    """Pause a schedule: its ticks start nothing until it is resumed."""
    record = _run(lambda: _with_store(database, lambda s: s.set_schedule_paused(name, True)))
    _schedule_done(as_json, "paused", record)


@schedules_cli.command("resume")
def schedules_resume(
    name: ScheduleName, database: DatabaseOpt = None, as_json: JsonOpt = False
) -> None:
    """Resume a paused schedule from its next tick (ticks missed while paused never start)."""
    from bosun.schedules import resume_schedule

    record = _run(lambda: _with_store(database, lambda s: resume_schedule(s, name)))
    _schedule_done(as_json, "resumed", record)


@schedules_cli.command("delete")
def schedules_delete(
    name: ScheduleName, database: DatabaseOpt = None, as_json: JsonOpt = False
) -> None:
    """Delete a schedule (its runs stay). One declared in code returns when a worker starts."""

    async def delete(store: Store) -> ScheduleRecord | None:
        record = await store.get_schedule(name)
        await store.delete_schedule(name)
        return record

    record = _run(lambda: _with_store(database, delete))
    declared = record is not None and record.source == "code"
    if as_json:
        _print_json({"name": name, "action": "deleted", "declared_in_code": declared})
        return
    out.print(f"deleted schedule {name}", highlight=False)
    if declared:
        out.print(
            "it is declared in code (@app.workflow(schedule=…)): the next worker to start "
            "declares it again; remove schedule= to delete it for good",
            highlight=False,
        )


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> float:
    """Parse `90s`, `15m`, `12h`, `7d` (or plain seconds) into seconds."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        _fail(f"{text!r} is not a duration: use e.g. 90s, 15m, 12h or 7d", 2)
    if seconds < 0:
        _fail("durations must not be negative", 2)
    return seconds


@db_cli.command("prune")
def db_prune(
    older_than: Annotated[
        str, typer.Option(help="Delete runs that finished longer ago than this (e.g. 7d, 12h).")
    ],
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete finished runs (and their journals, signals and events) older than --older-than.

    Workers also prune on their own, after the app's `retention` (default 30 days)."""
    cutoff = time.time() - _duration(older_than)

    async def prune(store: Store) -> int:
        total = 0
        while (pruned := await store.prune_runs(cutoff, 1000)) > 0:
            total += pruned
        return total

    total = _run(lambda: _with_store(database, prune))
    if as_json:
        _print_json({"pruned": total})
    else:
        out.print(f"pruned {total} finished run(s)")


def main() -> None:
    """Console-script entry point."""
    cli()


# `bosun server`, `bosun dev`, `bosun keys` and `bosun sandbox` live in their own modules;
# importing them registers them on `cli`.
from bosun import cli_deploy, cli_plan, cli_sandbox, cli_server, cli_workers  # noqa: E402, F401
