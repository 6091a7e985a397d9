"""Bytecode for bosun's sources before the tests start their processes.

The suite starts some 600 Python processes that import bosun (`bosun run`, workers,
servers). On a machine whose environment sets PYTHONDONTWRITEBYTECODE=1 (this project's CI
machines do, as many container images do), an editable install never gets its `.pyc` files
written, so each of those processes compiled every module it imports from source, a few
hundred milliseconds of CPU apiece. Compiling them once here lets every process load them.
"""

from __future__ import annotations

import compileall
from pathlib import Path

import pytest

SOURCES = Path(__file__).resolve().parents[2] / "src" / "bosun"


def pytest_configure(config: pytest.Config) -> None:
    """Once, in the controlling process (xdist's workers get `workerinput`): write whatever
    `.pyc` is missing or stale. Python still checks each against its source when it loads."""
    if hasattr(config, "workerinput") or not SOURCES.is_dir():
        return
    compileall.compile_dir(SOURCES, quiet=1, workers=0)
