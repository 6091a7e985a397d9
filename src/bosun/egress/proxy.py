"""The egress proxy: HTTP and HTTPS out of a sandbox, to the hosts of its allow-list only.

The worker runs one `EgressProxy` per sandboxed call with `network_hosts`, outside the
sandbox, on a UNIX socket that is bind-mounted into it (`bosun.sandbox._bwrap_egress`). It
speaks the two forms every HTTP client's proxy support uses:

- `CONNECT host:port` (HTTPS, or any TCP through a tunnel): checked, then a `200` and the
  bytes relayed both ways; TLS stays end to end, between the sandboxed code and the server;
- `GET http://host[:port]/path` (plain HTTP, absolute URI): checked, then sent on to the
  server in origin form, with `Host` set from the URI (a client cannot name another host in
  it), hop-by-hop and `Proxy-*` headers dropped and `Connection: close`; one request per
  connection.

Checking (`bosun.egress.hosts`): the destination must be on the list; the proxy then
resolves a name itself, refuses it when any address it resolves to is internal (private,
loopback, link-local, metadata...) and not listed, and connects to exactly the addresses it
checked, so nothing resolves the name again in between. A refusal is a `403` whose body
says why; a name that does not resolve, or a server that cannot be reached, a `502`.

Limits, per call: `max_bytes` through the proxy in both directions together (past it every
connection is cut and new ones are refused: `exhausted`), `MAX_CONNECTIONS` at once, and
time limits on reading a request's head, resolving and connecting. The call's wall-clock
limit bounds the rest: the proxy closes, with every connection, when the call ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bosun.egress.addresses import normalize_host, parse_ip
from bosun.egress.hosts import HostAllowList

__all__ = ["EgressProxy", "Resolver"]

MAX_HEAD_BYTES = 64 * 1024
MAX_CONNECTIONS = 64
CHUNK = 64 * 1024
HEAD_SECONDS = 10.0
CONNECT_SECONDS = 10.0
_METHOD = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Dropped from a forwarded request (with every `Proxy-*`); `Host` is set from the URI.
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization", b"te"}
    | {b"trailer", b"upgrade", b"host"}
)
_VERSIONS = (b"HTTP/1.0", b"HTTP/1.1")
_BAD = (b"\r", b"\n", b"\0")  # in a header line (split at CRLF), what servers read differently
_REASONS = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway", 503: "Service Unavailable"}

_Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""`(host, port) -> addresses`: how the proxy resolves a host name."""

log = logging.getLogger("bosun.egress.proxy")


class _Refused(Exception):
    """A request the proxy answers with an error status instead of passing it on."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class _Target:
    host: str  # as the request wrote it, normalized
    port: int
    head: bytes | None  # the request to send on (plain HTTP), or None for a tunnel


async def system_resolve(host: str, port: int) -> list[str]:
    """The IPv4 and IPv6 addresses of `host`, in the system resolver's order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    families = (socket.AF_INET, socket.AF_INET6)
    return list(dict.fromkeys(str(info[4][0]) for info in infos if info[0] in families))


class EgressProxy:
    """An HTTP/HTTPS forward proxy that lets one sandboxed call reach its allow-list only.

    Args:
        allow: the hosts and addresses that may be reached.
        max_bytes: bytes through the proxy, both directions together, before it cuts.
        resolver: resolves host names (the system's resolver when None).
        head_seconds: the most a client may take to send a request's head.
        connect_seconds: the most resolving a name, or connecting to one address, may take.
        max_connections: connections at once; more are answered `503`.
    """

    def __init__(
        self,
        allow: HostAllowList,
        *,
        max_bytes: int,
        resolver: Resolver | None = None,
        head_seconds: float = HEAD_SECONDS,
        connect_seconds: float = CONNECT_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.allow = allow
        self.max_bytes = max_bytes
        self.resolver = resolver or system_resolve
        self.head_seconds = head_seconds
        self.connect_seconds = connect_seconds
        self.max_connections = max_connections
        self.transferred = 0
        self.exhausted = False
        self.refusals: list[str] = []
        self._open: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def serving(
        self, path: Path, *, owner: tuple[int, int] = (-1, -1)
    ) -> AsyncIterator[None]:
        """Listen on the UNIX socket `path` (owned by `owner`, mode 0600) while inside;
        on leaving, stop and cut every connection."""
        server = await asyncio.start_unix_server(
            self._accept, path=os.fspath(path), limit=MAX_HEAD_BYTES
        )
        try:
            os.chown(path, *owner)
            os.chmod(path, 0o600)
            yield
        finally:
            server.close()
            for task in list(self._open):
                task.cancel()
            await asyncio.gather(*self._open, return_exceptions=True)
            await server.wait_closed()

    def _admit(self, size: int) -> int:
        """How many of `size` bytes may pass (all, or what is left of the budget)."""
        allowed = min(size, max(self.max_bytes - self.transferred, 0))
        self.transferred += allowed
        if allowed < size and not self.exhausted:
            self.exhausted = True
            log.info("egress proxy: the network_bytes limit (%d) cut traffic", self.max_bytes)
        return allowed

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        try:
            await self._handle(reader, writer)
        except _Refused as refused:
            self.refusals.append(refused.reason)
            log.info("egress proxy refused a request: %s", refused.reason)
            await _answer(reader, writer, refused.status, refused.reason)
        except (OSError, asyncio.IncompleteReadError):
            pass  # the client went away, or broke the exchange
        finally:
            self._open.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(self.head_seconds):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise _Refused(400, f"the request's head is over {MAX_HEAD_BYTES} bytes") from exc
        except TimeoutError as exc:
            raise _Refused(400, f"no request head within {self.head_seconds:g} s") from exc
        if len(self._open) > self.max_connections:
            raise _Refused(503, f"more than {self.max_connections} connections at once")
        if self.exhausted:
            raise _Refused(403, f"the call's network_bytes limit ({self.max_bytes}) is spent")
        target = _parse(head)
        upstream = await self._connect(target)
        if target.head is None:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        elif self._admit(len(target.head)) < len(target.head):
            upstream[1].close()
            raise _Refused(403, f"the call's network_bytes limit ({self.max_bytes}) is spent")
        else:
            upstream[1].write(target.head)
        await relay((reader, writer), upstream, self._admit)

    async def _connect(self, target: _Target) -> _Stream:
        """A connection to the checked address of `target` (the first that answers)."""
        why = self.allow.refuse_target(target.host, target.port)
        if why is not None:
            raise _Refused(403, why)
        addresses = await self._resolve(target)
        failures = []
        for address in addresses:
            try:
                async with asyncio.timeout(self.connect_seconds):
                    return await asyncio.open_connection(address, target.port, limit=2**16)
            except (OSError, TimeoutError) as exc:
                failures.append(f"{address}: {str(exc) or type(exc).__name__}")
        tried = "; ".join(failures)
        raise _Refused(502, f"cannot connect to {target.host}:{target.port} ({tried})")

    async def _resolve(self, target: _Target) -> list[str]:
        """The addresses to try, each checked; one refused address refuses the request (a
        name answering with a mix is what DNS rebinding looks like)."""
        if parse_ip(target.host) is not None:
            return [target.host]
        try:
            async with asyncio.timeout(self.connect_seconds):
                found = list(await self.resolver(target.host, target.port))
        except (OSError, UnicodeError, TimeoutError) as exc:
            raise _Refused(502, f"cannot resolve {target.host}: {exc}") from exc
        if not found:
            raise _Refused(502, f"{target.host} resolves to no address")
        for text in found:
            address = parse_ip(text)
            if address is None:
                raise _Refused(502, f"the resolver gave {text!r} for {target.host}")
            why = self.allow.refuse_address(target.host, target.port, address)
            if why is not None:
                raise _Refused(403, why)
        return found


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, admit: Callable[[int], int]
) -> bool:
    """Copy until end of file, then half-close; False when the copy broke or `admit` let
    only part of a chunk through."""
    try:
        while data := await reader.read(CHUNK):
            allowed = admit(len(data))
            writer.write(data[:allowed])
            await writer.drain()
            if allowed < len(data):
                return False
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:  # reset, broken pipe: the other direction ends too
        return False
    return True


