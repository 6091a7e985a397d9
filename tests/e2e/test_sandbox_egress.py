"""`network_hosts`: sandboxed code reaches the hosts of its allow-list over HTTP(S), through
the worker's egress proxy, and nothing else: not other hosts or ports, not private addresses
it did not list, not TCP, UDP or DNS around the proxy.

The servers run on the host's loopback. The proxy refuses loopback addresses by default, so
the tests list `127.0.0.1:<port>` explicitly: listing an address is what overrides the guard.
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.echo_server import echo_server
from tests.helpers.processes import SANDBOX_GROUP

import bosun
from bosun import sandbox
from bosun.sandbox import Limits, Request, SandboxUnavailable
from bosun.sandbox.bwrap import BubblewrapBackend
from bosun.sandbox.landlock import NO_NETWORK_HOSTS, LandlockBackend
from bosun.sandbox.tools import python as default_python
from bosun.sandbox.tools import sandbox_tools

pytestmark = [pytest.mark.timeout(60), SANDBOX_GROUP]


@pytest.fixture(scope="module")
def bwrap() -> BubblewrapBackend:
    backend = BubblewrapBackend()
    ok, reason = backend.network_hosts_support()
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the egress tests (.ci/run installs bubblewrap): {reason}")
        pytest.skip(f"network_hosts unsupported here: {reason}")
    return backend


@dataclass
class Server:
    """A plain HTTP server on 127.0.0.1 (all interfaces, in fact) recording what reached it."""

    port: int
    seen: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def entry(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    record = Server(0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            record.seen.append(f"GET {self.path} {self.headers['Host']}")
            size = int(self.path.partition("n=")[2] or 0)
            self._send(b"x" * size if size else b"hello from the host")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            record.seen.append(f"POST {self.path}")
            self._send(body.upper())

        def _send(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    record.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield record
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    with echo_server() as port:
        yield port


async def run_python(
    backend: BubblewrapBackend, code: str, hosts: list[str], *args: str, **limits: Any
) -> str:
    request = Request(
        argv=["python3", "-I", "-c", textwrap.dedent(code), *args],
        network_hosts=tuple(hosts),
        limits=Limits(wall_seconds=20, **limits),
    )
    result = await backend.run(request)
    assert result.exit_code == 0, result.stderr.decode()
    return result.stdout.decode()


FETCH = """
    import sys, urllib.request, urllib.error
    for url in sys.argv[1:]:
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                print(answer.status, answer.read().decode())
        except urllib.error.HTTPError as exc:
            print(exc.code, exc.read().decode().strip())
        except OSError as exc:
            print("failed", exc)
"""

TUNNEL = """
    import socket, sys
    conn = socket.create_connection(("127.0.0.1", 3128), timeout=10)
    conn.sendall(f"CONNECT {sys.argv[1]} HTTP/1.1\\r\\nHost: {sys.argv[1]}\\r\\n\\r\\n".encode())
    head = b""
    while b"\\r\\n\\r\\n" not in head:
        head += conn.recv(1)
    print(head.split(b"\\r\\n")[0].decode())
    if b" 200 " in head:
        conn.sendall(b"through the tunnel")
        conn.shutdown(socket.SHUT_WR)
        print(conn.recv(100).decode())
    else:
        print(conn.recv(1000).decode().strip())
