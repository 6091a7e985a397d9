"""The `bosun` command line: the root Typer app, composed of one module per command or
command group.

A top-level command (`bosun run`) is a plain function of its module, listed in
`bosun.cli.root`; a group (`bosun runs …`) is a Typer app of its own, added there with
`add_typer`. The modules share helpers through `bosun.cli.common` and `bosun.cli.tables` only,
and none imports this one, `root` or `commands`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bosun.cli.commands import cli as cli


def main() -> None:
    """Console-script entry point.

    A command line that names a command or group (`bosun worker …`, `bosun runs …`) builds
    that one alone: a serverless invocation (a drain-mode worker) and every scripted call pay
    for every import and every command Typer builds, and the other commands' modules import
    the server, the client and the deploy tooling. Anything else (`bosun`, `bosun --help`, a
    mistyped command) gets the whole command."""
    from bosun.cli.root import COMMANDS, GROUPS, build

    named = sys.argv[1] if len(sys.argv) > 1 else None
    build(named if named in COMMANDS or named in GROUPS else None)()


def __getattr__(name: str) -> Any:
    """`bosun.cli.cli`, the whole command (`bosun.cli.commands`), imported on first use."""
    if name == "cli":
        from bosun.cli.commands import cli

        return cli
    raise AttributeError(f"module 'bosun.cli' has no attribute {name!r}")
