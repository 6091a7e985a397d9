"""The `bosun` command line: the root Typer app, composed of one module per command or
command group.

A top-level command (`bosun run`) is a plain function of its module, registered in
`bosun.cli.commands`; a group (`bosun runs …`) is a Typer app of its own, added there with
`add_typer`. The modules share helpers through `bosun.cli.common` and `bosun.cli.tables` only,
and none imports this one or `commands`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    from bosun.cli.commands import cli as cli


def main() -> None:
    """Console-script entry point.

    `bosun worker` builds its own command only: a serverless invocation (a drain-mode worker)
    pays for every import and every command Typer builds, so it skips the others (their
    modules import the server, the client and the deploy tooling)."""
    if sys.argv[1:2] == ["worker"]:
        _worker_cli()()
        return
    from bosun.cli.commands import cli

    cli()


def _worker_cli() -> typer.Typer:
    """The root command with `bosun worker` alone, parsed as the whole CLI parses it."""
    import typer

    from bosun.cli.worker import worker

    root = typer.Typer(name="bosun", add_completion=False, pretty_exceptions_enable=False)
    root.callback()(_no_options)  # a group, so that `worker` is a sub-command as it is there
    root.command()(worker)
    return root


def _no_options() -> None:
    pass


def __getattr__(name: str) -> Any:
    """`bosun.cli.cli`, the whole command (`bosun.cli.commands`), imported on first use."""
    if name == "cli":
        from bosun.cli.commands import cli

        return cli
    raise AttributeError(f"module 'bosun.cli' has no attribute {name!r}")
