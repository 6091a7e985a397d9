"""Files into and out of a work directory on the host, given by path (the Landlock fallback's).

A thin layer over `bosun.sandbox._workfiles`, which does the work from directory file
descriptors and never follows a link the sandboxed code planted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from bosun.sandbox import _workfiles


def write_files(work: Path, files: Mapping[str, bytes]) -> None:
    """Write `files` (relative paths; ValueError for one that leaves `work`) under `work`."""
    for path in files:
        _workfiles.relative_parts(path)
    root = _workfiles.open_dir(work)
    try:
        _workfiles.write_files(root, files, (-1, -1))
    finally:
        os.close(root)


def collect(work: Path, patterns: list[str], max_bytes: int) -> dict[str, bytes]:
    """The regular files under `work` that `patterns` (paths or globs) name, each at most
    `max_bytes`; links, missing files and bigger files are left out."""
    try:
        root = _workfiles.open_dir(work)
    except OSError:
        return {}
    try:
        return _workfiles.collect_files(root, patterns, max_bytes)
    finally:
        os.close(root)
