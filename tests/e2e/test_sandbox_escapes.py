"""Real escape attempts against the bubblewrap backend: each must be contained.

Every test runs actual code in a real sandbox and checks both what the sandbox reports and the
host afterwards (no process left, no file written, nothing reached). Without bubblewrap these
tests skip, except on CI (`CI` set), where a missing bwrap is a failure: `.ci/run` installs it.
The attacks on the host's UNIX sockets run against the Landlock fallback too (the rest of its
battery is in `test_sandbox_fallback.py`), which skips where Landlock cannot run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers.processes import SANDBOX_GROUP
from tests.helpers.wait import wait_until

from bosun.sandbox import Limits, Request, Result
from bosun.sandbox.bwrap import BubblewrapBackend
from bosun.sandbox.landlock import LandlockBackend

pytestmark = [pytest.mark.timeout(60), SANDBOX_GROUP]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bwrap() -> BubblewrapBackend:
    backend = BubblewrapBackend()
    ok, reason = backend.available()
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the sandbox battery (.ci/run installs bubblewrap): {reason}")
        pytest.skip(f"bubblewrap unavailable: {reason}")
    return backend


@pytest.fixture(params=["bubblewrap", "landlock"])
def confined(request: pytest.FixtureRequest) -> BubblewrapBackend | LandlockBackend:
    """Each backend that should contain the attack: bubblewrap, then the Landlock fallback."""
    if request.param == "bubblewrap":
        backend: BubblewrapBackend = request.getfixturevalue("bwrap")
        return backend
    fallback = LandlockBackend()
    ok, reason = fallback.available()
    if not ok:
        pytest.skip(f"the Landlock fallback cannot run here: {reason}")
    return fallback


async def run(
    backend: BubblewrapBackend,
    argv: list[str] | None = None,
    *,
    python: str | None = None,
    **fields: object,
) -> Result:
    if python is not None:
        argv = ["python3", "-I", "-c", textwrap.dedent(python)]
    assert argv is not None
    return await backend.run(Request(argv=argv, **fields))  # type: ignore[arg-type]


def host_processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture
def marker() -> str:
    return f"bosun-escape-{uuid.uuid4().hex[:12]}"


# -- network ------------------------------------------------------------------------------


@pytest.fixture
def loopback_server() -> Iterator[tuple[int, list[object]]]:
    """A TCP server on 127.0.0.1 that records every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            accepted.append(peer)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


CONNECT = """
    import socket, sys
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
        print("connected")
    except OSError as exc:
        print("failed", type(exc).__name__)
"""


async def test_tcp_to_a_server_on_the_hosts_loopback_fails(
    bwrap: BubblewrapBackend, loopback_server: tuple[int, list[object]]
) -> None:
    port, accepted = loopback_server
    argv = ["python3", "-I", "-c", textwrap.dedent(CONNECT), str(port)]
    result = await bwrap.run(Request(argv=argv))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(b"failed"), result.stdout
    assert accepted == []
    # The same code with network=True does reach it: the test can tell the difference.
    allowed = await bwrap.run(Request(argv=argv, network=True))
    assert allowed.stdout == b"connected\n", allowed.stderr
    # The kernel completes the handshake before the server's thread gets to accept() it.
    await wait_until(lambda: len(accepted) == 1, 10, "the server to accept the connection")


UNLISTED = """
    import socket, sys
    port = int(sys.argv[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3)
        print("direct: connected")
    except OSError as exc:
        print("direct: failed")
    # Around the forwarder, straight to the proxy's socket: the policy is enforced there.
    for how, address in (("by address", "127.0.0.1"), ("by name", "localhost")):
        proxy = socket.socket(socket.AF_UNIX)
        proxy.connect("/run/bosun/egress.sock")
        proxy.sendall(f"CONNECT {address}:{port} HTTP/1.1\\r\\n\\r\\n".encode())
        print(how + ":", proxy.recv(100).split(b"\\r\\n")[0].decode())
"""


