"""Built-in agent tools: `python` and `shell` run in the sandbox, `http_fetch` reaches only
public addresses.

```python
agent = Agent(tools=[python, shell, http_fetch_tool])          # the defaults
agent = Agent(tools=sandbox_tools(                             # or configured
    allow_hosts=["api.internal"],                              # for http_fetch
    network_hosts=["pypi.org", "files.pythonhosted.org"],     # for python and shell
    limits=Limits(wall_seconds=10),
    workspace=session_workspaces(quota_bytes=64 * MiB),        # files persist per session
))
```

They are plain functions: their schemas come from their type hints and docstrings, and each
runs as a journaled step, so a finished call is not repeated after a crash. What the sandboxed
code does (a crash, a limit, a timeout) comes back to the model as a result; a sandbox that
cannot start, a refused URL or a full workspace is an error the model is told about.

By default each `python` or `shell` call starts in a fresh, empty work directory. With a
workspace (`bosun.sandbox.workspace`), the files one call writes are there for the next call
of the same session.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bosun.egress.fetch import http_fetch
from bosun.egress.hosts import HostAllowList
from bosun.sandbox.spec import Limits, Result
from bosun.sandbox.workspace import (
    SessionWorkspace,
    WorkspaceQuotaExceeded,
    WorkspaceSource,
    prune_workspaces,
    session_workspaces,
)

__all__ = [
    "FETCH_MAX_BYTES",
    "SessionWorkspace",
    "WorkspaceQuotaExceeded",
    "http_fetch_tool",
    "prune_workspaces",
    "python",
    "sandbox_tools",
    "session_workspaces",
    "shell",
]

FETCH_MAX_BYTES = 100_000  # of a fetched body shown to the model: ~25k tokens at most
Method = Literal["GET", "POST", "HEAD"]


@dataclass(frozen=True)
class _Config:
    allow_hosts: tuple[str, ...] = ()
    limits: Limits = dataclasses.field(default_factory=Limits)
    workspace: WorkspaceSource | None = None
    fetch_max_bytes: int = FETCH_MAX_BYTES
    network_hosts: tuple[str, ...] = ()


_DEFAULTS = _Config()


async def python(
    code: str, files: dict[str, str] | None = None, collect: list[str] | None = None
) -> dict[str, Any]:
    """Run a Python 3 program in a sandbox and return its exit code and output.

    The sandbox has no network, sees the system read-only and runs in a private work
    directory (the current directory); it is stopped at its time, CPU and memory limits.
    Print what you want to see: only standard output and standard error come back.

    Args:
        code: the program's source.
        files: text files to write into the work directory first, by relative path.
        collect: relative paths or glob patterns (`out/*.csv`) of files to read back.
    """
    return await _python(_DEFAULTS, code, files, collect)


async def shell(command: str) -> dict[str, Any]:
    """Run one shell command (`sh -c`) in a sandbox and return its exit code and output.

    The sandbox has no network, sees the system read-only and runs in a private work
    directory (the current directory); it is stopped at its time, CPU and memory limits.

    Args:
        command: the command line, e.g. `ls -la && wc -l data.csv`.
    """
    return await _shell(_DEFAULTS, command)


async def http_fetch_tool(
    url: str, method: Method = "GET", body: str | None = None
) -> dict[str, Any]:
    """Fetch a URL over HTTP or HTTPS and return the status, content type and body as text.

    Only public addresses can be reached: private, loopback, link-local and cloud metadata
    addresses are refused, also through redirects (which are followed). Long bodies are cut.

    Args:
        url: the http:// or https:// URL.
        method: GET, POST or HEAD.
        body: the request body, for POST.
    """
    return await _fetch(_DEFAULTS, url, method, body)


http_fetch_tool.__name__ = http_fetch_tool.__qualname__ = "http_fetch"  # what the model sees


def sandbox_tools(
    *,
    allow_hosts: Sequence[str] = (),
    limits: Limits | None = None,
    workspace: WorkspaceSource | None = None,
    fetch_max_bytes: int = FETCH_MAX_BYTES,
    network_hosts: Sequence[str] = (),
) -> list[Callable[..., Any]]:
    """`python`, `shell` and `http_fetch`, configured.

    Args:
        allow_hosts: hosts, addresses and CIDR networks `http_fetch` may reach although
            their address class is refused (e.g. `["api.internal", "10.8.0.0/16"]`).
            `http_fetch` reaches every public host anyway; this list is its exceptions.
        limits: the sandbox's limits for `python` and `shell` (`Limits()` when None).
        workspace: a `SessionWorkspace`, or a function choosing one per call such as
            `session_workspaces()`: the calls of a session then share their work directory.
            None: a fresh work directory for every call.
        fetch_max_bytes: the most of a fetched body returned to the model.
        network_hosts: the hosts `python` and `shell` code may reach over HTTP(S), through
            the sandbox's egress proxy (`["pypi.org", "api.github.com:443"]`, see
            `bosun.egress.hosts`); none when empty. Needs the bubblewrap backend.

    Raises:
        ValueError: a `network_hosts` entry is malformed (the message shows the forms).
    """
    hosts = HostAllowList.parse(network_hosts).entries
    config = _Config(tuple(allow_hosts), limits or Limits(), workspace, fetch_max_bytes, hosts)
    persists = workspace is not None

    async def python(
        code: str, files: dict[str, str] | None = None, collect: list[str] | None = None
    ) -> dict[str, Any]:
        return await _python(config, code, files, collect)

    async def shell(command: str) -> dict[str, Any]:
        return await _shell(config, command)

    async def http_fetch(
        url: str, method: Method = "GET", body: str | None = None
    ) -> dict[str, Any]:
        return await _fetch(config, url, method, body)

    python.__doc__ = _describe(_python_doc, persists, hosts)
    shell.__doc__ = _describe(_shell_doc, persists, hosts)
    http_fetch.__doc__ = http_fetch_tool.__doc__
    return [python, shell, http_fetch]


# -- internals --------------------------------------------------------------------------------

_python_doc = inspect.getdoc(python) or ""
_shell_doc = inspect.getdoc(shell) or ""
_NETWORK = (
    "It can reach these hosts only, over HTTP and HTTPS through the proxy its HTTP_PROXY and "
    "HTTPS_PROXY variables name (urllib, pip and curl use it; DNS and other connections "
    "fail): {hosts}."
)
_PERSISTS = (
    "Files in the work directory are kept between calls of this conversation: what one call "
    "writes, the next call finds."
)


def _describe(doc: str, persists: bool, hosts: tuple[str, ...]) -> str:
    """The docstring, saying which hosts the code can reach and that files persist (before
    its `Args:` section), when they do."""
    text, sep, args = doc.partition("\n\nArgs:")
    if hosts:
        text = text.replace("has no network,", "has no network but the hosts below,", 1)
        text += "\n" + _NETWORK.format(hosts=", ".join(hosts))
    if persists:
        text += "\n" + _PERSISTS
    return f"{text}{sep}{args}"


async def _python(
    config: _Config, code: str, files: dict[str, str] | None, collect: list[str] | None
) -> dict[str, Any]:
    return await _sandboxed(config, python=code, files=files, collect=collect)


async def _shell(config: _Config, command: str) -> dict[str, Any]:
    return await _sandboxed(config, argv=["sh", "-c", command])


async def _sandboxed(
    config: _Config,
    *,
    argv: list[str] | None = None,
    python: str | None = None,
    files: dict[str, str] | None = None,
    collect: list[str] | None = None,
) -> dict[str, Any]:
    workspace = config.workspace() if callable(config.workspace) else config.workspace
    limits = config.limits
    async with AsyncExitStack() as stack:
        workdir: Path | None = None
        if workspace is not None:
            workdir = await stack.enter_async_context(workspace.use())
            # The backend stops a call that fills the workspace past its quota.
            limits = dataclasses.replace(
                limits, workdir_bytes=min(limits.workdir_bytes, workspace.quota_bytes)
            )
        from bosun.sandbox import run  # here: importing the tools starts no backend

        result = await run(
            argv,
            python=python,
            files={path: text.encode() for path, text in (files or {}).items()},
            collect=list(collect or []),
            workdir=workdir,
            network_hosts=config.network_hosts,
            limits=limits,
        )
    return _report(result)


def _report(result: Result) -> dict[str, Any]:
    """What the model is told of a sandboxed run (output and files as text)."""
    return {
        "exit_code": result.exit_code,
        "signal": result.signal,
        "limit": result.limit,
        "stdout": result.stdout.decode("utf-8", "replace"),
        "stderr": result.stderr.decode("utf-8", "replace"),
        "stdout_truncated": result.stdout_truncated,
        "stderr_truncated": result.stderr_truncated,
        "files": {path: data.decode("utf-8", "replace") for path, data in result.files.items()},
        "wall_seconds": round(result.wall_seconds, 3),
    }


async def _fetch(config: _Config, url: str, method: str, body: str | None) -> dict[str, Any]:
    got = await http_fetch(
        url,
        method=method,
        body=body,
        allow=config.allow_hosts,
        max_bytes=config.fetch_max_bytes,
    )
    return {
        "status": got.status,
        "content_type": got.content_type,
        "body": got.text(),
        "truncated": got.truncated,
        "url": got.url,
    }
