"""The root of the `bosun` command: its commands and command groups, each in a module of its
own (see `bosun.cli`), and how they compose.

`build()` composes the whole command; `build("runs")` the root with that one command or
group, parsed exactly as the whole command parses it, which is what `bosun.cli.main` runs
when the command line names it: a process then imports and builds only what it runs (each
`bosun` process pays for every module and every command Typer builds)."""

from __future__ import annotations

from importlib import import_module
from typing import Annotated

import typer

from bosun import settings
from bosun.version import __version__

# `bosun --help` lists the commands in this order, then the groups in theirs.
# Command name: (its module in bosun.cli, the function).
COMMANDS: dict[str, tuple[str, str]] = {
    "worker": ("worker", "worker"),
    "run": ("run", "run"),
    "queues": ("queues", "queues"),
    "plan": ("plan", "plan"),
    "server": ("serve", "server"),
    "dev": ("serve", "dev"),
    "workers": ("workers", "workers"),
}
# Group name: (its module in bosun.cli, the Typer app, modules that add commands to it).
GROUPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "runs": ("runs", "runs_cli", ()),
    "db": ("db", "db_cli", ()),
    "schedules": ("schedules", "schedules_cli", ()),
    "deploy": ("deploy", "deploy_cli", ("deploy_modal",)),
    "sandbox": ("sandbox", "sandbox_cli", ()),
    "keys": ("keys", "keys_cli", ()),
}


def _print_version(value: bool) -> None:
    if value:
        print(f"bosun {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    pass


def _module(name: str) -> object:
    return import_module(f"bosun.cli.{name}")


def _literal(text: str) -> str:
    """`text` as rich markup that shows it as is (help texts are rich markup): `bosun[otel]`
    must not read as a style tag. Not rich.markup.escape: importing rich would cost every
    command ~10 ms, whether it prints help or not."""
    return text.replace("[", "\\[")


def build(only: str | None = None) -> typer.Typer:
    """The `bosun` command: all of it, or the root with the command or group `only` (a name
    of COMMANDS or GROUPS) alone."""
    environment = "\n\n".join(f"{k}: {_literal(v)}" for k, v in settings.ENVIRONMENT.items())
    root = typer.Typer(
        name="bosun",
        help=f"bosun: a durable runtime for AI agents.\n\nEnvironment variables:\n\n{environment}",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    root.callback()(_root)
    for name, (module, function) in COMMANDS.items():
        if only in (None, name):
            root.command()(getattr(_module(module), function))
    for name, (module, attribute, extensions) in GROUPS.items():
        if only in (None, name):
            group = getattr(_module(module), attribute)
            for extension in extensions:
                _module(extension)  # its commands join the group as it is imported
            root.add_typer(group, name=name)
    return root
