"""`http_fetch` against real servers on loopback: what it refuses (before connecting), what
it allows, redirects re-checked at each hop, size and time limits, and HTTPS to a pinned
address with the host name's SNI and certificate check."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bosun.egress.fetch import FetchFailed, FetchRefused, http_fetch
from bosun.errors import BosunError

pytestmark = pytest.mark.timeout(30)

BIG = 300_000


@dataclass
class Seen:
    """One request a test server received."""

    method: str
    path: str
    host: str
    body: bytes
    sni: str | None = None


@dataclass
class Server:
    base: str
    port: int
    seen: list[Seen] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    # /stall and /drip answer in full only once this is set (or after 20 s): a fetch that
    # fails before the test sets it gave up by its own deadline.
    release: threading.Event = field(default_factory=threading.Event)
    answered: list[str] = field(default_factory=list)  # paths answered in full

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.server.record.seen.append(
            Seen(self.command, parts.path, self.headers.get("Host", ""), body)
        )
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route(parts.path, query, body)

    def _route(self, path: str, query: dict[str, str], body: bytes) -> None:
        if path == "/echo":
            answer = {"method": self.command, "host": self.headers["Host"], "body": body.decode()}
            self._send(200, json.dumps(answer).encode(), "application/json")
        elif path == "/big":
            self._send(200, b"x" * int(query.get("n", BIG)), "text/plain")
        elif path == "/redirect":
            self.send_response(int(query.get("status", 302)))
            self.send_header("Location", query["to"])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/stall":
            self.server.record.release.wait(20)
            self._send(200, b"late", "text/plain")
            self.server.record.answered.append(path)
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "200")
            self.end_headers()
            for _ in range(200):  # a byte every 0.1 s: 20 s in all
                self.wfile.write(b"x")
                self.wfile.flush()
                if self.server.record.release.wait(0.1):
                    return
            self.server.record.answered.append(path)
        else:
            self._send(200, "héllo".encode("latin-1"), "text/plain; charset=iso-8859-1")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    record: Server


def _serve(host: str, tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    httpd = _HTTPServer((host, 0), _Handler)
    port = int(httpd.server_address[1])
    scheme = "https" if tls else "http"
    httpd.record = Server(f"{scheme}://{host}:{port}", port)
    if tls is not None:
        record = httpd.record

        def remember(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
            record.sni.append(name)

        tls.sni_callback = remember  # type: ignore[assignment]
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd.record
    finally:
        httpd.record.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve("127.0.0.1")


class FakeDNS:
    """A resolver with fixed answers that counts its lookups."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise FetchFailed(f"cannot resolve host {host!r}")
        return self.answers[host]


async def _no_dns(host: str, port: int) -> Sequence[str]:
    raise AssertionError(f"{host} must be refused before any lookup")


