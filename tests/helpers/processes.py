"""The `bosun` CLI and workers as subprocesses on a real SQLite file or PostgreSQL database:
the world an end-to-end test runs in (`Env`, `PgEnv`), and reading what happened in it."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

APPS = Path(__file__).resolve().parents[1] / "e2e" / "apps"
BOSUN = str(Path(sys.executable).parent / "bosun")
# Sandboxes run as one user (nobody, for a root worker), whose process count RLIMIT_NPROC caps
# across all of them: tests that run sandboxes share one xdist process, so that another test's
# sandboxes never spend a process-cap test's budget (`--dist loadgroup` in pyproject.toml).
SANDBOX_GROUP = pytest.mark.xdist_group("sandbox")


@dataclass
class Env:
    """One test's world: a database file, an effects file, and the processes it started."""

    tmp: Path
    db_path: Path
    effects: Path
    extra: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db_path}"

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
        # Apps are swapped in place within one second: never run stale bytecode.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["BOSUN_E2E_EFFECTS"] = str(self.effects)
        env.update(self.extra)
        return env

    def bosun(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run one `bosun` command to completion; stdout and stderr captured as text."""
        return subprocess.run(
            [BOSUN, *args],
            capture_output=True,
            text=True,
            env=self.environ(),
            timeout=timeout,
            cwd=self.tmp,
        )

    def ok(self, *args: str, timeout: float = 30) -> str:
        """Run a `bosun` command that must succeed; return its stdout."""
        done = self.bosun(*args, timeout=timeout)
        assert done.returncode == 0, f"bosun {' '.join(args)} -> {done.returncode}\n{done.stderr}"
        return done.stdout

    def submit(self, app: str | Path, workflow: str, data: Any = None) -> str:
        """Start a run with `bosun run`; return its id."""
        out = self.ok(
            "run",
            str(app),
            workflow,
            "--input",
            json.dumps(data or {}),
            "--database",
            self.url,
            "--json",
        )
        return str(json.loads(out)["run_id"])

    def show(self, run_id: str) -> dict[str, Any]:
        """`bosun runs show ID --json`: the run record with its journal."""
        return json.loads(self.ok("runs", "show", run_id, "--database", self.url, "--json"))

    def worker(self, app: str | Path, *args: str, name: str = "worker") -> subprocess.Popen[bytes]:
        """Start `bosun worker APP ARGS…` in the background; its log goes to a file."""
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [BOSUN, "worker", str(app), "--database", self.url, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.environ(),
            cwd=self.tmp,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, name: str = "worker") -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def effect_lines(self) -> list[str]:
        return self.effects.read_text().splitlines() if self.effects.exists() else []

    def query(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        """Read the database directly (a separate connection; WAL lets it read alongside)."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def count(self, sql: str, *params: Any) -> int:
        return int(self.query(sql, *params)[0][0])


def wait_exit(proc: subprocess.Popen[bytes], timeout: float, env: Env, name: str = "worker") -> int:
    """Wait for a process to exit; on timeout fail with its log and its threads' stacks."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"{name} (pid {proc.pid}) still running after {timeout} s; log:\n"
            f"{env.log(name)[-4000:]}\n{stacks(proc.pid)}"
        ) from None


def stacks(pid: int) -> str:
    """What a running process is doing: its threads' Python stacks (py-spy, from the dev
    extra), else the kernel's view of each thread."""
    spy = Path(sys.executable).parent / "py-spy"
    try:
        if spy.exists():
            dumped = subprocess.run(
                [str(spy), "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30
            )
            return dumped.stdout + dumped.stderr
        return "\n".join(
            f"{task.name} {(task / 'comm').read_text().strip()} "
            f"{(task / 'wchan').read_text().strip()}"
            for task in Path(f"/proc/{pid}/task").iterdir()
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"(could not look at pid {pid}: {exc})"


# -- PostgreSQL worlds ------------------------------------------------------------------------


@dataclass
class PgEnv(Env):
    """An Env on a PostgreSQL database instead of a SQLite file: `bosun` commands and workers
    get `database` as --database; `query`/`count` read it with psycopg (placeholders `%s`,
    rows as dicts, the `bosun` schema on the search path), on `direct` when `database`
    goes through a pooler."""

    database: str = ""
    direct: str = ""

    @property
    def url(self) -> str:
        return self.database

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:  # type: ignore[override]
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(
            self.direct or self.database, autocommit=True, connect_timeout=5, row_factory=dict_row
        ) as conn:
            conn.execute("SET search_path TO bosun")
            return conn.execute(sql.encode(), params).fetchall()

    def count(self, sql: str, *params: Any) -> int:
        return int(next(iter(self.query(sql, *params)[0].values())))


def stop_procs(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGKILL whichever of `procs` still run, and reap them."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)


SUMMARY = re.compile(r"stopped: (?P<counts>.*) in [0-9.]+ s")


def summary(log: str) -> dict[str, int]:
    """The counts of a worker's `stopped: …` log line."""
    found = SUMMARY.search(log)
    assert found, f"no summary line in the worker's log:\n{log}"
    counts = (part.split(" ", 1) for part in found["counts"].split(", "))
    return {name.replace(" ", "_"): int(value) for value, name in counts}


def wait_serving(process: subprocess.Popen[Any], url: str, timeout: float = 60) -> None:
    """Wait until `process` (`bosun dev` or `bosun server`) answers `url` (e.g. its /healthz)
    with 200; fail at once if it exits first."""
    import httpx

    from tests.helpers.wait import wait_for

    def serving() -> bool:
        assert process.poll() is None, f"{process.args!r} exited"
        try:
            return httpx.get(url, timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(serving, timeout, f"{url} to answer")