"""


async def test_an_allowed_host_is_reached_through_the_proxy(
    bwrap: BubblewrapBackend, server: Server, echo_port: int
) -> None:
    code = (
        FETCH
        + """
    import http.client, os
    print(os.environ["HTTP_PROXY"], os.environ["https_proxy"], repr(os.environ["NO_PROXY"]))
    base = sys.argv[1].rpartition("/")[0]
    request = urllib.request.Request(base + "/echo", data=b"posted", method="POST")
    print(urllib.request.urlopen(request, timeout=10).read().decode())
    tunnel = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
    tunnel.set_tunnel("127.0.0.1", int(base.rpartition(":")[2]))
    tunnel.request("GET", "/through-connect")
    print(tunnel.getresponse().read().decode())
    """
    )
    before = len(server.seen)
    out = await run_python(bwrap, code, [server.entry], f"{server.url}/hello")
    assert out.splitlines() == [
        "200 hello from the host",
        "http://127.0.0.1:3128 http://127.0.0.1:3128 ''",
        "POSTED",
        "hello from the host",
    ], out
    assert server.seen[before:] == [
        f"GET /hello 127.0.0.1:{server.port}",
        "POST /echo",
        f"GET /through-connect 127.0.0.1:{server.port}",
    ]
    # A raw CONNECT tunnel (what HTTPS clients open) to another allowed port.
    out = await run_python(bwrap, TUNNEL, [f"127.0.0.1:{echo_port}"], f"127.0.0.1:{echo_port}")
    assert out.splitlines() == ["HTTP/1.1 200 Connection established", "THROUGH THE TUNNEL"]


async def test_curl_goes_through_the_proxy(bwrap: BubblewrapBackend, server: Server) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    script = f"curl -sS {server.url}/curl; echo; curl -sS -p {server.url}/tunnel; echo"
    script += "; curl -sS -o /dev/null -w '%{http_code}' http://example.com/"
    result = await bwrap.run(Request(argv=["sh", "-c", script], network_hosts=(server.entry,)))
    assert result.stdout.decode().splitlines() == [
        "hello from the host",
        "hello from the host",
        "403",
    ], result.stderr


async def test_hosts_and_ports_not_on_the_list_are_refused(
    bwrap: BubblewrapBackend, server: Server, echo_port: int
) -> None:
    before = len(server.seen)
    out = await run_python(
        bwrap, FETCH, [f"127.0.0.1:{echo_port}"], f"{server.url}/x", "http://example.com/"
    )
    assert out.splitlines() == [
        f"403 bosun egress proxy: 127.0.0.1:{server.port} is not on this sandbox's network_hosts"
        " list",
        "403 bosun egress proxy: example.com:80 is not on this sandbox's network_hosts list",
    ]
    out = await run_python(bwrap, TUNNEL, [server.entry], f"127.0.0.1:{echo_port}")
    assert out.startswith("HTTP/1.1 403 Forbidden"), out
    out = await run_python(bwrap, TUNNEL, ["*"], "169.254.169.254:80")  # even with "*"
    assert out.startswith("HTTP/1.1 403 Forbidden"), out
    assert server.seen[before:] == []


async def test_a_name_resolving_to_an_unlisted_private_address_is_refused(
    bwrap: BubblewrapBackend, server: Server
) -> None:
    url = f"http://localhost:{server.port}/by-name"
    out = await run_python(bwrap, FETCH, ["localhost"], url)
    assert out.startswith("403 ") and "a loopback address" in out, out
    # Listing the addresses `localhost` resolves to overrides the guard.
    out = await run_python(bwrap, FETCH, ["localhost", "127.0.0.1", "::1"], url)
    assert out == "200 hello from the host\n", out
    assert server.seen[-1] == f"GET /by-name localhost:{server.port}"


def host_address() -> str:
    """This machine's address on its default route (or loopback when it has none)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


BYPASS = """
    import socket, sys
    port = int(sys.argv[1])
    for address in sys.argv[2:]:
        try:
            socket.create_connection((address, port), timeout=3)
            print("tcp", address, "connected")
        except OSError as exc:
            print("tcp", address, "failed", type(exc).__name__)
    try:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b"\\0" * 12, ("1.1.1.1", 53))
        print("udp sent")
    except OSError as exc:
        print("udp failed", type(exc).__name__)
    for name in ("example.com", "localhost"):
        try:
            print("dns", name, socket.getaddrinfo(name, 80))
        except OSError as exc:
            print("dns", name, "failed")
"""


async def test_tcp_udp_and_dns_around_the_proxy_fail(
    bwrap: BubblewrapBackend, server: Server
) -> None:
    before = len(server.seen)
    hosts = [server.entry, f"{host_address()}:{server.port}"]
    out = await run_python(bwrap, BYPASS, hosts, str(server.port), "127.0.0.1", host_address())
    lines = out.splitlines()
    assert [line.split()[:3] for line in lines[:2]] == [
        ["tcp", "127.0.0.1", "failed"],
        ["tcp", host_address(), "failed"],
    ], out
    assert lines[2:] == ["udp failed OSError", "dns example.com failed", "dns localhost failed"]
    assert server.seen[before:] == []