# -- refused before connecting ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "address_class"),
    [
        ("http://127.0.0.1:{port}/echo", "loopback"),
        ("http://127.0.0.2:{port}/echo", "loopback"),
        ("http://[::1]:{port}/echo", "loopback"),
        ("http://[::ffff:127.0.0.1]:{port}/echo", "loopback"),
        ("http://[::ffff:7f00:1]:{port}/echo", "loopback"),
        ("http://0.0.0.0:{port}/echo", "unspecified"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[::ffff:169.254.169.254]/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://169.254.10.1/", "link-local"),
        ("http://10.0.0.1/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://[fd12:3456::1]/", "unique-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
    ],
)
async def test_refuses_internal_address_literals(
    server: Server, url: str, address_class: str
) -> None:
    with pytest.raises(FetchRefused, match="http_fetch refused") as caught:
        await http_fetch(url.format(port=server.port), resolver=_no_dns)
    assert caught.value.address_class == address_class
    assert address_class in str(caught.value)
    assert "add it" in str(caught.value)  # says how to allow it
    assert server.seen == []


async def test_refuses_localhost_through_the_system_resolver(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"localhost resolves to .*loopback"):
        await http_fetch(f"http://localhost:{server.port}/echo")
    assert server.seen == []


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.goog.", "metadata"])
async def test_refuses_metadata_names_whatever_they_resolve_to(host: str) -> None:
    dns = FakeDNS({host.lower().rstrip("."): ["93.184.216.34"]})
    with pytest.raises(FetchRefused, match="cloud metadata host name") as caught:
        await http_fetch(f"http://{host}/computeMetadata/v1/", resolver=dns)
    assert caught.value.address_class == "cloud metadata"


async def test_refuses_a_name_that_resolves_to_a_private_address(server: Server) -> None:
    dns = FakeDNS({"internal.test": ["127.0.0.1"]})
    with pytest.raises(FetchRefused, match=r"internal\.test resolves to 127\.0\.0\.1.*loopback"):
        await http_fetch(f"http://internal.test:{server.port}/echo", resolver=dns)
    assert dns.lookups == ["internal.test"]  # the refusal came after resolving the name
    assert server.seen == []


async def test_one_private_answer_among_public_ones_refuses(server: Server) -> None:
    # What a rebinding name looks like: refuse rather than pick the "good" address.
    dns = FakeDNS({"mixed.test": ["93.184.216.34", "10.1.2.3"]})
    with pytest.raises(FetchRefused, match=r"10\.1\.2\.3.*private"):
        await http_fetch(f"http://mixed.test:{server.port}/", resolver=dns)


async def test_ipv4_mapped_answer_from_dns_is_refused() -> None:
    dns = FakeDNS({"mapped.test": ["::ffff:169.254.169.254"]})
    with pytest.raises(
        FetchRefused, match=r"IPv4-mapped IPv6 form of 169\.254\.169\.254"
    ) as caught:
        await http_fetch("http://mapped.test/", resolver=dns)
    assert caught.value.address_class == "cloud metadata"


@pytest.mark.parametrize(
    "host", ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "017700000001"]
)
async def test_numeric_host_forms_are_refused(host: str) -> None:
    with pytest.raises(FetchRefused, match=r"not a valid URL|non-canonical"):
        await http_fetch(f"http://{host}/", resolver=_no_dns, allow=["8.8.8.8"])


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/",
        "gopher://127.0.0.1:70/",
        "javascript:alert(1)",
        "//example.com/",
        "http:///nohost",
        "not a url",
    ],
)
async def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(FetchRefused, match=r"not allowed|not a valid URL"):
        await http_fetch(url, resolver=_no_dns)


async def test_other_methods_are_refused(server: Server) -> None:
    with pytest.raises(FetchRefused, match="method 'DELETE' is not allowed"):
        await http_fetch(server.url("/echo"), method="DELETE", allow=["127.0.0.1"])
    assert server.seen == []


# -- allowed fetches --------------------------------------------------------------------------


async def test_allowed_loopback_get_and_post(server: Server) -> None:
    got = await http_fetch(server.url("/hello"), allow=["127.0.0.1"])
    assert got.status == 200
    assert got.text() == "héllo"  # decoded by the charset the answer names
    assert got.content_type == "text/plain; charset=iso-8859-1"
    assert not got.truncated
    assert got.url == server.url("/hello")
    assert got.elapsed > 0

    posted = await http_fetch(
        server.url("/echo"), method="post", body="ping", allow=["127.0.0.0/8"]
    )
    assert json.loads(posted.body) == {
        "method": "POST",
        "host": f"127.0.0.1:{server.port}",
        "body": "ping",
    }

    head = await http_fetch(server.url("/hello"), method="HEAD", allow=["127.0.0.1"])
    assert (head.status, head.body) == (200, b"")


async def test_connects_to_the_checked_address_with_the_original_host_header(
    server: Server,
) -> None:
    # `pinned.test` exists in no real DNS: the request reaching the server proves the
    # connection went to the address checked here, with nothing resolving the name again.
    dns = FakeDNS({"pinned.test": ["127.0.0.1"]})
    got = await http_fetch(
        f"http://pinned.test:{server.port}/echo",
        headers={"Host": "evil.test", "X-Trace": "1"},
        allow=["127.0.0.1"],
        resolver=dns,
    )
    assert got.status == 200
    assert json.loads(got.body)["host"] == f"pinned.test:{server.port}"  # not overridable
    assert dns.lookups == ["pinned.test"]


