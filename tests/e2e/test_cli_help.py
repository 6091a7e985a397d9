"""Help and error text that holds square brackets (`bosun[otel]`, `pip install 'bosun[plan]'`)
prints them: rich reads `[otel]` as a style tag and drops it unless it is escaped."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from tests.helpers.processes import BOSUN
from typer.core import TyperGroup

from bosun.cli import cli

BRACKETED = re.compile(r"\[[^\]\s]+\]")


def bosun(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
    env["COLUMNS"] = "100"
    return subprocess.run([BOSUN, *args], capture_output=True, text=True, env=env, timeout=60)


def flat(text: str) -> str:
    """Help as one line of words: rich wraps it in boxes of its terminal's width."""
    return " ".join(text.replace("│", " ").split())


def commands() -> Iterator[tuple[list[str], Any]]:
    """Every command and group, with its path (Typer's vendored click: not `click`'s types)."""

    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                yield from walk(sub, [*path, name])

    return walk(typer.main.get_command(cli), [])


def test_the_environment_help_names_the_otel_extra() -> None:
    shown = bosun("--help")
    assert shown.returncode == 0, shown.stderr
    assert "traces there (needs bosun[otel]); the other OTEL_*" in flat(shown.stdout)


def test_every_bracketed_word_in_any_commands_help_is_printed() -> None:
    checked = 0
    for path, command in commands():
        texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        wanted = {m for text in texts for m in BRACKETED.findall(text)}
        if not wanted:
            continue
        shown = bosun(*path, "--help")
        assert shown.returncode == 0, shown.stderr
        missing = [w for w in wanted if w not in flat(shown.stdout)]
        assert not missing, f"bosun {' '.join(path)} --help drops {missing}"
        checked += 1
    assert checked >= 1  # the root's environment help at least


def test_an_error_message_keeps_its_brackets(tmp_path: Path) -> None:
    missing = tmp_path / "x[otel]" / "bosun.db"
    done = bosun("runs", "list", "--database", f"sqlite:///{missing}")
    assert done.returncode == 2
    assert f"no bosun database at {missing}" in done.stderr
