"""The whole `bosun` command, built (`bosun.cli.root`): what `bosun --help` shows, and
what tests and tools that walk every command import."""

from __future__ import annotations

from bosun.cli.root import build

cli = build()