async def test_an_allowed_name_tries_its_addresses_in_turn(server: Server) -> None:
    dns = FakeDNS({"dual.test": ["::1", "127.0.0.1"]})  # nothing listens on [::1]:port
    got = await http_fetch(
        f"http://dual.test:{server.port}/hello", allow=["dual.test"], resolver=dns
    )
    assert got.status == 200


async def test_unreachable_is_a_fetch_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(FetchFailed, match="cannot connect"):
            await http_fetch(f"http://127.0.0.1:{port}/", allow=["127.0.0.1"])


async def test_unresolvable_name_is_a_fetch_failure() -> None:
    with pytest.raises(FetchFailed, match="cannot resolve"):
        await http_fetch("http://nowhere.invalid/", resolver=FakeDNS({}))


async def test_body_is_cut_at_max_bytes(server: Server) -> None:
    got = await http_fetch(server.url("/big"), max_bytes=100_000, allow=["127.0.0.1"])
    assert (len(got.body), got.truncated) == (100_000, True)
    whole = await http_fetch(server.url("/big"), max_bytes=BIG, allow=["127.0.0.1"])
    assert (len(whole.body), whole.truncated) == (BIG, False)
    nothing = await http_fetch(server.url("/big"), max_bytes=0, allow=["127.0.0.1"])
    assert (nothing.body, nothing.truncated) == (b"", True)


async def test_a_server_that_does_not_answer_times_out(server: Server) -> None:
    with pytest.raises(FetchFailed, match=r"took longer than 0\.5 s"):
        await http_fetch(server.url("/stall"), timeout=0.5, allow=["127.0.0.1"])
    assert server.answered == []  # it gave up while the server still held its answer back


async def test_the_timeout_bounds_the_whole_fetch_not_each_read(server: Server) -> None:
    # Each byte arrives within 0.1 s, so only a total deadline stops the drip.
    with pytest.raises(FetchFailed, match="took longer than"):
        await http_fetch(server.url("/drip"), timeout=0.6, allow=["127.0.0.1"])
    assert server.answered == []  # it gave up mid-drip


# -- redirects --------------------------------------------------------------------------------


async def test_redirect_to_an_address_not_allowed_is_refused(server: Server) -> None:
    target = f"http://127.0.0.2:{server.port}/echo"
    with pytest.raises(FetchRefused, match=r"127\.0\.0\.2 is a loopback address") as caught:
        await http_fetch(server.url(f"/redirect?to={target}"), allow=["127.0.0.1"])
    assert f"where http://127.0.0.1:{server.port} redirected" in str(caught.value)
    assert [s.path for s in server.seen] == ["/redirect"]


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::ffff:10.0.0.1]/",
        "http://2130706433/",
        "file:///etc/passwd",
    ],
)
async def test_redirects_are_checked_at_every_hop(server: Server, target: str) -> None:
    with pytest.raises(FetchRefused):
        await http_fetch(server.url(f"/redirect?to={target}"), allow=["127.0.0.1"])


async def test_redirect_to_a_name_resolving_inward_is_refused(server: Server) -> None:
    dns = FakeDNS({"public.test": ["127.0.0.1"], "inward.test": ["10.0.0.7"]})
    start = f"http://public.test:{server.port}/redirect?to=http://inward.test/"
    with pytest.raises(FetchRefused, match=r"inward\.test resolves to 10\.0\.0\.7"):
        await http_fetch(start, allow=["public.test"], resolver=dns)
    assert dns.lookups == ["public.test", "inward.test"]


async def test_redirects_within_the_allowed_host_are_followed(server: Server) -> None:
    got = await http_fetch(server.url("/redirect?to=/hello"), allow=["127.0.0.1"])
    assert (got.status, got.url) == (200, server.url("/hello"))