async def test_network_hosts_reach_nothing_off_the_list(
    bwrap: BubblewrapBackend, loopback_server: tuple[int, list[object]]
) -> None:
    port, accepted = loopback_server
    argv = ["python3", "-I", "-c", textwrap.dedent(UNLISTED), str(port)]
    result = await bwrap.run(Request(argv=argv, network_hosts=("localhost", "example.com")))
    assert result.stdout.decode().splitlines() == [
        "direct: failed",
        "by address: HTTP/1.1 403 Forbidden",  # not listed
        "by name: HTTP/1.1 403 Forbidden",  # listed, but resolves to an unlisted loopback
    ], result.stderr
    assert accepted == []


async def test_dns_resolution_fails(bwrap: BubblewrapBackend) -> None:
    result = await run(
        bwrap,
        python="""
            import socket
            for name in ("example.com", "localhost", "metadata.google.internal"):
                try:
                    print(name, socket.getaddrinfo(name, 80))
                except OSError as exc:
                    print(name, "failed", type(exc).__name__)
        """,
    )
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 3 and all(" failed " in line for line in lines), lines


# -- the host's UNIX sockets (both backends) ----------------------------------------------

POSTGRES_SOCKETS = Path("/var/run/postgresql")  # Debian's default socket directory
POSTGRES = """
    import errno, socket, struct, sys
    try:
        server = socket.socket(socket.AF_UNIX)
        server.connect(sys.argv[1])
    except OSError as exc:
        print("refused", errno.errorcode.get(exc.errno, exc.errno))
        raise SystemExit
    # A StartupMessage (protocol 3.0). The server answers 'R' (an authentication request;
    # code 0, AuthenticationOk, under trust auth) or 'E' (refused by its pg_hba.conf).
    options = b"user\\0postgres\\0database\\0postgres\\0\\0"
    server.sendall(struct.pack("!ii", 8 + len(options), 3 << 16) + options)
    kind, _, code = struct.unpack("!cii", server.makefile("rb").read(9))
    print("answered", kind.decode(), code if kind == b"R" else "")
"""


async def on_the_host(code: str, *args: str, cwd: Path | None = None) -> str:
    """Run a snippet unconfined, as the worker: the control that shows a test can tell."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-c", code, *args, cwd=cwd, stdout=subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    return stdout.decode()


@pytest.fixture
def postgres_socket() -> str:
    """The socket of a PostgreSQL server in Debian's default directory, if one runs here."""
    found = sorted(POSTGRES_SOCKETS.glob(".s.PGSQL.*[0-9]")) if POSTGRES_SOCKETS.is_dir() else []
    sockets = [str(path) for path in found if path.is_socket()]
    if not sockets:
        pytest.skip(f"no PostgreSQL server listens in {POSTGRES_SOCKETS} here")
    return sockets[0]


@pytest.mark.parametrize("network", [False, True], ids=["offline", "network"])
async def test_the_postgresql_servers_unix_socket_is_out_of_reach(
    confined: BubblewrapBackend | LandlockBackend, postgres_socket: str, network: bool
) -> None:
    """With local trust auth, this socket is a superuser session: `COPY ... TO PROGRAM` runs
    a host command. It is world-writable, as most such sockets are (Docker's, supervisors')."""
    code = textwrap.dedent(POSTGRES)
    host = await on_the_host(code, postgres_socket)  # control: the test can tell
    if not host.startswith("answered "):
        pytest.skip(f"{postgres_socket} does not answer the host either ({host.strip()})")
    argv = ["python3", "-I", "-c", code, postgres_socket]
    result = await confined.run(Request(argv=argv, network=network))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(b"refused "), result.stdout


