"""Deployment versions: what a worker advertises so that runs stay on the code they began on.

A worker's version is set explicitly (`bosun worker --version`, `BOSUN_VERSION`, typically the
image tag) or derived from a hash of the source of the App's workflows and steps, so two
processes running the same code agree without configuration and a change to any workflow or
step makes a new version.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol


class _Defined(Protocol):
    @property
    def fn(self) -> Callable[..., Any]: ...


def code_version(workflows: Mapping[str, _Defined], steps: Mapping[str, _Defined]) -> str:
    """A short, stable hash of the workflows' and steps' source code, as `code-<12 hex>`."""
    digest = hashlib.sha256()
    for kind, definitions in (("workflow", workflows), ("step", steps)):
        for name in sorted(definitions):
            digest.update(f"{kind}:{name}\0".encode())
            digest.update(_source(definitions[name].fn))
    return "code-" + digest.hexdigest()[:12]


def _source(fn: Callable[..., Any]) -> bytes:
    fn = inspect.unwrap(fn)
    try:
        return inspect.getsource(fn).encode()
    except (OSError, TypeError):  # defined in a REPL or built dynamically: use its bytecode
        code = getattr(fn, "__code__", None)
        return code.co_code if code is not None else repr(fn).encode()
