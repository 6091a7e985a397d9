"""System under test: bosun on PostgreSQL. One measurement per invocation (``--mode``).

The workflows live in ``pg_bosun_app.py``. Worker processes are real ``bosun worker`` CLI
processes (``python -m bosun worker bench/pg_bosun_app.py --database URL``); this process is
the submitter and the stopwatch. Modes:

- ``flight``: in-process worker (``app.worker(concurrency=64)``) and submitter in one event
  loop, as the other workflow systems run: sequential 3-step runs (start -> result p50/p99),
  then 64 lanes each starting a run and awaiting its result (runs/s, steps/s).
- ``one``: a backlog of ``--runs`` one-step runs is submitted from this process first (not
  timed, no worker running), then ONE worker process (``--concurrency``) drains it. runs/s is
  the completion rate (``runs.finished_at``) over the middle 80 % of the drain.
- ``steps``: a backlog of ``--runs`` runs of ``--steps`` sequential steps each, drained by
  ``--workers`` (2) worker processes; durable steps/s is the rate of journaled step completions
  (``journal.finished_at``) over the middle 80 %.
- ``latency``: one worker process; this process starts one ``stamp`` run every 1/``--rate`` s.
  The run's only step returns ``time.time()`` when it starts inside the worker; latency = that
  minus the wall-clock time just before ``app.start`` (so the submit commit and the NOTIFY
  wake-up are included). Also reported: submit -> result seen here (``e2e_*``).
- ``recovery``: worker A (``BENCH_HOLD=1``, ``--lease-ttl``) holds ``--runs`` runs mid-step;
  worker B is started and idle; A is SIGKILLed. Recovery time of a run = the time its step
  starts again on B minus the kill time (max and p50 over the runs).

``--py-spy DIR`` attaches ``py-spy record`` (non-blocking, collapsed stacks) to the worker
processes (``flight``: to this process) for the measured phase; ``bench/pyspy_top.py`` summarises.

For the drain modes, worker-process and whole-machine CPU use over the same middle 80 % are
reported too (``worker_cpu_util`` and ``postgres_cpu_util`` in cores busy,
``machine_cpu_util`` as a fraction of all cores): on a small box PostgreSQL and the workers
share the CPUs. ``client_cpu_ms`` / ``server_cpu_ms``: CPU ms per run (``steps``: per step) of
the bosun processes and of the PostgreSQL backends connected to the measurement's database
(``flight``: over the concurrent phase). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, DATA_DIR, Window, WorkflowMetrics, emit, latency_ms, percentile
from _pg import (
    BACKENDS_SQL,
    backend_cpu,
    cpu_delta,
    libpq_url,
    middle_rate,
    process_cpu,
    python,
    stop,
    subprocess_env,
    tail_file,
    wait_for_text,
)

APP_FILE = BENCH_DIR / "pg_bosun_app.py"


def load_app(url: str) -> Any:
    import pg_bosun_app

    pg_bosun_app.app.use_database(url)
    return pg_bosun_app


def bosun_version() -> str:
    try:
        return importlib.metadata.version("bosun")
    except importlib.metadata.PackageNotFoundError:
        return "source"


# ---- worker processes -----------------------------------------------------------------------


@dataclass
class WorkerProcs:
    """``bosun worker`` processes started by this script, their logs in a temp directory."""

    url: str
    logdir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    all_serving: float = 0.0  # time.time() when the last start() saw every worker serving

    def start(
        self, concurrency: int, lease_ttl: float | None = None, hold: bool = False, count: int = 1
    ) -> list[int]:
        """Launch ``count`` workers at once, wait until all serve; return their indexes."""
        # BENCH_BOSUN_WORKER: a script run instead of `-m bosun` (for diagnostics)
        launcher = os.environ.get("BENCH_BOSUN_WORKER")
        cmd = [python(), *([launcher] if launcher else ["-m", "bosun"])]
        cmd += ["worker", str(APP_FILE), "--database", self.url]
        cmd += ["--concurrency", str(concurrency)]
        if lease_ttl is not None:
            cmd += ["--lease-ttl", str(lease_ttl)]
        env = subprocess_env()
        env["BOSUN_LOG_LEVEL"] = "INFO"
        env["BENCH_HOLD"] = "1" if hold else "0"
        started = []
        for _ in range(count):
            log = self.logdir / f"worker-{len(self.procs)}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            started.append(len(self.procs))
            self.procs.append(proc)
            self.logs.append(log)
        for i in started:
            wait_for_text(self.logs[i], " serving ", self.procs[i], timeout=30)
        for i in started:
            PROFILERS.attach(self.procs[i].pid, f"worker-{i}")
        self.all_serving = time.time()
        return started

    def cpu_seconds(self) -> float:
        import psutil

        total = 0.0
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(proc.pid).cpu_times()
                total += times.user + times.system
        return total

    def check_alive(self) -> None:
        for proc, log in zip(self.procs, self.logs, strict=True):
            if proc.poll() is not None and proc.returncode != -signal.SIGKILL:
                raise RuntimeError(f"worker exited ({proc.returncode}): {tail_file(log)}")

    def stop_all(self) -> None:
        for proc in self.procs:
            stop(proc)


class Profilers:
    """``py-spy record`` attached to processes (``--py-spy DIR``): collapsed stacks per pid."""

    def __init__(self, outdir: Path | None) -> None:
        self.outdir = outdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def attach(self, pid: int, name: str) -> None:
        if self.outdir is None:
            return
        self.outdir.mkdir(parents=True, exist_ok=True)
        out = self.outdir / f"{name}.txt"
        cmd = [str(Path(python()).parent / "py-spy"), "record", "--pid", str(pid), "--rate", "250"]
        cmd += ["--nonblocking", "--format", "raw", "--output", str(out)]
        self.procs.append(
            subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )

    def finish(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


PROFILERS = Profilers(None)


@contextlib.contextmanager
def worker_procs(url: str) -> Iterator[WorkerProcs]:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pg-bosun-", dir=DATA_DIR) as tmp:
        workers = WorkerProcs(url, Path(tmp))
        try:
            yield workers
        finally:
            workers.stop_all()


# ---- database reads (the stopwatch side) ----------------------------------------------------


async def scalar(url: str, sql: str, *params: Any) -> Any:
    import psycopg

    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
        row = await (await conn.execute(sql, params)).fetchone()
        return None if row is None else row[0]


async def column(url: str, sql: str) -> list[float]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
        return [float(r[0]) for r in await (await conn.execute(sql)).fetchall()]


@dataclass
class Sample:
    t: float  # time.time()
    done: int
    worker_cpu: float
    backends: dict[int, float]  # CPU seconds of each backend connected to this database
    machine_busy: float
    machine_total: float


async def watch(
    url: str, count_sql: str, target: int, workers: WorkerProcs, timeout: float
) -> list[Sample]:
    """Poll ``count_sql`` every 100 ms until it reaches ``target``; sample CPU use meanwhile."""
    import psutil
    import psycopg

    samples: list[Sample] = []
    deadline = time.monotonic() + timeout
    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as conn:
        while True:
            row = await (await conn.execute(count_sql)).fetchone()
            done = int(row[0]) if row else 0
            pids = [int(r[0]) for r in await (await conn.execute(BACKENDS_SQL)).fetchall()]
            backends = process_cpu(pids)
            cpu = psutil.cpu_times()
            busy = sum(cpu) - cpu.idle - getattr(cpu, "iowait", 0.0)
            samples.append(
                Sample(time.time(), done, workers.cpu_seconds(), backends, busy, sum(cpu))
            )
            if done >= target:
                return samples
            workers.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {done} of {target} done after {timeout} s")
            await asyncio.sleep(0.1)


def cpu_between(
    samples: Sequence[Sample], stamps: Sequence[float], t_lo: float, t_hi: float
) -> dict[str, float]:
    """CPU use between the first and last samples inside [t_lo, t_hi]: worker and backend
    cores busy, machine CPU fraction, and worker / backend CPU ms per event (``stamps``)."""
    inside = [s for s in samples if t_lo <= s.t <= t_hi]
    if len(inside) < 2:
        return {}
    a, b = inside[0], inside[-1]
    wall = b.t - a.t
    events = max(sum(a.t <= t <= b.t for t in stamps), 1)
    worker, server = b.worker_cpu - a.worker_cpu, cpu_delta(a.backends, b.backends)
    return {
        "worker_cpu_util": worker / wall,
        "postgres_cpu_util": server / wall,
        "machine_cpu_util": (b.machine_busy - a.machine_busy) / (b.machine_total - a.machine_total),
        "client_cpu_ms": worker / events * 1e3,
        "server_cpu_ms": server / events * 1e3,
    }


async def submit_backlog(mod: Any, workflow: Any, args_list: list[tuple[Any, ...]]) -> float:
    """Start runs from 32 tasks (no worker in this process); return runs/s submitted."""
    app = mod.app
    queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    for item in args_list:
        queue.put_nowait(item)

    async def submitter() -> None:
        while not queue.empty():
            await app.start(workflow, *queue.get_nowait())

    t0 = time.perf_counter()
    await asyncio.gather(*(submitter() for _ in range(32)))
    return len(args_list) / (time.perf_counter() - t0)


async def drain(
    args: argparse.Namespace, workflow_name: str, runs_args: list[tuple[Any, ...]]
) -> tuple[dict[str, Any], WorkerProcs]:
    """Submit the backlog, start ``--workers`` processes, wait until every run completed."""
    mod = load_app(args.url)
    async with mod.app:
        submit_rate = await submit_backlog(mod, getattr(mod, workflow_name), runs_args)
    with worker_procs(args.url) as workers:
        workers.start(args.concurrency, count=args.workers)
        count_sql = "SELECT count(*) FROM bosun.runs WHERE status = 'completed'"
        samples = await watch(args.url, count_sql, len(runs_args), workers, args.timeout)
        PROFILERS.finish()
    info = {"submit_per_s": submit_rate, "workers": args.workers, "concurrency": args.concurrency}
    return {"samples": samples, "serving": workers.all_serving, **info}, workers


def trimmed_window(
    stamps: Sequence[float], not_before: float, trim: float = 0.1
) -> tuple[float, float]:
    """The times spanned by the events ``middle_rate`` counts."""
    ordered = sorted(s for s in stamps if s >= not_before)
    return ordered[int(len(ordered) * trim)], ordered[len(ordered) - 1 - int(len(ordered) * trim)]


# ---- modes ----------------------------------------------------------------------------------


async def mode_flight(args: argparse.Namespace) -> dict[str, Any]:
    from bosun_core import concurrent, run_once

    mod = load_app(args.url)
    app, three = mod.app, mod.three
    PROFILERS.attach(os.getpid(), "flight")
    async with app, app.worker(concurrency=args.concurrency):
        for i in range(args.warmup_runs):
            await run_once(app, three, i)
        seq = [await run_once(app, three, i) for i in range(args.seq_runs)]
        server0 = await asyncio.to_thread(backend_cpu, args.url)
        cpu0, window = time.process_time(), Window.begin(args.ramp, args.seconds)
        finishes = await concurrent(app, three, args.concurrency, window)
        wall = time.perf_counter() - window.start
        cpu = time.process_time() - cpu0
        server = cpu_delta(server0, await asyncio.to_thread(backend_cpu, args.url))
    PROFILERS.finish()
    metrics = WorkflowMetrics(seq, finishes, window, cpu, wall)
    return {
        "concurrency": args.concurrency,
        "in_process": True,
        **metrics.as_dict(3),
        "client_cpu_ms": cpu / len(finishes) * 1e3,
        "server_cpu_ms": server / len(finishes) * 1e3,
    }


async def mode_one(args: argparse.Namespace) -> dict[str, Any]:
    result, _ = await drain(args, "one", [(i,) for i in range(args.runs)])
    stamps = await column(args.url, "SELECT finished_at FROM bosun.runs WHERE status = 'completed'")
    samples, serving = result.pop("samples"), result.pop("serving")
    rate, counted, span = middle_rate(stamps, not_before=serving)
    return {
        **result,
        "runs": len(stamps),
        "runs_counted": counted,
        "seconds": span,
        "runs_per_s": rate,
        **cpu_between(samples, stamps, *trimmed_window(stamps, serving)),
    }


async def mode_steps(args: argparse.Namespace) -> dict[str, Any]:
    result, _ = await drain(args, "chain", [(i, args.steps) for i in range(args.runs)])
    stamps = await column(
        args.url,
        "SELECT finished_at FROM bosun.journal WHERE kind = 'step' AND status = 'completed'",
    )
    samples, serving = result.pop("samples"), result.pop("serving")
    rate, counted, span = middle_rate(stamps, not_before=serving)
    return {
        **result,
        "steps_per_run": args.steps,
        "steps": len(stamps),
        "steps_counted": counted,
        "seconds": span,
        "steps_per_s": rate,
        **cpu_between(samples, stamps, *trimmed_window(stamps, serving)),
    }


async def mode_latency(args: argparse.Namespace) -> dict[str, Any]:
    mod = load_app(args.url)
    app = mod.app
    warm = max(1, int(args.rate * args.warmup))
    measured = max(1, int(args.rate * args.seconds))
    with worker_procs(args.url) as workers:
        workers.start(args.concurrency)
        async with app:
            loop = asyncio.get_running_loop()
            interval = 1 / args.rate
            submitted: list[tuple[float, Any]] = []
            waits: list[asyncio.Task[float]] = []

            async def seen(handle: Any) -> float:
                await handle.result(timeout=args.timeout)
                return time.time()

            t0 = loop.time()
            for i in range(warm + measured):
                delay = t0 + i * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                t_submit = time.time()
                handle = await app.start(mod.stamp)
                if i >= warm:
                    submitted.append((t_submit, handle))
                    waits.append(asyncio.create_task(seen(handle)))
            done_at = await asyncio.gather(*waits)
            PROFILERS.finish()
            started = [await h.result(timeout=args.timeout) for _, h in submitted]
        workers.check_alive()
    to_start = [s - t for s, (t, _) in zip(started, submitted, strict=True)]
    e2e = [d - t for d, (t, _) in zip(done_at, submitted, strict=True)]
    e2e_ms = latency_ms(e2e)
    return {
        "rate": args.rate,
        "samples": len(to_start),
        "concurrency": args.concurrency,
        **latency_ms(to_start),
        "e2e_p50_ms": e2e_ms["p50_ms"],
        "e2e_p99_ms": e2e_ms["p99_ms"],
    }


async def mode_recovery(args: argparse.Namespace) -> dict[str, Any]:
    mod = load_app(args.url)
    app = mod.app
    with worker_procs(args.url) as workers:
        [a] = workers.start(args.concurrency, lease_ttl=args.lease_ttl, hold=True)
        pid_a = workers.procs[a].pid
        async with app:
            handles = [await app.start(mod.hold) for _ in range(args.runs)]
            held_sql = (
                "SELECT count(*) FROM bosun.runs WHERE status = 'running' AND lease_owner LIKE %s"
            )
            deadline = time.monotonic() + 30
            while await scalar(args.url, held_sql, f"%:{pid_a}:%") < args.runs:
                if time.monotonic() > deadline:
                    raise TimeoutError("worker A did not take every run")
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # every held() step is now blocked inside worker A
            workers.start(args.concurrency, lease_ttl=args.lease_ttl)  # B: idle, polling
            await asyncio.sleep(0.5)
            t_kill = time.time()
            os.kill(pid_a, signal.SIGKILL)
            workers.procs[a].wait()
            resumed = [await h.result(timeout=args.lease_ttl * 5 + 30) for h in handles]
        workers.check_alive()
    delays = [r - t_kill for r in resumed]
    return {
        "lease_ttl": args.lease_ttl,
        "runs": len(delays),
        "recovery_max_s": max(delays),
        "recovery_p50_s": percentile(delays, 50),
        "recovery_min_s": min(delays),
    }


MODES = {
    "flight": mode_flight,
    "one": mode_one,
    "steps": mode_steps,
    "latency": mode_latency,
    "recovery": mode_recovery,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="postgresql:// URL of a fresh database")
    parser.add_argument("--mode", choices=sorted(MODES), required=True)
    parser.add_argument("--concurrency", type=int, default=64, help="per worker")
    parser.add_argument("--runs", type=int, default=0, help="backlog / held runs (0: default)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0: default)")
    parser.add_argument("--steps", type=int, default=10, help="steps: steps per run")
    parser.add_argument("--seq-runs", type=int, default=200, help="flight: sequential runs")
    parser.add_argument("--warmup-runs", type=int, default=50, help="flight: warm-up runs")
    parser.add_argument("--warmup", type=float, default=1.0, help="latency: warm-up seconds")
    parser.add_argument("--ramp", type=float, default=1.0, help="flight: ramp-up, not counted")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window")
    parser.add_argument("--rate", type=float, default=50.0, help="latency: runs/s submitted")
    parser.add_argument("--lease-ttl", type=float, default=2.0, help="recovery: worker lease")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--py-spy", type=Path, help="profile the workers (flight: this process) into DIR"
    )
    args = parser.parse_args()
    PROFILERS.outdir = args.py_spy
    defaults = {"one": (10_000, 1), "steps": (2_000, 2), "recovery": (16, 1)}
    runs, workers = defaults.get(args.mode, (0, 1))
    args.runs = args.runs or runs
    args.workers = args.workers or workers
    result = asyncio.run(MODES[args.mode](args))
    emit({"system": "bosun", "version": bosun_version(), "mode": args.mode, **result})


if __name__ == "__main__":
    main()
