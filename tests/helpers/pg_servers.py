"""Servers a test starts for itself: a throwaway PostgreSQL cluster (initdb on a free port) and
a PgBouncer in front of a server, each with a generated configuration, stopped and deleted
afterwards. Neither touches the shared server's settings.

The server binaries and PgBouncer refuse to run as root: as root they run as `postgres`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import pytest


def _pg_bin() -> Path:
    """Where initdb and pg_ctl live: $BOSUN_TEST_PG_BIN, else Debian's newest, else PATH."""
    if os.environ.get("BOSUN_TEST_PG_BIN"):
        return Path(os.environ["BOSUN_TEST_PG_BIN"])
    debian = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parts[-3].isdigit()),
        key=lambda p: int(p.parts[-3]),
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
AS_POSTGRES = os.geteuid() == 0


def unavailable(reason: str) -> NoReturn:
    """A server the test needs cannot start: skip locally, but fail under CI, which must run
    every test."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _service_dir(prefix: str) -> Path:
    """A temporary directory the service's user (postgres, for root) owns."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    if AS_POSTGRES:
        try:
            postgres = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            unavailable("running as root (servers refuse root) and there is no postgres user")
        os.chown(root, postgres.pw_uid, postgres.pw_gid)
    return root


class ScratchPostgres:
    """A PostgreSQL cluster of one test's own, which it may stop and start at will."""

    def __init__(self, root: Path, port: int, max_connections: int = 60, **settings: str) -> None:
        self.root = root
        self.data = root / "data"
        self.logfile = root / "server.log"
        self.port = port
        self.max_connections = max_connections
        self.settings = settings
        # The superuser is named after whoever connects: root, or the user running the tests.
        self.user = "root" if AS_POSTGRES else pwd.getpwuid(os.geteuid()).pw_name
        self.url = f"postgresql://{self.user}@127.0.0.1:{port}/postgres"

    def _cmd(self, tool: str, *args: str, timeout: float = 60) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if AS_POSTGRES else []
        done = subprocess.run(
            [*prefix, str(PG_BIN / tool), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}\n"
                f"server log:\n{self.log()[-3000:]}"
            )

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def init(self) -> None:
        self._cmd("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "--no-sync")

    def start(self) -> None:
        extra = "".join(f" -c {name}={value}" for name, value in self.settings.items())
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
            f" -c fsync=off -c max_connections={self.max_connections}{extra}"
        )
        self._cmd(
            "pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", options, "-w", "start"
        )

    def stop(self, mode: str) -> None:
        self._cmd("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])


@contextlib.contextmanager
def scratch_postgres(max_connections: int = 60, **settings: str) -> Iterator[ScratchPostgres]:
    """A fresh PostgreSQL cluster on a free port, stopped and deleted afterwards."""
    if not (PG_BIN / "initdb").exists():
        unavailable(f"no PostgreSQL server binaries (initdb) in {PG_BIN}; set BOSUN_TEST_PG_BIN")
    if AS_POSTGRES and shutil.which("runuser") is None:
        unavailable("running as root (initdb refuses root) and there is no runuser")
    root = _service_dir("bosun-pg-")
    server = ScratchPostgres(root, free_port(), max_connections, **settings)
    try:
        try:
            server.init()
            server.start()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            unavailable(f"cannot start a throwaway PostgreSQL cluster: {exc}")
        yield server
    finally:
        if server.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


# -- PgBouncer --------------------------------------------------------------------------------


def pgbouncer_binary() -> str | None:
    """PgBouncer: $BOSUN_TEST_PGBOUNCER, else on PATH, else Debian's /usr/sbin/pgbouncer."""
    given = os.environ.get("BOSUN_TEST_PGBOUNCER")
    if given:
        return given
    found = shutil.which("pgbouncer")
    if found:
        return found
    return "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None


class PgBouncer:
    """PgBouncer in front of the server of `server_url` (any database on it: a wildcard
    entry), with trust authentication for the URL's user, listening on a free port."""

    def __init__(
        self,
        root: Path,
        server_url: str,
        *,
        pool_mode: str = "transaction",
        pool_size: int = 8,
        max_client_conn: int = 2000,
        max_db_connections: int = 0,
    ) -> None:
        parts = urlsplit(server_url)
        self.root = root
        self.server_url = server_url
        self.user = parts.username or pwd.getpwuid(os.geteuid()).pw_name
        self.password = parts.password or ""
        self.host = parts.hostname or "127.0.0.1"
        self.server_port = parts.port or 5432
        self.port = free_port()
        self.logfile = root / "pgbouncer.log"
        self.settings = {
            "pool_mode": pool_mode,
            "default_pool_size": str(pool_size),
            "max_client_conn": str(max_client_conn),
            "max_db_connections": str(max_db_connections),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        (self.root / "userlist.txt").write_text(f'"{self.user}" "{self.password}"\n')
        lines = [
            "[databases]",
            f"* = host={self.host} port={self.server_port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {self.root / 'userlist.txt'}",
            f"logfile = {self.logfile}",
            "log_connections = 0",
            "log_disconnections = 0",
            "server_reset_query =",
            "server_check_delay = 1",
            *(f"{name} = {value}" for name, value in self.settings.items()),
        ]
        ini = self.root / "pgbouncer.ini"
        ini.write_text("\n".join(lines) + "\n")
        if AS_POSTGRES:
            postgres = pwd.getpwnam("postgres")
            for path in (ini, self.root / "userlist.txt"):
                os.chown(path, postgres.pw_uid, postgres.pw_gid)
        return ini

    def start(self, timeout: float = 15, config: tuple[str, str] | None = None) -> None:
        """Start it, with a generated configuration or `config`: pgbouncer.ini's text, with
        `{port}` and `{auth_file}` where its listen_port and auth_file go, and
        userlist.txt's."""
        binary = pgbouncer_binary()
        assert binary is not None
        ini = self._write_config()
        if config is not None:
            users = self.root / "userlist.txt"
            text = config[0].replace("{auth_file}", str(users))
            ini.write_text(text.replace("{port}", str(self.port)))
            users.write_text(config[1])
        self.proc = subprocess.Popen(
            [binary, str(ini)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            user="postgres" if AS_POSTGRES else None,
            group="postgres" if AS_POSTGRES else None,
        )
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited ({self.proc.returncode}):\n{self.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen on {self.port}:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def url(self, database_url: str, *, listen: bool = True, **options: str | int) -> str:
        """`database_url` through this PgBouncer (`?pooler=transaction`), LISTENing on the
        direct URL itself unless `listen` is False (then the process polls)."""
        direct = urlsplit(database_url)
        query = {"pooler": "transaction", **{k: str(v) for k, v in options.items()}}
        if listen:
            query["listen_url"] = database_url
        netloc = f"{quote(self.user)}@127.0.0.1:{self.port}"
        return urlunsplit(("postgresql", netloc, direct.path, urlencode(query), ""))


@contextlib.contextmanager
def pgbouncer(
    server_url: str, config: tuple[str, str] | None = None, **settings: int | str
) -> Iterator[PgBouncer]:
    """A PgBouncer (transaction pooling unless `pool_mode` says otherwise) in front of the
    server of `server_url`, or with `config` (see `PgBouncer.start`); skipped locally,
    failed under CI, when PgBouncer is missing."""
    if pgbouncer_binary() is None:
        unavailable("no pgbouncer (Debian: apt-get install pgbouncer; or set BOSUN_TEST_PGBOUNCER)")
    root = _service_dir("bosun-pgbouncer-")
    bouncer = PgBouncer(root, server_url, **settings)  # type: ignore[arg-type]
    try:
        try:
            bouncer.start(config=config)
        except (RuntimeError, OSError) as exc:
            unavailable(f"cannot start pgbouncer: {exc}")
        yield bouncer
    finally:
        bouncer.stop()
        shutil.rmtree(root, ignore_errors=True)
