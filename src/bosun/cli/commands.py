"""The root Typer app of the `bosun` command: every command and command group, composed
from one module each (see `bosun.cli`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from bosun import settings
from bosun.cli import (
    db,
    deploy,
    deploy_modal,  # noqa: F401 (adds `bosun deploy modal` to deploy's commands)
    keys,
    plan,
    queues,
    run,
    runs,
    sandbox,
    schedules,
    serve,
    worker,
    workers,
)
from bosun.version import __version__

# Help texts are rich markup: escape() keeps `bosun[otel]` from reading as a style tag.
_ENV_HELP = "\n\n".join(f"{k}: {escape(v)}" for k, v in settings.ENVIRONMENT.items())
cli = typer.Typer(
    name="bosun",
    help=f"bosun: a durable runtime for AI agents.\n\nEnvironment variables:\n\n{_ENV_HELP}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"bosun {__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    pass


# `bosun --help` lists the commands in this order, then the groups in theirs.
cli.command()(worker.worker)
cli.command()(run.run)
cli.command()(queues.queues)
cli.command()(plan.plan)
cli.command()(serve.server)
cli.command()(serve.dev)
cli.command()(workers.workers)
cli.add_typer(runs.runs_cli, name="runs")
cli.add_typer(db.db_cli, name="db")
cli.add_typer(schedules.schedules_cli, name="schedules")
cli.add_typer(deploy.deploy_cli, name="deploy")
cli.add_typer(sandbox.sandbox_cli, name="sandbox")
cli.add_typer(keys.keys_cli, name="keys")
