"""Shared helper of the e2e apps: record a side effect outside bosun's journal."""

from __future__ import annotations

import os


def record(line: str) -> None:
    """Append `line` to the file named by BOSUN_E2E_EFFECTS (one write, O_APPEND)."""
    fd = os.open(os.environ["BOSUN_E2E_EFFECTS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)
