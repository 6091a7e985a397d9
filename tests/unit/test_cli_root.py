"""`bosun NAME …` builds the root with that command alone (`bosun.cli.root`): it must parse
exactly as the whole command does, and every command of the whole one must be reachable so."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from bosun.cli.commands import cli
from bosun.cli.root import COMMANDS, GROUPS, build


def shape(command: Any) -> tuple[Any, ...]:
    """What parsing depends on: options, arguments, help, and sub-commands, recursively."""
    params = [(p.name, p.opts, p.required, getattr(p, "help", None)) for p in command.params]
    subs = {}
    if isinstance(command, TyperGroup):
        subs = {name: shape(sub) for name, sub in command.commands.items()}
    return command.name, command.help, params, subs


def test_each_command_alone_parses_as_in_the_whole_command() -> None:
    whole = typer.main.get_command(cli)
    assert isinstance(whole, TyperGroup)
    assert sorted(whole.commands) == sorted([*COMMANDS, *GROUPS])  # nothing left out
    for name in whole.commands:
        alone = typer.main.get_command(build(name))
        assert isinstance(alone, TyperGroup)
        assert list(alone.commands) == [name]
        assert shape(alone.commands[name]) == shape(whole.commands[name]), name
        assert shape(alone)[:3] == shape(whole)[:3]  # the root's --version and help


def test_deploy_alone_has_its_modal_command() -> None:
    deploy = typer.main.get_command(build("deploy"))
    assert isinstance(deploy, TyperGroup)
    group = deploy.commands["deploy"]
    assert isinstance(group, TyperGroup) and "modal" in group.commands
