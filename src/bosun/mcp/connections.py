"""Live sessions with MCP servers: one per server and event loop, shared by every run the
worker executes, opened at the first call that needs one and opened again when lost.

A session lives in a task of its own (the SDK's client is an anyio context whose transport
task group must be entered and left by one task); calls are made from the runs' tasks. When
the transport fails (a stdio server exits, an HTTP server stops answering), the failure ends
that task, not the run that was calling.

A session that is known to be closed before a call (a stdio server that exited since the last
call: its pipe reached end of file) is replaced before the call is sent, so nothing is lost.
A call that was sent when the connection broke may or may not have reached the server: it
fails with a retryable `McpConnectionError`, and the step's retry sends it again on a new
session, with the same idempotency key (at least once).

A session left unused for `keep_alive` seconds is closed (a stdio server's process ends);
`close_all()` closes every session of the running event loop, and the loop's shutdown
cancels what is left.

The `mcp` SDK is imported here only inside functions: `import bosun.mcp` stays light and
works without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

from bosun.mcp.errors import McpConnectionError, McpError, McpProtocolError
from bosun.version import __version__

if TYPE_CHECKING:
    from mcp import Client
    from mcp.client._transport import TransportStreams
    from mcp.types import CallToolResult, RequestParamsMeta, Tool

__all__ = ["Endpoint", "Options", "call_tool", "close_all", "list_tools"]

log = logging.getLogger("bosun.mcp")
_PAGES = 100  # tools/list pages read at most: a server whose cursor never ends cannot hang
_HTTP_TIMEOUT = 30.0  # seconds to connect to, write to, or take a pooled HTTP connection
_HTTP_READ_TIMEOUT = 300.0  # seconds an HTTP response stream may stay silent


@dataclass(frozen=True)
class Endpoint:
    """How to reach one server. Equal endpoints share one session per event loop; `env` and
    `headers` take part in the comparison but never in a repr (they may hold secrets)."""

    transport: Literal["stdio", "http", "sse"]
    target: str  # the command, or the URL
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    cwd: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def describe(self) -> str:
        """The server, for messages: its command line, or its URL without credentials or
        query (either may hold a secret)."""
        if self.transport == "stdio":
            return " ".join([self.target, *self.args])
        parts = urlsplit(self.target)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class Options:
    """How long to wait for a session, and how long to keep an unused one."""

    connect_timeout: float = 30.0
    keep_alive: float = 300.0


async def list_tools(endpoint: Endpoint, options: Options) -> list[Tool]:
    """Every tool the server lists, all pages."""
    tools: list[Tool] = []
    cursor: str | None = None
    async with _session(endpoint, options) as session:
        try:
            for _ in range(_PAGES):
                page = await session.client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
        except Exception as exc:
            raise session.failure(exc, "listing its tools") from exc
    return tools


async def call_tool(
    endpoint: Endpoint,
    options: Options,
    name: str,
    arguments: dict[str, Any],
    meta: dict[str, Any] | None,
) -> CallToolResult:
    """Call tool `name` on the server, with `meta` as the request's `_meta`."""
    async with _session(endpoint, options) as session:
        try:
            request_meta = cast("RequestParamsMeta | None", meta)
            return await session.client.call_tool(name, arguments, meta=request_meta)
        except Exception as exc:
            raise session.failure(exc, f"calling {name!r}") from exc


async def close_all() -> None:
    """Close every session of the running event loop (stdio servers' processes end)."""
    sessions = list(_pool().values())
    await asyncio.gather(*(session.close() for session in sessions))


# -- sessions ---------------------------------------------------------------------------------

_POOLS: dict[asyncio.AbstractEventLoop, dict[Endpoint, _Session]] = {}
_closing: set[asyncio.Task[None]] = set()  # sessions being closed in the background


def _pool() -> dict[Endpoint, _Session]:
    loop = asyncio.get_running_loop()
    for closed in [other for other in _POOLS if other.is_closed()]:
        del _POOLS[closed]
    return _POOLS.setdefault(loop, {})


@contextlib.asynccontextmanager
async def _session(endpoint: Endpoint, options: Options) -> AsyncIterator[_Session]:
    """The endpoint's open session on this loop (opened, again, if there is none), in use
    until the block ends: a session in use is never closed for being idle."""
    while True:
        pool = _pool()
        session = pool.get(endpoint)
        if session is not None and session.lost():
            session.discard()
            session = None
        if session is None:
            session = _Session(endpoint, options)
            pool[endpoint] = session
        async with session.use():
            try:
                await asyncio.wait_for(asyncio.shield(session.ready), options.connect_timeout)
            except TimeoutError:
                session.discard()
                raise McpConnectionError(
                    f"MCP server {endpoint.describe()!r} did not answer within "
                    f"{options.connect_timeout:g} s of connecting"
                ) from None
            if not session.closing:  # else it was closed while we waited: open another
                yield session
                return


