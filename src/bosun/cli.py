"""The `bosun` command line."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bosun import settings
from bosun.errors import BosunError, ConfigurationError
from bosun.store import Store, store_for_url
from bosun.store.records import RUN_STATUSES, RunFilter, RunRecord

T = TypeVar("T")

_ENV_HELP = "\n\n".join(f"{k}: {v}" for k, v in settings.ENVIRONMENT.items())
cli = typer.Typer(
    name="bosun",
    help=f"bosun: a durable runtime for AI agents.\n\nEnvironment variables:\n\n{_ENV_HELP}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
runs_cli = typer.Typer(help="Inspect and operate on runs.", no_args_is_help=True)
db_cli = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
cli.add_typer(runs_cli, name="runs")
cli.add_typer(db_cli, name="db")

out = Console()
err = Console(stderr=True)

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="BOSUN_DATABASE_URL",
        show_envvar=True,
        help=f"Database URL (default {settings.DEFAULT_DATABASE_URL}).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
AppRef = Annotated[
    str, typer.Argument(help="path/to/file.py or package.module:app", show_default=False)
]


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _run(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine, turning bosun errors into a clear message and exit code 1."""
    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    except BosunError as exc:
        _fail(str(exc))


def _parse_json(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", 2)


def _setup_logging() -> None:
    logging.basicConfig(
        level=settings.log_level(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _load(ref: str) -> Any:
    from bosun.loader import load_app

    try:
        return load_app(ref)
    except ConfigurationError as exc:
        _fail(str(exc), 2)


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _record_json(record: RunRecord) -> dict[str, Any]:
    data = dataclasses.asdict(record)
    data["input"] = json.loads(record.input)
    data["result"] = None if record.result is None else json.loads(record.result)
    return data


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


async def _with_store(
    url: str | None, action: Callable[[Store], Awaitable[T]], *, create: bool = False
) -> T:
    """Open the store, run `action`, close. Without `create`, a missing SQLite file is an
    error rather than a new empty database (a mistyped path should not look like no runs)."""
    url = url or settings.database_url()
    if not create and url.startswith("sqlite:"):
        from bosun.store.sqlite_io import SqliteConfig

        path = SqliteConfig.from_url(url).path
        if not os.path.exists(path):  # noqa: ASYNC240 (one stat before any I/O)
            raise ConfigurationError(
                f"no bosun database at {path}: check --database / BOSUN_DATABASE_URL "
                "(it is created when a run is first started)"
            )
    store = store_for_url(url)
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()


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
        float, typer.Option(min=0, help="Seconds steps in flight get to finish on SIGTERM.")
    ] = 30.0,
    lease_ttl: Annotated[
        float | None, typer.Option(min=0.5, help="Seconds a claim lasts without renewal.")
    ] = None,
    poll_interval: Annotated[float, typer.Option(min=0.01, help="Idle poll seconds.")] = 0.2,
    database: DatabaseOpt = None,
) -> None:
    """Run a worker: claim ready runs and execute them. SIGTERM drains gracefully."""
    from bosun.worker.worker import Worker, WorkerOptions

    _setup_logging()
    app = _load(app_ref)
    if database:
        app.use_database(database)
    options = WorkerOptions(
        queues=tuple(queue or ["default"]),
        concurrency=concurrency,
        lease_ttl=lease_ttl or app.lease_ttl,
        poll_interval=poll_interval,
        grace=grace,
        until_idle=until_idle,
    )

    async def main() -> int:
        async with app:
            w = Worker(app, options)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, w.request_stop)
            logging.getLogger("bosun.worker").info(
                "worker %s serving %s on %s", w.owner, ",".join(options.queues), app.database
            )
            await w.run()
            return w.abandoned_threads

    abandoned = _run(main)
    if abandoned:
        # Their runs were handed back; waiting for the threads would keep this process (and
        # its pod) alive past the grace period, and a thread cannot be interrupted.
        logging.getLogger("bosun.worker").warning(
            "exiting with %d sync step(s) still running after the grace period", abandoned
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


# -- run ------------------------------------------------------------------------------------


@cli.command()
def run(
    app_ref: AppRef,
    workflow: Annotated[str, typer.Argument(help="Name of the workflow to start.")],
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
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a run of WORKFLOW with --input, optionally waiting for its result."""
    app = _load(app_ref)
    if database:
        app.use_database(database)
    data = _parse_json(input, "--input")
    try:
        definition = app.registry.workflow(workflow)
        definition.encode_json_input(data)  # validate before touching the database
    except ConfigurationError as exc:
        _fail(str(exc), 2)

    async def main() -> dict[str, Any]:
        async with app:
            handle = await app.start_json(workflow, data, idempotency_key=idempotency_key)
            report: dict[str, Any] = {"run_id": handle.run_id}
            if not (wait or with_worker):
                return report
            if with_worker:
                async with app.worker(queues=[definition.queue]):
                    value = await handle.result(timeout=timeout)
            else:
                value = await handle.result(timeout=timeout)
            report["status"] = "completed"
            report["result"] = json.loads(_dump_result(value, definition.return_hint))
            return report

    report = _run(main)
    if as_json:
        _print_json(report)
        return
    out.print(f"run [bold]{report['run_id']}[/] started", highlight=False)
    if "result" in report:
        out.print("result:", json.dumps(report["result"], indent=2), highlight=False)


def _dump_result(value: Any, hint: Any) -> str:
    from bosun import serde

    return serde.dump(value, hint, "result")


# -- runs -----------------------------------------------------------------------------------


@runs_cli.command("list")
def runs_list(
    status: Annotated[
        str | None, typer.Option(help=f"Only runs with this status ({', '.join(RUN_STATUSES)}).")
    ] = None,
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    if status is not None and status not in RUN_STATUSES:
        _fail(f"--status must be one of {', '.join(RUN_STATUSES)}", 2)
    where = RunFilter(status=status, workflow=workflow, limit=limit)
    records = _run(lambda: _with_store(database, lambda s: s.list_runs(where)))
    if as_json:
        _print_json([_record_json(r) for r in records])
        return
    table = Table("run id", "workflow", "status", "created", "attempts")
    table.columns[0].no_wrap = True
    for r in records:
        table.add_row(r.id, r.workflow, r.status, _when(r.created_at), str(r.attempts))
    out.print(table)


@runs_cli.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a run and its journal."""

    async def fetch(store: Store) -> tuple[RunRecord, list[Any]]:
        record = await store.get_run(run_id)
        if record is None:
            from bosun.errors import RunNotFound

            raise RunNotFound(f"no run with id {run_id!r}")
        return record, await store.get_journal(run_id)

    record, journal = _run(lambda: _with_store(database, fetch))
    if as_json:
        _print_json({**_record_json(record), "journal": [dataclasses.asdict(e) for e in journal]})
        return
    out.print(f"[bold]{record.id}[/] {record.workflow} — {record.status}", highlight=False)
    if record.error:
        out.print(f"error: {record.error.get('message')}", highlight=False)
    if record.result is not None:
        out.print(f"result: {record.result}", highlight=False)
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
) -> None:
    result = _run(lambda: _with_store(database, action))
    if as_json:
        _print_json({"run_id": run_id, "action": verb, "result": result})
    else:
        out.print(f"{verb} run {run_id}", highlight=False)


@runs_cli.command("cancel")
def runs_cancel(
    run_id: Annotated[str, typer.Argument()], database: DatabaseOpt = None, as_json: JsonOpt = False
) -> None:
    """Cancel a run and its unfinished children."""
    _operate(database, as_json, "cancelled", run_id, lambda s: s.cancel_run(run_id))


@runs_cli.command("resume")
def runs_resume(
    run_id: Annotated[str, typer.Argument()], database: DatabaseOpt = None, as_json: JsonOpt = False
) -> None:
    """Resume a blocked run (after deploying code that matches its journal)."""
    _operate(database, as_json, "resumed", run_id, lambda s: s.resume_run(run_id))


@runs_cli.command("signal")
def runs_signal(
    run_id: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument(help="Signal name.")],
    payload: Annotated[str | None, typer.Option(help="JSON payload.")] = None,
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a signal to a run."""
    data = json.dumps(_parse_json(payload, "--payload"))
    _operate(database, as_json, "signalled", run_id, lambda s: s.send_signal(run_id, name, data))


@cli.command()
def queues(database: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """Show each queue's depth: ready, in flight, waiting, and the oldest ready run's age."""
    stats = _run(lambda: _with_store(database, lambda s: s.queue_stats()))
    if as_json:
        _print_json([dataclasses.asdict(s) for s in stats])
        return
    table = Table("queue", "ready", "in flight", "waiting", "oldest ready (s)")
    for s in stats:
        table.add_row(
            s.queue, str(s.ready), str(s.in_flight), str(s.waiting), f"{s.oldest_ready_age:.1f}"
        )
    out.print(table)


# -- db -------------------------------------------------------------------------------------


@db_cli.command("upgrade")
def db_upgrade(database: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """Apply pending migrations (they also run when any bosun process starts)."""
    version = _run(lambda: _with_store(database, lambda s: s.schema_version(), create=True))
    if as_json:
        _print_json({"schema_version": version})
    else:
        out.print(f"database at schema version {version}")


def main() -> None:
    """Console-script entry point."""
    cli()
