"""Bytecode for bosun's sources before the tests start their processes.

The suite starts some 600 Python processes that import bosun (`bosun run`, workers,
servers). On a machine whose environment sets PYTHONDONTWRITEBYTECODE=1 (this project's CI
machines do, as many container images do), an editable install never gets its `.pyc` files
written, so each of those processes compiled every module it imports from source, a few
hundred milliseconds of CPU apiece. Compiling them once here lets every process load them.

The same setting kept pytest from caching its assertion-rewritten test modules, so each of
the four xdist workers rewrote and compiled all ~200 of them again at every collection
(4 s of CPU apiece). pytest writes that cache whenever `sys.dont_write_bytecode` is false, so
this process allows it, whatever the environment says; the processes the tests start still
get the environment's setting.
"""

from __future__ import annotations

import compileall
import sys
from pathlib import Path

import pytest

SOURCES = Path(__file__).resolve().parents[2] / "src" / "bosun"


def pytest_configure(config: pytest.Config) -> None:
    """In every pytest process, cache rewritten test modules. Once, in the controlling process
    (xdist's workers get `workerinput`): write whatever `.pyc` of bosun is missing or stale.
    Python still checks each against its source when it loads."""
    sys.dont_write_bytecode = False
    if hasattr(config, "workerinput") or not SOURCES.is_dir():
        return
    compileall.compile_dir(SOURCES, quiet=1, workers=0)
