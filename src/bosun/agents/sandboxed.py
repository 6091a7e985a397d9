"""Tools whose code runs in the sandbox: `@app.tool(sandbox=True)`.

The function's source is sent into `bosun.sandbox` and called there with the model's
arguments (as JSON on standard input); its JSON-able return value comes back. The sandbox has
the system's Python and standard library, not the worker's virtualenv or the app's modules,
so such a tool must be self-contained: import what it needs inside its body, use only the
standard library, and capture nothing from the enclosing module. In exchange it gets no
network (or only the hosts of `network_hosts`, over HTTP(S) through a proxy), no view of the
worker's files or environment, and the sandbox's limits.

To an `Agent` it is a tool like any other (its schema comes from its signature and
docstring, each call is a journaled step); a failure inside the sandbox is raised as
`SandboxedToolFailed`, which the agent hands back to the model as an error message.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bosun.egress.hosts import HostAllowList
from bosun.errors import BosunError, ConfigurationError
from bosun.sandbox.spec import Limits

F = TypeVar("F", bound=Callable[..., Any])
RESULT_MARKER = "\n\x1ebosun-result\x1e"

_RUNNER = """
import asyncio as _asyncio, inspect as _inspect, json as _json, sys as _sys
_arguments = _json.loads(_sys.stdin.read())
_value = {name}(**_arguments)
if _inspect.iscoroutine(_value):
    _value = _asyncio.run(_value)
_sys.stdout.write({marker!r} + _json.dumps(_value))
"""


class SandboxedToolFailed(BosunError):
    """A sandboxed tool raised, hit a limit, or returned something that is not JSON."""


def source_of(fn: Callable[..., Any]) -> str:
    """The function's own source, without its decorators, ready to run on its own."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise ConfigurationError(
            f"tool {fn.__qualname__}: its source is needed to run it in the sandbox ({exc})"
        ) from exc
    tree = ast.parse(source)
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        raise ConfigurationError(f"tool {fn.__qualname__} must be a plain function")
    node.decorator_list = []
    # Annotations may name the app's types, which do not exist in the sandbox; the schema
    # was built from them already.
    node.returns = None
    arguments = node.args
    for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
        arg.annotation = None
    for extra in (arguments.vararg, arguments.kwarg):
        if extra is not None:
            extra.annotation = None
    return ast.unparse(node)


def sandboxed(fn: F, *, limits: Limits | None = None, network_hosts: Sequence[str] = ()) -> F:
    """`fn`, run in the sandbox whenever it is called (see the module docstring), able to
    reach `network_hosts` over HTTP(S) through the egress proxy (`bosun.egress.hosts`).

    Raises:
        ValueError: a `network_hosts` entry is malformed (the message shows the forms).
    """
    hosts = HostAllowList.parse(network_hosts).entries  # checked now, not at the first call
    program = source_of(fn) + _RUNNER.format(name=fn.__name__, marker=RESULT_MARKER)

    @functools.wraps(fn)
    async def call(*args: Any, **kwargs: Any) -> Any:
        from bosun import sandbox

        arguments = inspect.signature(fn).bind(*args, **kwargs).arguments
        result = await sandbox.run(
            python=program,
            stdin=json.dumps(arguments),
            network_hosts=hosts,
            limits=limits or Limits(),
        )
        out = result.stdout.decode("utf-8", "replace")
        if result.limit is not None and result.limit != "output":
            raise SandboxedToolFailed(f"{fn.__name__} stopped: the {result.limit} limit fired")
        if result.exit_code != 0 or RESULT_MARKER not in out:
            error = result.stderr.decode("utf-8", "replace").strip().splitlines()
            detail = error[-1] if error else f"exit status {result.exit_code}"
            raise SandboxedToolFailed(f"{fn.__name__} failed in the sandbox: {detail}")
        return json.loads(out.rpartition(RESULT_MARKER)[2])

    call.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return call  # type: ignore[return-value]
