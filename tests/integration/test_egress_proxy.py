"""The egress proxy of `network_hosts`, spoken to directly over its UNIX socket: what it
forwards, what it refuses and why, and its limits. (Through a real sandbox:
tests/e2e/test_sandbox_egress.py.)"""

from __future__ import annotations

import asyncio
import http.server
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bosun.egress.hosts import HostAllowList
from bosun.egress.proxy import EgressProxy
from tests.echo_server import echo_server

pytestmark = pytest.mark.timeout(30)


@dataclass
class Upstream:
    """A plain HTTP server on loopback that records what reached it."""

    port: int
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    record = Upstream(0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            record.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            size = int(self.path.partition("n=")[2] or 0)
            body = b"x" * size if size else b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield record
    server.shutdown()
    server.server_close()


@pytest.fixture
def echo_port() -> Iterator[int]:
    with echo_server() as port:
        yield port


def fake_resolver(table: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


@asynccontextmanager
async def proxy(entries: list[str], **options: Any) -> AsyncIterator[tuple[EgressProxy, str]]:
    directory = tempfile.mkdtemp(prefix="egx-")  # short: UNIX socket paths are limited
    path = Path(directory) / "s"
    options.setdefault("max_bytes", 1 << 20)
    running = EgressProxy(HostAllowList.parse(entries), **options)
    try:
        async with running.serving(path):
            yield running, str(path)
    finally:
        shutil.rmtree(directory)


async def ask(path: str, request: bytes, *, then: bytes = b"") -> bytes:
    """Send `request` (and `then`, half-closing), return all the proxy sent back."""
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(request)
    if then:
        await asyncio.sleep(0)
        writer.write(then)
    writer.write_eof()
    data = await reader.read()
    writer.close()
    return data


async def test_plain_http_goes_to_the_uri_host_with_hop_by_hop_headers_dropped(
    upstream: Upstream,
) -> None:
    async with proxy([f"127.0.0.1:{upstream.port}"]) as (_, path):
        answer = await ask(
            path,
            f"GET http://127.0.0.1:{upstream.port}/p?q=1 HTTP/1.1\r\nHost: other.example\r\n"
            "Proxy-Authorization: Basic eA==\r\nProxy-Foo: y\r\n"
            "Connection: keep-alive, X-Secret\r\nX-Secret: s\r\nX-Kept: k\r\n\r\n".encode(),
        )
    assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(b"hello"), answer
    [(seen_path, headers)] = upstream.seen
    assert seen_path == "/p?q=1"
    assert headers["host"] == f"127.0.0.1:{upstream.port}"  # not what the client claimed
    assert headers["x-kept"] == "k" and headers["connection"] == "close"
    assert not [name for name in headers if name.startswith("proxy-") or name == "x-secret"]


async def test_connect_opens_a_tunnel_to_an_allowed_port(echo_port: int) -> None:
    async with proxy([f"127.0.0.1:{echo_port}"]) as (running, path):
        answer = await ask(
            path, f"CONNECT 127.0.0.1:{echo_port} HTTP/1.1\r\n\r\n".encode(), then=b"ping"
        )
    assert answer == b"HTTP/1.1 200 Connection established\r\n\r\nPING"
    assert running.transferred == 8 and running.refusals == []


@pytest.mark.parametrize(
    ("request_head", "status", "why"),
    [
        (b"GET http://example.com/ HTTP/1.1\r\n\r\n", 403, b"not on this sandbox's"),
        (b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n", 403, b"127.0.0.1:1 is not on"),
        (b"CONNECT 2130706433:443 HTTP/1.1\r\n\r\n", 403, b"canonical form"),
        (b"GET /local HTTP/1.1\r\nHost: x\r\n\r\n", 400, b"absolute http:// URIs"),
        (b"GET https://example.com/ HTTP/1.1\r\n\r\n", 400, b"CONNECT host:port"),
        (b"GET http://a.example/ HTTP/1.1\r\n folded: x\r\n\r\n", 400, b"malformed"),
        (b"GET http://a.example/ HTTP/1.1\r\nX: a\nB: c\r\n\r\n", 400, b"malformed"),
        (b"HELLO\r\n\r\n", 400, b"request line"),
        (b"CONNECT a.example HTTP/1.1\r\n\r\n", 400, b"no valid port"),
    ],
)
async def test_refusals_say_why(request_head: bytes, status: int, why: bytes) -> None:
    async with proxy(["a.example"], resolver=fake_resolver({})) as (running, path):
        answer = await ask(path, request_head)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer
    assert why in answer, answer
    assert len(running.refusals) == 1


async def test_a_name_resolving_inward_is_refused_unless_its_address_is_listed(
    upstream: Upstream,
) -> None:
    table = {"svc.example": ["127.0.0.1"], "internal.example": ["10.1.2.3"]}
    request = f"GET http://svc.example:{upstream.port}/ HTTP/1.1\r\n\r\n".encode()
    async with proxy(["svc.example", "internal.example"], resolver=fake_resolver(table)) as (
        _,
        path,
    ):
        answer = await ask(path, request)
        assert answer.startswith(b"HTTP/1.1 403") and b"a loopback address" in answer
        answer = await ask(path, b"CONNECT internal.example:443 HTTP/1.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 403") and b"10.1.2.3, a private address" in answer
    assert upstream.seen == []
    entries = ["svc.example", f"127.0.0.1:{upstream.port}"]
    async with proxy(entries, resolver=fake_resolver(table)) as (_, path):
        answer = await ask(path, request)
    assert answer.startswith(b"HTTP/1.0 200"), answer
    assert upstream.seen[0][1]["host"] == f"svc.example:{upstream.port}"


async def test_one_inward_address_among_public_ones_refuses_the_name() -> None:
    table = {"rebind.example": ["93.184.216.34", "169.254.169.254"]}
    async with proxy(["rebind.example"], resolver=fake_resolver(table)) as (_, path):
        answer = await ask(path, b"CONNECT rebind.example:443 HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403") and b"cloud metadata" in answer, answer


async def test_unresolvable_and_unreachable_hosts_are_bad_gateways() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    async with proxy(["nowhere.example", "127.0.0.1"], resolver=fake_resolver({})) as (_, path):
        answer = await ask(path, b"CONNECT nowhere.example:443 HTTP/1.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 502") and b"cannot resolve" in answer
        answer = await ask(path, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 502") and b"cannot connect" in answer


async def test_the_byte_limit_cuts_traffic_and_refuses_what_follows(upstream: Upstream) -> None:
    url = f"http://127.0.0.1:{upstream.port}"
    async with proxy([f"127.0.0.1:{upstream.port}"], max_bytes=10_000) as (running, path):
        answer = await ask(path, f"GET {url}/?n=100000 HTTP/1.1\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.0 200")
        assert running.exhausted and running.transferred == 10_000
        assert len(answer) < 10_000  # the request's head counted too
        answer = await ask(path, f"GET {url}/ HTTP/1.1\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 403") and b"network_bytes limit" in answer
    assert len(upstream.seen) == 1


async def test_a_slow_request_head_times_out() -> None:
    async with proxy(["a.example"], head_seconds=0.2) as (_, path):
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"GET http://a.example/ HTTP/1.1\r\n")  # and nothing more
        answer = await reader.read()
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400") and b"no request head within 0.2 s" in answer


async def test_connections_over_the_cap_are_turned_away_and_all_cut_at_the_end(
    echo_port: int,
) -> None:
    async with proxy([f"127.0.0.1:{echo_port}"], max_connections=1) as (_, path):
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(f"CONNECT 127.0.0.1:{echo_port} HTTP/1.1\r\n\r\n".encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        answer = await ask(path, f"CONNECT 127.0.0.1:{echo_port} HTTP/1.1\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 503"), answer
    # The proxy is gone: the tunnel still open was cut, without waiting for the client.
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
