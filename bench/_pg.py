"""Helpers shared by the PostgreSQL benchmark scripts: server URLs, throw-away databases,
rates from completion timestamps, and waiting on subprocesses.

Every measurement gets its own database on the one server (``CREATE DATABASE
bench_<name>_<random>``), dropped afterwards, so no system sees another's tables, bloat or
backlog. ``pg.py`` creates and drops them; the sub-scripts only receive ``--url``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from _common import BENCH_DIR

DEFAULT_SERVER = "postgresql://root@127.0.0.1:5432/test"  # trust auth; `test` is only the
# maintenance database we connect to for CREATE/DROP DATABASE
REPO = BENCH_DIR.parent


def server_url() -> str:
    return os.environ.get("BENCH_PG_URL", DEFAULT_SERVER)


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def libpq_url(url: str) -> str:
    """``url`` without bosun's own query options (``pool_max``), for plain psycopg."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k != "pool_max"]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def create_database(server: str, stem: str) -> str:
    """Create ``bench_<stem>_<random>`` on the server; return its URL."""
    import psycopg

    name = f"bench_{stem}_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(server, name)


def drop_database(server: str, url: str) -> None:
    """Drop the database named in ``url``, disconnecting anything still attached."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    if not name.startswith("bench_"):
        raise ValueError(f"refusing to drop {name!r}: not a benchmark database")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def middle_rate(
    stamps: Sequence[float], trim: float = 0.1, not_before: float = float("-inf")
) -> tuple[float, int, float]:
    """Rate of events over the middle of a backlog drain, from their timestamps (seconds).

    Events before ``not_before`` (e.g. before every worker was up) are dropped, then the first
    and last ``trim`` fraction of the rest (start-up, and the tail when the backlog runs dry).
    Returns (events per second, events counted, seconds spanned).
    """
    ordered = sorted(s for s in stamps if s >= not_before)
    if len(ordered) < 10:
        return float("nan"), 0, 0.0
    lo = int(len(ordered) * trim)
    hi = len(ordered) - 1 - int(len(ordered) * trim)
    span = ordered[hi] - ordered[lo]
    counted = hi - lo
    return (counted / span if span > 0 else float("nan")), counted, span


BACKENDS_SQL = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"


def process_cpu(pids: Sequence[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of ``pids`` that still exists."""
    import psutil

    out = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        out[pid] = times.user + times.system
    return out


def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to ``url``'s database
    (the server must run on this machine). Only these are charged to a system: other
    databases on a shared server are other people's."""
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        pids = [int(r[0]) for r in conn.execute(BACKENDS_SQL).fetchall()]
    return process_cpu(pids)


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two ``process_cpu`` readings (new pids count from zero)."""
    return sum(max(used - before.get(pid, 0.0), 0.0) for pid, used in after.items())


def subprocess_env() -> dict[str, str]:
    """The environment for child processes: bosun importable from src/, quiet logs."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO / "src"), str(BENCH_DIR), env.get("PYTHONPATH")])
    )
    return env


def wait_for_text(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until ``text`` appears in the file ``path`` (a child's log), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"child exited ({proc.returncode}): {tail_file(path)}")
        time.sleep(0.02)
    raise TimeoutError(f"no {text!r} from child after {timeout} s: {tail_file(path)}")


def tail_file(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").rstrip().splitlines()[-lines:])
    except OSError:
        return ""


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM a child we started, then SIGKILL it if it has not gone after ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def python() -> str:
    return sys.executable


class CpuMonitor:
    """Samples, every ``interval`` s in a thread, the CPU used by processes outside this
    process tree: PostgreSQL's processes and everything else ("foreign": on a shared box,
    other people's test suites). CPU of processes that start and end between two samples is
    missed, so foreign use is a lower bound (a process first seen counts from its start).
    ``window()`` returns averages in cores since the last ``mark()``.
    """

    def __init__(self, interval: float = 0.5) -> None:
        import threading

        import psutil

        self._psutil = psutil
        self.interval = interval
        self._last: dict[int, tuple[str, float]] = {}
        self._t_last = 0.0  # time.time() of the previous sample; 0: none yet
        self._totals = {"postgres": 0.0, "foreign": 0.0}
        self._mark = (time.monotonic(), dict(self._totals))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="cpu-monitor")
        self._sample()
        self._thread.start()

    def _ours(self) -> set[int]:
        me = self._psutil.Process()
        try:
            return {me.pid, *(p.pid for p in me.children(recursive=True))}
        except self._psutil.Error:
            return {me.pid}

    def _sample(self) -> None:
        ours = self._ours()
        seen: dict[int, tuple[str, float]] = {}
        deltas = {"postgres": 0.0, "foreign": 0.0}
        now = time.time()
        for proc in self._psutil.process_iter(["pid", "name", "cpu_times", "create_time"]):
            info = proc.info
            times = info["cpu_times"]
            if times is None or info["pid"] in ours:
                continue
            kind = "postgres" if info["name"] == "postgres" else "foreign"
            used = times.user + times.system
            seen[info["pid"]] = (kind, used)
            before = self._last.get(info["pid"])
            if before is not None:
                deltas[kind] += used - before[1]
            elif self._t_last and (info["create_time"] or 0) >= self._t_last:
                deltas[kind] += used  # started since the previous sample
        with self._lock:
            self._last = seen
            self._t_last = now
            for kind, delta in deltas.items():
                self._totals[kind] += max(delta, 0.0)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._sample()
            except Exception:
                continue

    def mark(self) -> None:
        with self._lock:
            self._mark = (time.monotonic(), dict(self._totals))

    def window(self) -> dict[str, float]:
        """Average cores used by PostgreSQL and by foreign processes since ``mark()``."""
        with self._lock:
            t0, before = self._mark
            wall = max(time.monotonic() - t0, 1e-9)
            return {k: (v - before[k]) / wall for k, v in self._totals.items()}

    def wait_quiet(self, below: float, settle: float, max_wait: float) -> float:
        """Wait until foreign processes used < ``below`` cores over ``settle`` s (at most
        ``max_wait`` s in all); return the foreign load of the last such period."""
        deadline = time.monotonic() + max_wait
        while True:
            self.mark()
            time.sleep(settle)
            load = self.window()["foreign"]
            if load < below or time.monotonic() >= deadline:
                return load

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
