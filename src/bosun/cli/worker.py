"""`bosun worker`: claim ready runs and execute them, or (`--autoscale`) supervise a pool of
worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from bosun import settings
from bosun.cli.common import (
    AppRef,
    DatabaseOpt,
    LogFormatOpt,
    LoopFactory,
    MetricsTokenOpt,
    fail,
    load_app,
    run_async,
    setup_logging,
)
from bosun.errors import ConfigurationError, ConnectionLimitReached
from bosun.ids import check_identifier

if TYPE_CHECKING:
    from bosun.app import App

OPEN_RETRY_MAX = 30.0  # seconds between a refused worker's attempts to open, at most


class Loop(StrEnum):
    """The event loop `bosun worker` runs on."""

    auto = "auto"
    asyncio = "asyncio"
    uvloop = "uvloop"


LoopOpt = Annotated[
    Loop,
    typer.Option(
        "--loop",
        envvar="BOSUN_LOOP",
        show_envvar=True,
        help="Event loop: auto (uvloop when installed, as with the 'fast' extra), asyncio or "
        "uvloop.",
    ),
]


def _exit_timeout() -> float:
    try:
        return settings.exit_timeout()
    except ValueError as exc:
        fail(str(exc), 2)


def _exit_now(code: int) -> NoReturn:
    """Exit with `code` at once, without waiting for the threads still running (Python
    would, for every one that is not a daemon, and none can be interrupted); what was logged
    and printed is written out first."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_watchdog(seconds: float, code: Callable[[], int]) -> None:
    """Once the worker has stopped, make sure its process exits within `seconds`: closing the
    store, the event loop's shutdown and threads the app started (a non-daemon thread keeps
    Python alive) could otherwise keep a stopped worker, and its pod or serverless
    invocation, alive forever. Past the time, log the stacks of what still runs and exit
    with the worker's own status."""

    def fire() -> None:
        logging.getLogger("bosun.worker").warning(
            "the worker stopped %g s ago but its process has not exited (BOSUN_EXIT_TIMEOUT): "
            "exiting now; the stacks of its threads follow",
            seconds,
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        _exit_now(code())

    timer = threading.Timer(seconds, fire)
    timer.daemon = True  # it must not keep the process alive itself
    timer.start()


async def _open_when_admitted(app: App, stop_early: list[int]) -> None:
    """Open the app's database, waiting while its server refuses connections for its
    connection limit (each refusal logged, naming the limit); a SIGTERM meanwhile exits 0.
    Other errors (a wrong URL, a server that is down) fail at once as before."""
    log = logging.getLogger("bosun.worker")
    delay = 1.0
    while True:  # a SIGTERM before the first try still starts, and drains at once
        try:
            await app.open()
            return
        except ConnectionLimitReached as exc:
            wait = delay * random.uniform(0.5, 1.5)
            log.warning("cannot start yet: %s; retrying in %.1f s", exc, wait)
            for _ in range(max(1, round(wait / 0.1))):
                if stop_early:
                    raise typer.Exit(0) from None  # stopped before it held anything
                await asyncio.sleep(0.1)
            delay = min(delay * 2, OPEN_RETRY_MAX)


def _metrics(
    app: App, host: str, port: int | None, token: str | None
) -> contextlib.AbstractAsyncContextManager[object]:
    """Serve `/metrics` on `port` while the worker runs; uvicorn and Starlette are imported
    only then (a drain-mode invocation without a port starts faster without them). Without
    a port nothing can read this process's metrics: it counts none."""
    if port is None:
        app.observability.discard_metrics()
        return contextlib.nullcontext()
    from bosun.observe.exposition import metrics_server

    return metrics_server(app, host, port, token)


def loop_factory_for(choice: Loop) -> LoopFactory | None:
    """uvloop's loop for 'uvloop', and for 'auto' when it is installed; else asyncio's."""
    if choice is Loop.asyncio:
        return None
    try:
        import uvloop
    except ImportError:
        if choice is Loop.uvloop:
            fail("--loop uvloop needs the uvloop package: pip install 'bosun[fast]'", 2)
        return None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


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
    from bosun.worker.timebox import worker_grace
    from bosun.worker.worker import Worker, WorkerOptions

    # A SIGTERM while the app loads and the store opens must not kill the process: note it,
    # and drain as soon as the worker exists (it holds nothing yet, so that is at once).
    stop_early: list[int] = []
    if autoscale is None:  # the supervisor installs its own handlers
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda number, _frame: stop_early.append(number))
    setup_logging(log_format)
    loop_factory = loop_factory_for(loop)
    exit_timeout = _exit_timeout()
    try:
        served = tuple(check_identifier(q, "queue") for q in queue or ["default"])
    except ConfigurationError as exc:
        fail(f"--queue: {exc}", 2)
    app = load_app(app_ref)
    if database:
        app.use_database(database)
    try:
        grace = worker_grace(grace, max_seconds)
    except ConfigurationError as exc:
        fail(str(exc), 2)
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

        run_async(
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
        await _open_when_admitted(app, stop_early)
        async with app, _metrics(app, metrics_host, metrics_port, metrics_token):
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
                settings.redacted(app.database),
            )
            failed = True  # an error out of run() exits 1, even through the watchdog
            try:
                await w.run()
                failed = False
            finally:
                _exit_watchdog(exit_timeout, lambda: 1 if failed else w.summary.exit_code)
            return w.abandoned_threads, w.summary.exit_code

    abandoned, code = run_async(main, loop_factory)
    if abandoned:
        # Their runs were handed back; waiting for the threads would keep this process (and
        # its pod) alive past the grace period, and a thread cannot be interrupted.
        logging.getLogger("bosun.worker").warning(
            "exiting with %d sync step(s) still running after the grace period", abandoned
        )
        _exit_now(code)
    if code:
        raise typer.Exit(code)