async def test_the_network_bytes_limit_cuts_the_traffic(
    bwrap: BubblewrapBackend, server: Server
) -> None:
    code = FETCH.replace("answer.read().decode()", "len(answer.read())")
    out = await run_python(bwrap, code, [server.entry], f"{server.url}/?n=3000000")
    assert out == "200 3000000\n", out  # a large body passes intact under the default limit
    request = Request(
        argv=["python3", "-I", "-c", textwrap.dedent(code), f"{server.url}/?n=3000000"],
        network_hosts=(server.entry,),
        limits=Limits(network_bytes=100_000),
    )
    result = await bwrap.run(request)
    assert result.limit == "network", result
    assert b"200 3000000" not in result.stdout


async def test_the_forwarder_runs_inside_under_the_sandboxs_limits(
    bwrap: BubblewrapBackend,
) -> None:
    code = """
        import os
        for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().split(b"\\0")
            if b"/run/bosun/forward.py" in command:
                with open(f"/proc/{pid}/limits") as f:
                    nproc = [line for line in f if line.startswith("Max processes")][0].split()
                print(os.stat(f"/proc/{pid}").st_uid == os.getuid(), nproc[2])
    """
    out = await run_python(bwrap, code, ["example.com"], processes=10)
    # The forwarder is one of the sandbox's processes, as its user, under its process limit
    # (the command's 10, plus the init and the forwarder).
    assert out == "True 12\n", out


async def test_landlock_refuses_network_hosts_and_says_what_to_use() -> None:
    request = Request(argv=["true"], network_hosts=("pypi.org",))
    with pytest.raises(SandboxUnavailable) as caught:
        await LandlockBackend().run(request)
    assert str(caught.value) == NO_NETWORK_HOSTS
    assert "bubblewrap" in NO_NETWORK_HOSTS and "http_fetch" in NO_NETWORK_HOSTS


async def test_bad_network_hosts_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="give one"):
        await sandbox.run(["true"], network=True, network_hosts=["pypi.org"])
    with pytest.raises(ValueError, match="not a string"):
        await sandbox.run(["true"], network_hosts="pypi.org")
    with pytest.raises(ValueError, match=r"network_hosts entry 'pypi\.org:https'"):
        sandbox_tools(network_hosts=["pypi.org:https"])


async def test_the_python_tool_reaches_only_its_hosts(
    bwrap: BubblewrapBackend, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOSUN_SANDBOX", "bubblewrap")
    sandbox._forget()
    code = "import urllib.request\n" + f"print(urllib.request.urlopen('{server.url}/tool').read())"
    (python, _, _) = sandbox_tools(network_hosts=[server.entry])
    assert "127.0.0.1" in (python.__doc__ or "")
    got = await python(code)
    assert got["stdout"] == "b'hello from the host'\n", got
    got = await default_python(code)  # the default tool has no network at all
    assert got["exit_code"] == 1 and "URLError" in got["stderr"], got


app = bosun.App("egress-tools")


async def test_a_sandboxed_app_tool_with_network_hosts(
    bwrap: BubblewrapBackend, server: Server
) -> None:
    @app.tool(sandbox=True, network_hosts=[server.entry])
    def fetch(path: str) -> str:
        """Fetch a path of the test server.

        Args:
            path: the path.
        """
        import urllib.request

        return urllib.request.urlopen(path, timeout=10).read().decode()

    @app.tool(sandbox=True)
    def fetch_without(path: str) -> str:
        """The same, with no network_hosts."""
        import urllib.request

        return urllib.request.urlopen(path, timeout=10).read().decode()

    assert await fetch(f"{server.url}/app-tool") == "hello from the host"
    with pytest.raises(bosun.BosunError, match="failed in the sandbox"):
        await fetch_without(f"{server.url}/app-tool")