class HostSockets:
    """World-writable UNIX sockets of a host service, stream and datagram, in a directory
    anyone may search and under abstract names, each recording what reaches it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.tag = uuid.uuid4().hex[:12]
        self.listening: dict[str, socket.socket] = {}
        directory.chmod(0o755)
        for name, kind, address in (
            ("stream", socket.SOCK_STREAM, str(directory / "stream.sock")),
            ("dgram", socket.SOCK_DGRAM, str(directory / "dgram.sock")),
            ("seqpacket", socket.SOCK_SEQPACKET, str(directory / "seqpacket.sock")),
            ("abstract-stream", socket.SOCK_STREAM, f"\0bosun-escape-{self.tag}-stream"),
            ("abstract-dgram", socket.SOCK_DGRAM, f"\0bosun-escape-{self.tag}-dgram"),
        ):
            server = socket.socket(socket.AF_UNIX, kind)
            self.listening[name] = server
            server.bind(address)
            if not address.startswith("\0"):
                os.chmod(address, 0o777)
            if kind != socket.SOCK_DGRAM:
                server.listen(8)
            server.setblocking(False)

    def reached(self) -> set[str]:
        """The sockets that got a connection or a datagram since the last look (a UNIX
        socket's connect() and sendto() complete before they return: nothing is in flight)."""
        seen = set()
        for name, server in self.listening.items():
            while True:
                try:
                    if server.type != socket.SOCK_DGRAM:
                        server.accept()[0].close()
                    else:
                        server.recv(64)
                except BlockingIOError:
                    break
                seen.add(name)
        return seen

    def close(self) -> None:
        for server in self.listening.values():
            server.close()
        shutil.rmtree(self.directory)


@pytest.fixture
def host_sockets() -> Iterator[HostSockets]:
    sockets = HostSockets(Path(tempfile.mkdtemp(prefix="bosun-sockets-")))
    yield sockets
    sockets.close()


UNIX_SOCKETS = """
    import errno, socket, sys
    stream, dgram, seqpacket, tag = sys.argv[1:5]
    abstract = f"\\0bosun-escape-{tag}-"
    def attempt(name, call):
        try:
            call()
            print(name, "reached")
        except OSError as exc:
            print(name, "refused", errno.errorcode.get(exc.errno, exc.errno))
    def connect(address, kind=socket.SOCK_STREAM):
        socket.socket(socket.AF_UNIX, kind).connect(address)
    def send(address):
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"escaped", address)
    def pair(kind):  # the socketpair the sandbox keeps, its other end closed
        mine, theirs = socket.socketpair(socket.AF_UNIX, kind)
        theirs.close()
        return mine
    attempt("stream", lambda: connect(stream))
    attempt("dgram", lambda: send(dgram))
    attempt("seqpacket", lambda: connect(seqpacket, socket.SOCK_SEQPACKET))
    attempt("abstract-stream", lambda: connect(abstract + "stream"))
    attempt("abstract-dgram", lambda: send(abstract + "dgram"))
    attempt("pair-dgram", lambda: pair(socket.SOCK_DGRAM).sendto(b"escaped", dgram))
    attempt("pair-raw", lambda: pair(socket.SOCK_RAW).sendto(b"escaped", dgram))
    attempt("pair-abstract", lambda: pair(socket.SOCK_DGRAM).sendto(b"x", abstract + "dgram"))
    attempt("pair-stream", lambda: pair(socket.SOCK_STREAM).connect(stream))
    attempt("pair-seqpacket", lambda: pair(socket.SOCK_SEQPACKET).connect(seqpacket))
    # What sandboxed code may keep: a connected pair, for talking to its own children.
    mine, theirs = socket.socketpair()
    mine.sendall(b"ping")
    print("pair", theirs.recv(4).decode())
"""
REACHABLE = {  # from the host, unconfined (a connected pair cannot connect again: EISCONN)
    "stream",
    "dgram",
    "seqpacket",
    "abstract-stream",
    "abstract-dgram",
    "pair-dgram",
    "pair-raw",
    "pair-abstract",
}


@pytest.mark.parametrize("where", ["host-tmp", "workdir"])
async def test_a_world_writable_unix_socket_of_the_host_is_out_of_reach(
    confined: BubblewrapBackend | LandlockBackend, host_sockets: HostSockets, where: str
) -> None:
    """Sockets in a directory of the host's /tmp anyone may search, or in a persistent work
    directory (where the Landlock fallback's command has every right): neither by path,
    nor by abstract name, nor through a datagram socketpair."""
    directory = host_sockets.directory
    prefix = "" if where == "workdir" else f"{directory}/"
    args = [f"{prefix}{kind}.sock" for kind in ("stream", "dgram", "seqpacket")]
    args.append(host_sockets.tag)
    code = textwrap.dedent(UNIX_SOCKETS)
    # Control: unconfined, the same code reaches every socket (the test can tell).
    host = await on_the_host(code, *args, cwd=directory)
    reached = {line.split()[0] for line in host.splitlines() if line.endswith(" reached")}
    assert reached == REACHABLE, host
    assert host_sockets.reached() == set(host_sockets.listening)
    workdir = directory if where == "workdir" else None
    result = await confined.run(Request(argv=["python3", "-I", "-c", code, *args], workdir=workdir))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[-1] == "pair ping", lines
    assert [line for line in lines[:-1] if " refused " not in line] == [], lines
    assert host_sockets.reached() == set()


# -- the worker's secrets -----------------------------------------------------------------


async def test_the_workers_environment_is_not_inherited(
    bwrap: BubblewrapBackend, monkeypatch: pytest.MonkeyPatch, marker: str
) -> None:
    monkeypatch.setenv("BOSUN_TEST_SECRET", marker)
    result = await run(
        bwrap,
        ["sh", "-c", "env; cat /proc/self/environ /proc/1/environ"],
        env={"GIVEN": "yes"},
    )
    assert result.exit_code == 0, result.stderr
    assert marker.encode() not in result.stdout
    names = {line.split("=", 1)[0] for line in result.stdout.decode().splitlines() if "=" in line}
    assert names <= {"PATH", "HOME", "LANG", "PWD", "GIVEN", "SHLVL", "OLDPWD", "_"}, names
    assert b"GIVEN=yes" in result.stdout
    assert b"\nPATH=/usr/local/bin:/usr/bin:/bin\n" in result.stdout  # not the worker's PATH


async def test_proc_1_environ_and_proc_show_only_the_sandbox(
    bwrap: BubblewrapBackend, monkeypatch: pytest.MonkeyPatch, marker: str
) -> None:
    monkeypatch.setenv("BOSUN_TEST_SECRET", marker)
    result = await run(
        bwrap,
        python="""
            import os
            print(open("/proc/1/environ", "rb").read())
            print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
        """,
    )
    environ, pids = result.stdout.decode().splitlines()
    assert marker not in environ and "BOSUN_TEST_SECRET" not in environ
    assert "PATH=/usr/local/bin:/usr/bin:/bin" in environ
    assert eval(pids) == [1, 2], pids  # the init and this python, nothing of the host


async def test_files_of_the_worker_are_not_visible(
    bwrap: BubblewrapBackend, tmp_path: Path, marker: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(marker)
    home = Path.home()
    targets = [secret, home, Path("/home"), REPO / "pyproject.toml", Path("/etc/shadow")]
    targets += [Path("/etc/passwd"), Path("/var"), Path("/root"), tmp_path]
    script = "; ".join(f"ls -d {t} && cat {t}" for t in targets)
    result = await run(bwrap, ["sh", "-c", script])
    assert marker.encode() not in result.stdout
    assert result.stdout == b"", result.stdout  # none of them even exists in there
    assert result.stderr.count(b"No such file or directory") == len(targets)


async def test_writes_outside_the_work_directory_fail(
    bwrap: BubblewrapBackend, tmp_path: Path, marker: str
) -> None:
    targets = [f"/{marker}", f"/etc/{marker}", f"/usr/{marker}", f"/usr/local/{marker}"]
    targets += [f"/dev/{marker}", f"/proc/{marker}", f"{tmp_path}/{marker}"]
    writes = "; ".join(f"echo x > {t} && echo wrote {t}" for t in targets)
    script = f"{writes}; echo 1 > /proc/sys/kernel/hostname && echo wrote hostname; "
    script += f"echo x > /tmp/{marker} && echo wrote tmp"
    result = await run(bwrap, ["sh", "-c", script])
    assert result.stdout == b"wrote tmp\n", result.stdout  # the private /tmp only
    assert [t for t in [*targets, f"/tmp/{marker}"] if _exists(t)] == []
    assert os.listdir(tmp_path) == []
    assert socket.gethostname() != "1"


# -- resource limits ----------------------------------------------------------------------


async def test_a_fork_bomb_is_contained(bwrap: BubblewrapBackend, marker: str) -> None:
    result = await run(
        bwrap,
        ["python3", "-I", "-c", "import os\nwhile True: os.fork()", marker],
        limits=Limits(processes=32, wall_seconds=20),
    )
    assert result.limit == "processes", result  # stopped by the process cap, not the clock
    assert b"Resource temporarily unavailable" in result.stderr
    shell = await run(
        bwrap,
        ["sh", "-c", "f() { f | f & }; f; sleep 0.5; echo survived; exit 1", marker],
        limits=Limits(processes=32, wall_seconds=20),
    )
    assert shell.stdout == b"survived\n" and shell.limit == "processes", shell
    # Every fork carries the marker in its command line: none is left on the host. (Not a
    # count of the host's processes: the suite's other tests start and stop theirs meanwhile.)
    assert host_processes_with(marker) == []


async def test_a_memory_bomb_hits_the_memory_limit(bwrap: BubblewrapBackend) -> None:
    result = await run(
        bwrap,
        python="""
            hog = []
            while True:
                hog.append(bytearray(8 * 2**20))
        """,
        limits=Limits(memory_bytes=256 * 2**20),
    )
    assert result.limit == "memory", result
    assert b"MemoryError" in result.stderr
    assert result.max_rss_bytes <= 256 * 2**20


async def test_a_cpu_spin_hits_the_cpu_limit(bwrap: BubblewrapBackend) -> None:
    result = await run(
        bwrap, python="while True: pass", limits=Limits(cpu_seconds=1, wall_seconds=120)
    )
    assert result.limit == "cpu", result
    assert result.signal == signal.SIGXCPU and result.exit_code is None
    # CPU time, which a busy machine does not stretch; the kernel checks RLIMIT_CPU on its
    # scheduler tick while rusage is exact, so the signal can come a little before 1 s shows.
    assert 0.5 <= result.cpu_seconds < 3


@pytest.mark.parametrize("where", ["/work/fill", "/tmp/fill", "/dev/shm/fill"])
async def test_filling_a_disk_hits_its_cap(bwrap: BubblewrapBackend, where: str) -> None:
    limits = Limits(workdir_bytes=8 * 2**20, tmp_bytes=8 * 2**20)
    result = await run(bwrap, ["sh", "-c", f"head -c 100000000 /dev/zero > {where}"], limits=limits)
    assert result.limit == "disk", result
    assert b"No space left on device" in result.stderr


async def test_a_file_over_the_size_limit_is_stopped(bwrap: BubblewrapBackend) -> None:
    limits = Limits(file_size_bytes=2**20)
    shell = await run(bwrap, ["sh", "-c", "head -c 5000000 /dev/zero > big"], limits=limits)
    assert shell.limit == "file_size" and shell.signal == signal.SIGXFSZ, shell
    python = await run(bwrap, python="open('big', 'wb').write(b'x' * 5_000_000)", limits=limits)
    assert python.limit == "file_size" and b"File too large" in python.stderr, python


async def test_an_output_flood_is_cut_and_drained(bwrap: BubblewrapBackend) -> None:
    result = await run(
        bwrap,
        ["sh", "-c", "head -c 100000000 /dev/zero; head -c 100000000 /dev/zero >&2; echo end"],
        limits=Limits(output_bytes=64 * 1024, wall_seconds=20),
    )
    # The command was never blocked: it wrote everything and exited (a blocked one would
    # end killed by the wall-clock limit instead).
    assert result.exit_code == 0
    assert len(result.stdout) == len(result.stderr) == 64 * 1024
    assert result.stdout_truncated and result.stderr_truncated
    assert result.limit == "output"


@pytest.fixture
def nap() -> str:
    """A `sleep` argument no other process on the host has: 100 s and a unique fraction."""
    return f"100.{uuid.uuid4().int % 10**9:09d}"


async def test_a_child_that_outlives_the_timeout_is_killed(
    bwrap: BubblewrapBackend, marker: str, nap: str
) -> None:
    result = await run(
        bwrap, ["sh", "-c", f"sleep {nap} & sleep {nap}", marker], limits=Limits(wall_seconds=1)
    )
    # Killed at the limit, not waited for (the sleeps last 100 s), and none left behind.
    assert result.limit == "wall" and result.signal == signal.SIGKILL, result
    assert result.wall_seconds >= 1
    assert host_processes_with(marker) == [] and host_processes_with(nap) == []
    # A background child of a command that exits at once is killed with the namespace: the
    # run ends with the command, not when the wall-clock limit (30 s) stops the child.
    orphaned = await run(bwrap, ["sh", "-c", f"sleep {nap} &", marker])
    assert orphaned.exit_code == 0 and orphaned.limit is None, orphaned
    assert host_processes_with(marker) == [] and host_processes_with(nap) == []


WORKER = """
import asyncio, os, sys
from bosun.sandbox import Request, _bwrap_run
from bosun.sandbox.bwrap import BubblewrapBackend
if sys.argv[2] == "before-go":  # die once the sandbox is up, before it may start the command
    async def die(self, work):
        os._exit(9)
    _bwrap_run.BwrapRun._fill = die
argv = ["sh", "-c", f"sleep {sys.argv[1]} & sleep {sys.argv[1]}"]
asyncio.run(BubblewrapBackend().run(Request(argv=argv)))
"""


@pytest.mark.parametrize("when", ["running", "before-go"])
def test_the_sandbox_dies_with_the_worker(bwrap: BubblewrapBackend, nap: str, when: str) -> None:
    worker = subprocess.Popen([sys.executable, "-c", WORKER, nap, when])
    try:
        if when == "running":
            deadline = time.monotonic() + 30  # a hang guard
            while len(host_processes_with(f"sleep\0{nap}")) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)  # until the command runs, both sleeps started
            assert len(host_processes_with(f"sleep\0{nap}")) == 2, "the sandbox never started"
        else:
            assert worker.wait(timeout=10) == 9
    finally:
        worker.kill()  # SIGKILL: the worker gets no chance to clean up
        worker.wait()
    deadline = time.monotonic() + 30  # a hang guard
    while host_processes_with(nap) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_processes_with(nap) == []


def _exists(path: str) -> bool:
    return os.path.lexists(path)


# -- symlinks -----------------------------------------------------------------------------

LINKS = """
    ln -s /etc/passwd passwd
    ln -s {secret} secret
    ln -s / root
    ln -s {tmp} tmpdir
    mkdir real && echo fine > real/ok.txt
    mkfifo pipe
"""
COLLECT = ["passwd", "secret", "root/etc/passwd", "tmpdir/secret.txt", "pipe", "*", "**/*"]


@pytest.mark.parametrize("persistent", [False, True], ids=["tmpfs", "persistent"])
async def test_symlinks_out_of_the_work_directory_are_not_followed(
    bwrap: BubblewrapBackend, tmp_path: Path, marker: str, persistent: bool
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(marker)
    workdir = tmp_path / "session" if persistent else None
    script = textwrap.dedent(LINKS).format(secret=secret, tmp=tmp_path)
    result = await run(bwrap, ["sh", "-ec", script], collect=COLLECT, workdir=workdir)
    assert result.exit_code == 0, result.stderr
    assert result.files == {"real/ok.txt": b"fine\n"}
    if workdir is not None:  # links are not persisted either: the host dir holds none
        assert sorted(p.name for p in workdir.rglob("*")) == ["ok.txt", "real"]
        assert not any(p.is_symlink() for p in workdir.rglob("*"))


# -- seccomp ------------------------------------------------------------------------------

SYSCALLS = """
    import ctypes, errno, os, subprocess
    libc = ctypes.CDLL(None, use_errno=True)
    def attempt(name, call):
        ctypes.set_errno(0)
        rc = call()
        print(name, rc, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
    attempt("ptrace", lambda: libc.ptrace(0, 0, None, None))  # PTRACE_TRACEME
    attempt("unshare_user", lambda: libc.unshare(0x10000000))
    attempt("unshare_user_mount", lambda: libc.unshare(0x10000000 | 0x20000))
    attempt("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
    attempt("umount", lambda: libc.umount2(b"/tmp", 2))
    attempt("setns", lambda: libc.setns(os.open("/proc/1/ns/mnt", os.O_RDONLY), 0))
    attempt("keyctl", lambda: libc.syscall({keyctl}, 0, 0, 0, 0, 0))
    attempt("bpf", lambda: libc.syscall({bpf}, 0, None, 0))
    attempt("perf_event_open", lambda: libc.syscall({perf}, None, 0, -1, -1, 0))
    attempt("io_uring_setup", lambda: libc.syscall({io_uring}, 1, None))
    print("unshare(1)", subprocess.run(["unshare", "-U", "-r", "true"]).returncode)
    print("threads", subprocess.run(["python3", "-c", "import threading as t; x=t.Thread(target=int); x.start(); x.join()"]).returncode)
"""  # noqa: E501


async def test_ptrace_mount_unshare_and_friends_are_blocked(bwrap: BubblewrapBackend) -> None:
    from bosun.sandbox.seccomp import ARCHES, machine_arch

    numbers = ARCHES[machine_arch() or "x86_64"].numbers
    code = SYSCALLS.format(
        keyctl=numbers["keyctl"],
        bpf=numbers["bpf"],
        perf=numbers["perf_event_open"],
        io_uring=numbers["io_uring_setup"],
    )
    result = await run(bwrap, python=code)
    lines = dict(line.split(" ", 1) for line in result.stdout.decode().splitlines())
    for name in (
        "ptrace",
        "unshare_user",
        "unshare_user_mount",
        "mount",
        "umount",
        "setns",
        "keyctl",
        "bpf",
        "perf_event_open",
        "io_uring_setup",
    ):
        assert lines.get(name) == "-1 EPERM", (name, result.stdout, result.stderr)
    assert lines["unshare(1)"] != "0"
    assert lines["threads"] == "0"  # clone3 says ENOSYS, libc falls back to clone: allowed


# -- what sandboxed code can do -----------------------------------------------------------


async def test_a_python_snippet_with_files_in_and_out(bwrap: BubblewrapBackend) -> None:
    result = await run(
        bwrap,
        python="""
            import json, os, pathlib
            data = json.loads(pathlib.Path("in/data.json").read_text())
            os.makedirs("out/deep", exist_ok=True)
            pathlib.Path("out/sum.txt").write_text(str(sum(data)))
            pathlib.Path("out/deep/n.csv").write_text("n\\n%d\\n" % len(data))
            print(os.getcwd(), os.environ["HOME"], os.getuid())
        """,
        files={"in/data.json": b"[1, 2, 3]"},
        collect=["out/sum.txt", "out/**/*.csv", "missing.txt"],
    )
    assert result.ok, result
    assert result.stdout == b"/work /work 65534\n"
    assert result.files == {"out/sum.txt": b"6", "out/deep/n.csv": b"n\n3\n"}
    assert result.backend == "bubblewrap"


async def test_exit_codes_and_signals(bwrap: BubblewrapBackend) -> None:
    assert (await run(bwrap, ["sh", "-c", "exit 3"])).exit_code == 3
    killed = await run(bwrap, ["sh", "-c", "kill -TERM $$"])
    assert killed.exit_code is None and killed.signal == signal.SIGTERM
    missing = await run(bwrap, ["no-such-command"])
    assert missing.exit_code == 127 and not missing.ok


async def test_stdin_env_and_timing(bwrap: BubblewrapBackend) -> None:
    data = os.urandom(1 << 20)
    echoed = await run(bwrap, ["cat"], stdin=data, limits=Limits(output_bytes=2 << 20))
    assert echoed.stdout == data and not echoed.stdout_truncated
    env = await run(bwrap, ["sh", "-c", 'printf %s "$GREETING"'], env={"GREETING": "hi there"})
    assert env.stdout == b"hi there"
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    # CPU time of a grandchild counts: the tree's usage is accounted through the init.
    began = time.monotonic()
    timed = await run(bwrap, ["sh", "-c", f"python3 -c '{spin}'; sleep 0.2"])
    took = time.monotonic() - began
    assert timed.ok
    assert 0.5 <= timed.wall_seconds <= took  # within what the caller saw the run take
    assert 0.28 <= timed.cpu_seconds < 1.5


def test_peak_memory_is_reported_when_the_worker_is_smaller(bwrap: BubblewrapBackend) -> None:
    """`max_rss_bytes` is the sandbox's peak only above the worker's own (the kernel charges
    bwrap with the worker's peak at exec), so measure from a small fresh worker process: the
    test session itself may have grown past 300 MiB."""
    import subprocess
    import sys

    script = (
        "import asyncio\n"
        "from bosun.sandbox.bwrap import BubblewrapBackend\n"
        "from bosun.sandbox.spec import Request\n"
        "code = \"x = bytearray(300 * 2**20)\\nx[::4096] = b'1' * len(x[::4096])\"\n"
        "result = asyncio.run(BubblewrapBackend().run(Request(['python3', '-c', code])))\n"
        "print(result.max_rss_bytes)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 300 * 2**20


async def test_a_persistent_work_directory_keeps_files_within_its_quota(
    bwrap: BubblewrapBackend, tmp_path: Path
) -> None:
    workdir = tmp_path / "session"
    limits = Limits(workdir_bytes=4 * 2**20)
    first = await run(bwrap, ["sh", "-c", "echo one > a.txt"], workdir=workdir, limits=limits)
    second = await run(bwrap, ["cat", "a.txt", "b.txt"], workdir=workdir, files={"b.txt": b"2"})
    assert first.ok and second.stdout == b"one\n2"
    assert (workdir / "a.txt").read_text() == "one\n"
    full = await run(
        bwrap, ["sh", "-c", "head -c 9000000 /dev/zero > big"], workdir=workdir, limits=limits
    )
    assert full.limit == "disk", full
    assert sum(p.stat().st_size for p in workdir.rglob("*")) <= 4 * 2**20
    (workdir / "over").write_bytes(b"x" * (5 * 2**20))  # someone else filled it
    refused = await run(bwrap, ["true"], workdir=workdir, limits=limits)
    assert refused.limit == "disk" and b"quota" in refused.stderr
    shutil.rmtree(workdir)