async def relay(a: _Stream, b: _Stream, admit: Callable[[int], int]) -> None:
    """Copy both ways until both ends are done (or one breaks, or `admit`, given the size of
    each chunk, lets fewer bytes through), then close both."""
    pipes = {
        asyncio.ensure_future(_pipe(a[0], b[1], admit)),
        asyncio.ensure_future(_pipe(b[0], a[1], admit)),
    }
    try:
        while pipes:
            done, pipes = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            if not all(task.result() for task in done):
                break
    finally:
        for task in pipes:
            task.cancel()
        for writer in (a[1], b[1]):
            writer.close()


def _parse(head: bytes) -> _Target:
    """What a request's head asks for: a tunnel (`CONNECT`) or a plain HTTP request."""
    line, _, rest = head.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or not _METHOD.fullmatch(parts[0]) or parts[2] not in _VERSIONS:
        raise _Refused(400, "not an HTTP/1.x request line")
    method, target = parts[0], parts[1].decode("latin-1")
    if method == b"CONNECT":
        host, port = _authority(target, default=None)
        return _Target(host, port, None)
    url = urlsplit(target)
    if url.scheme != "http" or not url.netloc:
        raise _Refused(
            400,
            "send absolute http:// URIs (GET http://host/path) or CONNECT host:port for "
            "HTTPS through this proxy (set HTTP_PROXY and HTTPS_PROXY)",
        )
    authority = url.netloc.rpartition("@")[2]  # never the user:password part
    host, port = _authority(authority, default=80)
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    lines = [method + b" " + path.encode("latin-1") + b" HTTP/1.1"]
    lines += [b"Host: " + authority.encode("latin-1"), *_headers(rest)]
    return _Target(host, port, b"\r\n".join([*lines, b"Connection: close", b"", b""]))


def _authority(text: str, *, default: int | None) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not port_text and default is not None:
        return normalize_host(host), default
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _Refused(400, f"{text!r} has no valid port")
    return normalize_host(host), int(port_text)


def _headers(block: bytes) -> list[bytes]:
    """The request's end-to-end header lines, refusing malformed ones (bare CR or LF, folded
    lines, NUL), which servers could read differently from this proxy."""
    lines = [line for line in block.split(b"\r\n") if line]
    for line in lines:
        if b":" not in line or line[:1] in (b" ", b"\t") or any(c in line for c in _BAD):
            raise _Refused(400, "a malformed request header")
    names = [line.partition(b":")[0].strip().lower() for line in lines]
    dropped = set(_HOP_BY_HOP)
    for name, line in zip(names, lines, strict=True):
        if name == b"connection":  # the headers it names are hop-by-hop too
            dropped |= {token.strip().lower() for token in line.partition(b":")[2].split(b",")}
    return [
        line
        for name, line in zip(names, lines, strict=True)
        if name not in dropped and not name.startswith(b"proxy-")
    ]


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int, reason: str
) -> None:
    """Send an error response, then read what the client still sends (a body, say) for a
    moment: closing with unread input would reset the connection, response and all."""
    body = f"bosun egress proxy: {reason}\n".encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError, TimeoutError):
        writer.write(head.encode() + body)
        writer.write_eof()
        async with asyncio.timeout(1.0):
            while await reader.read(CHUNK):
                pass
    writer.close()