class _Session:
    """One client session, held open by its own task until closed, idle or lost."""

    def __init__(self, endpoint: Endpoint, options: Options) -> None:
        loop = asyncio.get_running_loop()
        self.endpoint = endpoint
        self.options = options
        self.ready: asyncio.Future[Client] = loop.create_future()
        # Nobody may be waiting when opening fails: the error is read here, not logged.
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.busy = 0
        self.last_used = time.monotonic()
        self.closing = False  # no new calls: it is being closed
        self._stop = asyncio.Event()
        self._task = loop.create_task(self._hold(), name=f"bosun.mcp {endpoint.describe()}")

    @property
    def client(self) -> Client:
        return self.ready.result()

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[None]:
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1
            self.last_used = time.monotonic()

    def lost(self) -> bool:
        """Whether the session is over or known to be closed (it can send nothing)."""
        if self._task.done():
            return True
        if not self.ready.done() or self.ready.cancelled() or self.ready.exception():
            return False
        # The SDK has no public flag for it: its dispatcher marks itself closed when the
        # transport ends (a stdio server that exited). Without the flag, a call finds out.
        dispatcher = getattr(self.client.session, "_dispatcher", None)
        return getattr(dispatcher, "_closed", False) is True

    def discard(self) -> None:
        """Forget the session and close it in the background."""
        self._forget()
        self._stop.set()
        if not self.ready.done():
            self._task.cancel()
        _closing.add(self._task)
        self._task.add_done_callback(_closing.discard)

    async def close(self) -> None:
        self.discard()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def failure(self, exc: Exception, doing: str) -> McpError:
        """What `exc`, raised while `doing` something, means for the step; a lost connection
        is dropped, so the next attempt opens a new one."""
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        where = f"MCP server {self.endpoint.describe()!r}"
        if isinstance(exc, MCPError) and exc.code not in (CONNECTION_CLOSED, REQUEST_TIMEOUT):
            return McpProtocolError(f"{where} refused {doing}: {exc.message}", code=exc.code)
        if isinstance(exc, MCPError) or _is_transport_error(exc):
            self.discard()
            reason = exc.message if isinstance(exc, MCPError) else _reason(exc)
            return McpConnectionError(f"{where}: connection lost while {doing} ({reason})")
        return McpProtocolError(f"{where} answered {doing} with something unusable: {exc}")

    async def _hold(self) -> None:
        try:
            async with _client(self.endpoint) as client:
                self.ready.set_result(client)
                await self._until_done()
        except Exception as exc:
            if not self.ready.done():
                self.ready.set_exception(_open_failure(self.endpoint, exc))
            else:
                log.info("%s: session ended (%s)", self._where(), _reason(exc))
        except BaseException:  # cancelled (closed while opening, or the loop ends)
            if not self.ready.done():
                self.ready.set_exception(McpConnectionError(f"{self._where()}: not opened"))
            raise
        finally:
            self._forget()

    def _forget(self) -> None:
        """Take the session out of the pool: the next call opens another one."""
        self.closing = True
        pool = _POOLS.get(asyncio.get_running_loop(), {})
        if pool.get(self.endpoint) is self:
            del pool[self.endpoint]

    async def _until_done(self) -> None:
        """Until closed, or unused (nothing in flight) for `keep_alive` seconds."""
        keep_alive = self.options.keep_alive
        while not self._stop.is_set():
            idle = time.monotonic() - self.last_used
            if self.busy == 0 and idle >= keep_alive:
                self._forget()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(keep_alive - idle, 0.5))

    def _where(self) -> str:
        return f"MCP server {self.endpoint.describe()!r}"


def _client(endpoint: Endpoint) -> Client:
    """The SDK's client for `endpoint`. Its response cache stays on: it keeps a tool listing
    only as long as the server says it stays fresh (`ttlMs`, 0 by default), so a discovery
    may skip the round trip, and what it returns is journaled either way."""
    from mcp import Client, StdioServerParameters
    from mcp.types import Implementation

    info = Implementation(name="bosun", version=__version__)
    if endpoint.transport == "stdio":
        server = StdioServerParameters(
            command=endpoint.target,
            args=list(endpoint.args),
            env=dict(endpoint.env) or None,
            cwd=endpoint.cwd,
        )
        return Client(server, client_info=info)
    return Client(_http_transport(endpoint), client_info=info)


@contextlib.asynccontextmanager
async def _http_transport(endpoint: Endpoint) -> AsyncIterator[TransportStreams]:
    """Streamable HTTP or SSE to `endpoint`, with its headers on every request."""
    headers = dict(endpoint.headers)
    if endpoint.transport == "sse":
        from mcp.client.sse import sse_client

        async with sse_client(
            endpoint.target,
            headers=headers,
            timeout=_HTTP_TIMEOUT,
            sse_read_timeout=_HTTP_READ_TIMEOUT,
        ) as streams:
            yield streams
        return
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    timeout = httpx2.Timeout(_HTTP_TIMEOUT, read=_HTTP_READ_TIMEOUT)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
        streamable_http_client(endpoint.target, http_client=http) as streams,
    ):
        yield streams


def _open_failure(endpoint: Endpoint, exc: Exception) -> McpError:
    where = f"MCP server {endpoint.describe()!r}"
    cause = _leaf(exc)
    if endpoint.transport == "stdio" and isinstance(cause, FileNotFoundError | PermissionError):
        hint = "is it installed, and on the worker's PATH?"
        if isinstance(cause, PermissionError):
            hint = "the worker may not run it"
        return McpConnectionError(
            f"{where} cannot be started: {cause.strerror or cause} ({hint})", retryable=False
        )
    if isinstance(exc, McpError):
        return exc
    return McpConnectionError(f"{where}: cannot connect ({_reason(exc)})")


def _leaf(exc: BaseException) -> BaseException:
    """The first exception an exception group (anyio's task groups make them) holds."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _reason(exc: BaseException) -> str:
    cause = _leaf(exc)
    text = str(cause) or os.strerror(getattr(cause, "errno", 0) or 0)
    return f"{type(cause).__name__}: {text}"


def _is_transport_error(exc: BaseException) -> bool:
    """A failure of the connection itself, not an answer of the server."""
    import anyio
    import httpx2

    cause = _leaf(exc)
    lost = (
        OSError,
        TimeoutError,
        EOFError,
        anyio.ClosedResourceError,
        anyio.BrokenResourceError,
        anyio.EndOfStream,
        httpx2.TransportError,
    )
    return isinstance(cause, lost)