async def test_303_after_post_becomes_get_without_body(server: Server) -> None:
    got = await http_fetch(
        server.url("/redirect?status=303&to=/echo"),
        method="POST",
        body=b"payload",
        allow=["127.0.0.1"],
    )
    assert json.loads(got.body)["method"] == "GET"
    assert json.loads(got.body)["body"] == ""


async def test_307_keeps_method_and_body(server: Server) -> None:
    got = await http_fetch(
        server.url("/redirect?status=307&to=/echo"),
        method="POST",
        body=b"payload",
        allow=["127.0.0.1"],
    )
    assert json.loads(got.body) == {
        "method": "POST",
        "host": f"127.0.0.1:{server.port}",
        "body": "payload",
    }


async def test_too_many_redirects_fail(server: Server) -> None:
    with pytest.raises(FetchFailed, match="redirected more than 3 times"):
        await http_fetch(server.url("/loop"), max_redirects=3, allow=["127.0.0.1"])
    assert len(server.seen) == 4


# -- HTTPS to a pinned address ----------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA and a certificate it signed for `fetch.test`."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca = ["-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=bosun test CA"]
    leaf = ["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=fetch.test"]
    sign = ["-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]
    run = [
        ["openssl", "req", "-x509", *ec, *ca],
        ["openssl", "req", *ec, *leaf],
        ["openssl", "x509", "-req", *sign, "-out", "leaf.pem", "-days", "1", "-extfile", "ext.cnf"],
    ]
    (d / "ext.cnf").write_text("subjectAltName=DNS:fetch.test\n")
    for argv in run:
        subprocess.run(argv, cwd=d, check=True, capture_output=True, timeout=30)
    return d


@pytest.fixture
def tls_server(certificates: Path) -> Iterator[Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / "leaf.pem", certificates / "leaf.key")
    yield from _serve("127.0.0.1", context)


def _trusting(certificates: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificates / "ca.pem"))


async def test_https_to_the_pinned_address_uses_the_host_name_for_sni_and_verification(
    tls_server: Server, certificates: Path
) -> None:
    dns = FakeDNS({"fetch.test": ["127.0.0.1"]})
    got = await http_fetch(
        f"https://fetch.test:{tls_server.port}/echo",
        allow=["fetch.test"],
        resolver=dns,
        ssl_context=_trusting(certificates),
    )
    assert json.loads(got.body)["host"] == f"fetch.test:{tls_server.port}"
    assert tls_server.sni == ["fetch.test"]
    assert dns.lookups == ["fetch.test"]


async def test_https_certificate_is_checked_against_the_host_name(
    tls_server: Server, certificates: Path
) -> None:
    # Same address, same trusted CA, but the name is not on the certificate: refused by TLS.
    dns = FakeDNS({"other.test": ["127.0.0.1"]})
    with pytest.raises(FetchFailed, match=r"(?i)certificate|hostname"):
        await http_fetch(
            f"https://other.test:{tls_server.port}/echo",
            allow=["other.test"],
            resolver=dns,
            ssl_context=_trusting(certificates),
        )
    assert tls_server.seen == []


async def test_errors_share_the_bosun_root() -> None:
    assert issubclass(FetchRefused, BosunError)
    assert issubclass(FetchFailed, BosunError)


# -- the agent tool ---------------------------------------------------------------------------


async def test_the_agent_tool_returns_text(server: Server) -> None:
    from bosun.sandbox.tools import http_fetch_tool, sandbox_tools

    with pytest.raises(FetchRefused, match="loopback"):
        await http_fetch_tool(server.url("/hello"))
    *_, fetch = sandbox_tools(allow_hosts=["127.0.0.1"], fetch_max_bytes=1000)
    assert await fetch(server.url("/hello")) == {
        "status": 200,
        "content_type": "text/plain; charset=iso-8859-1",
        "body": "héllo",
        "truncated": False,
        "url": server.url("/hello"),
    }
    big = await fetch(server.url("/big"))
    assert (len(big["body"]), big["truncated"]) == (1000, True)
    posted = await fetch(server.url("/echo"), method="POST", body="hi")
    assert json.loads(posted["body"])["body"] == "hi"
