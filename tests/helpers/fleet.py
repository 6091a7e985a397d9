"""A fleet of `bosun worker` processes on one database, for the fleet test and benchmark.

Starting hundreds of `bosun worker` commands would spend minutes of CPU importing bosun
hundreds of times, so one launcher process imports it once and forks the workers: each
child runs the real command line (`bosun worker APP ARGS…`, the CLI's own code path), with its
own event loop, pool and connections, and its log in `DIR/w<slot>-<pid>.log`. The launcher
(`python -m tests.helpers.fleet`) starts the children in small batches, starts a killed
child's replacement at once (as Kubernetes would), and on SIGTERM drains them all. It writes
each start and exit to `DIR/events.jsonl`.

`Fleet` drives a launcher from a test or a benchmark: start it, kill random workers, stop it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1

# What `bosun worker` logs when its process had not exited BOSUN_EXIT_TIMEOUT after it stopped.
EXIT_WATCHDOG = "has not exited (BOSUN_EXIT_TIMEOUT)"


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the launcher dies (no orphaned workers)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))


def _child(slot: int, logdir: Path, worker_args: list[str]) -> None:
    """Become `bosun worker ARGS` with the log in logdir; never returns."""
    code = 1
    try:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        _die_with_parent()
        log = logdir / f"w{slot}-{os.getpid()}.log"
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        random.seed()  # each worker its own jitter
        from bosun.cli import main

        sys.argv = ["bosun", "worker", *worker_args]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # the log shows why; the launcher sees the status
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


class _Launcher:
    """The launcher's state: its children by pid, and whether it is stopping."""

    def __init__(self, logdir: Path, worker_args: list[str]) -> None:
        self.logdir = logdir
        self.worker_args = worker_args
        self.events = open(logdir / "events.jsonl", "a", buffering=1)  # noqa: SIM115
        self.children: dict[int, int] = {}  # pid -> slot
        self.stopping = False
        self.failed = 0

    def note(self, event: str, **fields: Any) -> None:
        self.events.write(json.dumps({"t": time.time(), "event": event, **fields}) + "\n")

    def spawn(self, slot: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(slot, self.logdir, self.worker_args)
        self.children[pid] = slot
        self.note("start", slot=slot, pid=pid)

    def stop(self, _sig: int, _frame: object) -> None:
        if not self.stopping:
            self.stopping = True
            self.note("stopping")
            for pid in list(self.children):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def reap(self) -> None:
        """Wait for the children; start a killed one's replacement unless stopping."""
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            slot = self.children.pop(pid, -1)
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            code = os.waitstatus_to_exitcode(status)
            self.note("exit", slot=slot, pid=pid, code=code, killed=killed)
            if killed and not self.stopping:
                self.spawn(slot)
            self.failed += not killed and status != 0


def launch(workers: int, logdir: Path, worker_args: list[str], batch: int, pause: float) -> int:
    """Fork `workers` workers, replace killed ones until SIGTERM, then drain them all.
    Returns 0 when every worker that was not killed exited 0."""
    # Import what the workers need once, before forking: the children share these pages.
    import bosun.cli.worker  # `bosun worker` imports its own command only
    import bosun.store.postgres  # noqa: F401
    from bosun.loader import load_app

    load_app(worker_args[0])
    gc.collect()
    gc.freeze()
    launcher = _Launcher(logdir, worker_args)
    signal.signal(signal.SIGTERM, launcher.stop)
    signal.signal(signal.SIGINT, launcher.stop)
    for slot in range(workers):
        if launcher.stopping:
            break
        launcher.spawn(slot)
        if (slot + 1) % batch == 0:
            time.sleep(pause)
    launcher.note("started", workers=len(launcher.children))
    launcher.reap()
    launcher.note("stopped", failed=launcher.failed)
    return 1 if launcher.failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--batch", type=int, default=10, help="workers started at once")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between batches")
    parser.add_argument("worker_args", nargs=argparse.REMAINDER, help="-- APP [bosun worker …]")
    args = parser.parse_args()
    worker_args = [a for a in args.worker_args if a != "--"]
    sys.exit(launch(args.workers, args.dir, worker_args, args.batch, args.pause))


@dataclass
class Fleet:
    """A launcher of `workers` worker processes of `app` on `database`, logs in `logdir`."""

    app: Path
    database: str
    workers: int
    logdir: Path
    worker_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    batch: int = 10
    pause: float = 0.1
    proc: subprocess.Popen[bytes] | None = None
    kills: list[tuple[float, int]] = field(default_factory=list)  # (time, pid)

    def start(self) -> None:
        self.logdir.mkdir(parents=True, exist_ok=True)
        environ = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
        environ.update(self.env)
        environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(REPO), environ.get("PYTHONPATH")])
        )
        log = open(self.logdir / "launcher.log", "ab")  # noqa: SIM115 (closed below)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.helpers.fleet",
                "--workers",
                str(self.workers),
                "--dir",
                str(self.logdir),
                "--batch",
                str(self.batch),
                "--pause",
                str(self.pause),
                "--",
                str(self.app),
                "--database",
                self.database,
                "--log-format",
                "text",
                *self.worker_args,
            ],
            cwd=self.logdir,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def events(self) -> list[dict[str, Any]]:
        path = self.logdir / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def live(self) -> dict[int, int]:
        """slot -> pid of the workers running now, as the launcher last told."""
        slots: dict[int, int] = {}
        for event in self.events():
            if event["event"] == "start":
                slots[event["slot"]] = event["pid"]
            elif event["event"] == "exit" and slots.get(event["slot"]) == event["pid"]:
                del slots[event["slot"]]
        return slots

    def started(self) -> bool:
        return any(e["event"] == "started" for e in self.events())

    def check_running(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, (
            f"the fleet launcher exited ({self.proc and self.proc.returncode}):\n"
            f"{self.launcher_log()}"
        )
        exited = [e for e in self.events() if e["event"] == "exit" and not e["killed"]]
        assert not exited, f"workers exited by themselves: {exited}\n{self.logs_of(exited)}"

    def kill_random(self, rng: random.Random) -> int:
        """SIGKILL a random live worker (the launcher starts its replacement)."""
        live = self.live()
        slot = rng.choice(sorted(live))
        pid = live[slot]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self.kills.append((time.time(), pid))
        return pid

    def stop(self, timeout: float) -> int:
        """SIGTERM the launcher (every worker drains); its exit status.

        First wait for every worker to have written to its log: `bosun worker` takes SIGTERM
        as a drain once its handlers are in place, before it logs anything; a replacement
        still importing would simply die (holding nothing), which would look like a failure.
        """
        assert self.proc is not None
        give_up = time.monotonic() + timeout / 2
        while time.monotonic() < give_up:
            logs = [self.logdir / f"w{slot}-{pid}.log" for slot, pid in self.live().items()]
            quiet = [log for log in logs if not (log.exists() and log.stat().st_size)]
            if not quiet:
                break
            time.sleep(0.2)
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stuck = self.stuck()
            self.kill()
            raise AssertionError(f"the fleet did not drain within {timeout} s:\n{stuck}") from None
        # A worker that stopped but whose process would not exit is ended by its exit
        # watchdog, which logs every thread's stack: a failure here, with what lingered.
        lingered = [
            f"--- w{slot} ---\n{log[log.index(EXIT_WATCHDOG) - 300 :][:6000]}"
            for slot, log in self.worker_logs().items()
            if EXIT_WATCHDOG in log
        ]
        assert not lingered, "a stopped worker did not exit by itself:\n" + "\n".join(lingered)
        return code

    def stuck(self) -> str:
        """What each worker still running is doing: its log's end, its threads' stacks
        (py-spy, when installed), else the kernel's view of each thread."""
        from tests.helpers.processes import stacks  # not in the launcher process

        parts = []
        for slot, pid in self.live().items():
            log = self.logdir / f"w{slot}-{pid}.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else "(no log)"
            parts.append(f"--- w{slot} pid {pid} ---\n{tail}\n{stacks(pid)}")
        return "\n".join(parts) or "(no worker left running)"

    def kill(self) -> None:
        """SIGKILL the launcher: its workers die with it (PR_SET_PDEATHSIG)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def launcher_log(self) -> str:
        path = self.logdir / "launcher.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def worker_logs(self) -> dict[int, str]:
        """Each slot's logs (its workers', one after the other)."""
        logs: dict[int, str] = {}
        for path in sorted(self.logdir.glob("w*-*.log"), key=lambda p: p.stat().st_mtime):
            slot = int(path.stem[1:].split("-")[0])
            logs[slot] = logs.get(slot, "") + path.read_text(errors="replace")
        return logs

    def logs_of(self, events: list[dict[str, Any]], tail: int = 2000) -> str:
        logs = self.worker_logs()
        return "\n".join(f"--- w{e['slot']} ---\n{logs.get(e['slot'], '')[-tail:]}" for e in events)


if __name__ == "__main__":
    main()


# -- the fleet scenario, shared by tests/e2e/test_fleet.py and bench/fleet.py ------------------

APP = REPO / "tests" / "e2e" / "apps" / "fleet_steps.py"
ROLE = "fleet"  # the workers' role: not a superuser, so the server keeps its reserved slots


@dataclass(frozen=True)
class FleetPlan:
    """One fleet on a throwaway PostgreSQL server of `max_connections`."""

    workers: int = 200
    runs: int = 3000
    steps: int = 2
    step_seconds: float = 0.02
    concurrency: int = 2  # each worker's runs at once
    pool_max: int = 2  # each worker's pool
    pooler: bool = True  # through PgBouncer's transaction pooling (no LISTEN: polling)
    bouncer_pool: int = 20  # PgBouncer's server connections to the database
    max_connections: int = 100
    submit_seconds: float = 15.0  # runs are submitted evenly over this long
    kill_every: float = 1.0  # SIGKILL a random worker this often while runs go (0: never)
    lease_ttl: float = 30.0  # killed workers are found dead by their pid at once
    poll_interval: float = 1.0
    idle_seconds: float = 3.0  # the idle fleet's server CPU is measured over this long
    finish_within: float = 120.0


@dataclass
class FleetReport:
    """What a fleet did: the numbers a benchmark prints, the evidence a test checks."""

    plan: FleetPlan
    completed: int = 0
    started_workers: int = 0
    registered_workers: int = 0  # in the workers table once the fleet had started
    start_s: float = 0.0  # from the launcher's start to every worker started
    busy_s: float = 0.0  # first submission to last completion
    claim_p50_ms: float = 0.0  # created -> first claimed
    claim_p99_ms: float = 0.0
    server_cpu_s: float = 0.0  # PostgreSQL, all processes, first submission -> last completion
    idle_server_cores: float = 0.0  # PostgreSQL CPU while the fleet idles, in cores
    bouncer_cpu_s: float = 0.0
    peak_server_connections: int = 0
    kills: list[tuple[float, int]] = field(default_factory=list)
    refused_workers: int = 0  # workers whose log shows a connection refused for the limit
    limit_messages: list[str] = field(default_factory=list)
    too_many_clients: int = 0  # "too many clients" anywhere in the workers' logs
    exit_code: int | None = None
    starts: dict[tuple[str, int], list[tuple[int, float]]] = field(default_factory=dict)
    inputs: dict[str, int] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    logdir: Path = Path()

    @property
    def server_cpu_ms_per_run(self) -> float:
        return self.server_cpu_s * 1000 / max(self.completed, 1)

    @property
    def server_cpu_ms_per_step(self) -> float:
        return self.server_cpu_s * 1000 / max(self.completed * self.plan.steps, 1)

    def summary(self) -> dict[str, Any]:
        return {
            "workers": self.plan.workers,
            "pooler": "pgbouncer (transaction)" if self.plan.pooler else "none",
            "max_connections": self.plan.max_connections,
            "runs": self.plan.runs,
            "steps_per_run": self.plan.steps,
            "completed": self.completed,
            "kills": len(self.kills),
            "start_s": round(self.start_s, 1),
            "busy_s": round(self.busy_s, 1),
            "runs_per_s": round(self.completed / self.busy_s, 1) if self.busy_s else 0,
            "claim_p50_ms": round(self.claim_p50_ms, 1),
            "claim_p99_ms": round(self.claim_p99_ms, 1),
            "server_cpu_ms_per_run": round(self.server_cpu_ms_per_run, 3),
            "server_cpu_ms_per_step": round(self.server_cpu_ms_per_step, 3),
            "idle_fleet_server_cores": round(self.idle_server_cores, 3),
            "bouncer_cpu_ms_per_run": round(self.bouncer_cpu_s * 1000 / max(self.completed, 1), 3),
            "peak_server_connections": self.peak_server_connections,
            "registered_workers": self.registered_workers,
            "refused_workers": self.refused_workers,
            "exit_code": self.exit_code,
        }


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and all its children, living or reaped."""
    import psutil

    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children():
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
    except psutil.Error:
        return 0.0
    return total


def _percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))]


def run_fleet(plan: FleetPlan, tmp: Path, seed: int = 0) -> FleetReport:
    """Start a throwaway server (and PgBouncer), the fleet, submit `plan.runs` runs while
    killing random workers, wait for every run, stop the fleet; report what happened."""
    from tests.helpers.pg_servers import pgbouncer, scratch_postgres

    with scratch_postgres(plan.max_connections) as server:
        admin = server.url
        _make_role_and_database(admin)
        direct = f"postgresql://{ROLE}@127.0.0.1:{server.port}/{ROLE}"
        options = f"pool_max={plan.pool_max}&memory_search=exact"
        if not plan.pooler:
            return _run(plan, tmp, seed, server, f"{direct}?{options}", None)
        with pgbouncer(
            direct,
            pool_size=plan.bouncer_pool,
            max_client_conn=plan.workers * plan.pool_max + 200,
            max_db_connections=plan.bouncer_pool,
        ) as bouncer:
            url = bouncer.url(direct, listen=False, pool_max=plan.pool_max, memory_search="exact")
            return _run(plan, tmp, seed, server, url, bouncer)


def _make_role_and_database(admin: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {ROLE} LOGIN")
        conn.execute(f"CREATE DATABASE {ROLE} OWNER {ROLE}")


def _admin_db(server: Any) -> str:
    return str(server.url).rsplit("/", 1)[0] + f"/{ROLE}"


class _Admin:
    """The test's own superuser connection, opened before the fleet takes the slots."""

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg.rows import dict_row

        self.conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)

    def query(self, sql: str) -> list[dict[str, Any]]:
        return self.conn.execute(sql.encode()).fetchall()

    def registered(self) -> int:
        now = "extract(epoch FROM now())"
        return int(
            self.query(f"SELECT count(*) AS n FROM bosun.workers WHERE expires_at > {now}")[0]["n"]
        )


def _run(plan: FleetPlan, tmp: Path, seed: int, server: Any, url: str, bouncer: Any) -> FleetReport:
    import asyncio

    from bosun.store.postgres import PostgresStore

    direct = f"postgresql://{ROLE}@127.0.0.1:{server.port}/{ROLE}"
    report = FleetReport(plan, logdir=tmp / "fleet")
    effects = tmp / "effects.txt"

    async def migrate() -> None:  # as the workers' role, which owns the database
        store = PostgresStore(f"{direct}?memory_search=exact")
        await store.open()
        await store.close()

    asyncio.run(migrate())
    admin = _Admin(_admin_db(server))  # a superuser: the server's reserved slots are its own
    fleet = Fleet(
        APP,
        url,
        plan.workers,
        report.logdir,
        worker_args=(
            "--concurrency",
            str(plan.concurrency),
            "--lease-ttl",
            str(plan.lease_ttl),
            "--poll-interval",
            str(plan.poll_interval),
            "--no-schedules",
        ),
        env={
            "BOSUN_E2E_EFFECTS": str(effects),
            "BOSUN_FLEET_STEPS": str(plan.steps),
            "BOSUN_FLEET_STEP_SECONDS": str(plan.step_seconds),
            "BOSUN_LOG_LEVEL": "INFO",
        },
    )
    try:
        asyncio.run(_drive(plan, report, fleet, admin, server, bouncer, seed))
    finally:
        fleet.kill()
        report.kills = fleet.kills
        _read_logs(report, fleet)
        report.runs = admin.query("SELECT * FROM bosun.runs")
        report.starts = _starts(effects)
        admin.conn.close()
    return report


async def _wait(check: Any, timeout: float, what: str, fleet: Fleet) -> None:
    import asyncio

    give_up = time.monotonic() + timeout
    while not check():
        fleet.check_running()
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for {what}\n{fleet.launcher_log()}")
        await asyncio.sleep(0.2)


async def _drive(
    plan: FleetPlan,
    report: FleetReport,
    fleet: Fleet,
    admin: _Admin,
    server: Any,
    bouncer: Any,
    seed: int,
) -> None:
    """Start the fleet; measure it idle; submit the runs evenly over `submit_seconds` while
    killing workers; wait for them all; stop the fleet."""
    import asyncio

    from bosun.loader import load_app

    rng = random.Random(seed)
    app = load_app(str(APP))
    # The submitter connects as the superuser too, before the fleet takes the other slots.
    app.use_database(f"{_admin_db(server)}?pool_max=4&memory_search=exact")
    postmaster = server.postmaster_pid()
    bouncer_pid = bouncer.proc.pid if bouncer is not None else None
    async with app:
        began = time.monotonic()
        fleet.start()
        await _wait(fleet.started, 300, "the fleet to start", fleet)
        report.start_s = time.monotonic() - began
        report.started_workers = len(fleet.live())
        if plan.pooler:  # without a pooler some never get in
            await _wait(lambda: admin.registered() >= plan.workers, 120, "the workers", fleet)
        await asyncio.sleep(1.0 if plan.pooler else 5.0)
        report.registered_workers = admin.registered()
        idle_from = _tree_cpu(postmaster)
        await asyncio.sleep(plan.idle_seconds)
        report.idle_server_cores = (_tree_cpu(postmaster) - idle_from) / plan.idle_seconds

        cpu_from = _tree_cpu(postmaster)
        bouncer_from = _tree_cpu(bouncer_pid) if bouncer_pid else 0.0
        submitted_at = time.time()
        batches = max(1, int(plan.submit_seconds * 10))
        per_batch = -(-plan.runs // batches)
        next_kill = time.monotonic() + plan.kill_every
        for start in range(0, plan.runs, per_batch):
            ns = range(start, min(start + per_batch, plan.runs))
            handles = await asyncio.gather(*(app.start("fleet_run", n=n) for n in ns))
            report.inputs.update({h.run_id: n for h, n in zip(handles, ns, strict=True)})
            if plan.kill_every and time.monotonic() >= next_kill:
                fleet.kill_random(rng)
                next_kill += plan.kill_every
            await asyncio.sleep(plan.submit_seconds / batches)
        give_up = time.monotonic() + plan.finish_within
        while True:
            row = admin.query(
                "SELECT count(*) FILTER (WHERE status = 'completed') AS done, "
                "count(*) FILTER (WHERE status IN ('failed', 'cancelled', 'blocked')) AS bad, "
                "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') "
                "AS conns FROM bosun.runs"
            )[0]
            report.completed = int(row["done"])
            report.peak_server_connections = max(report.peak_server_connections, row["conns"])
            assert not row["bad"], f"runs ended badly: {row}"
            if report.completed >= plan.runs:
                break
            fleet.check_running()
            assert time.monotonic() < give_up, (
                f"after {plan.finish_within} s only {report.completed}/{plan.runs} runs completed"
            )
            await asyncio.sleep(0.2)
        report.server_cpu_s = _tree_cpu(postmaster) - cpu_from
        report.bouncer_cpu_s = (_tree_cpu(bouncer_pid) - bouncer_from) if bouncer_pid else 0.0
        last = admin.query("SELECT max(finished_at) AS last FROM bosun.runs")[0]["last"]
        report.busy_s = float(last) - submitted_at
        latencies = [
            float(r["d"])
            for r in admin.query("SELECT started_at - created_at AS d FROM bosun.runs")
        ]
        report.claim_p50_ms = _percentile(latencies, 0.5) * 1000
        report.claim_p99_ms = _percentile(latencies, 0.99) * 1000
        # Draining waits on the refused workers too, retrying their way in; on a loaded CI
        # machine that took over 120 s once.
        report.exit_code = await asyncio.to_thread(fleet.stop, 200)


REFUSED = "refused a new connection"


def _read_logs(report: FleetReport, fleet: Fleet) -> None:
    for _slot, text in fleet.worker_logs().items():
        if REFUSED in text:
            report.refused_workers += 1
            line = next(line for line in text.splitlines() if REFUSED in line)
            if len(report.limit_messages) < 3:
                report.limit_messages.append(line)
        report.too_many_clients += text.count("too many clients")


def _starts(effects: Path) -> dict[tuple[str, int], list[tuple[int, float]]]:
    found: dict[tuple[str, int], list[tuple[int, float]]] = {}
    if effects.exists():
        for line in effects.read_text().splitlines():
            run_id, step, pid, at = line.split(":")
            found.setdefault((run_id, int(step)), []).append((int(pid), float(at)))
    for starts in found.values():
        starts.sort(key=lambda s: s[1])
    return found


def check_exactly_once(report: FleetReport) -> int:
    """Every run completed once with its own result; every step of it ran, again only after
    the worker running it was killed. Returns the repeated step starts."""
    plan = report.plan
    runs = {r["id"]: r for r in report.runs}
    assert set(runs) == set(report.inputs), "runs appeared or vanished"
    for run_id, n in report.inputs.items():
        run = runs[run_id]
        assert run["status"] == "completed", run
        assert json.loads(run["result"]) == [n * 10 + s for s in range(1, plan.steps + 1)], run
        assert run["lease_owner"] is None, run
    killed_at = {pid: at for at, pid in report.kills}
    repeated = 0
    for run_id in report.inputs:
        for step in range(1, plan.steps + 1):
            starts = report.starts.get((run_id, step), [])
            assert starts, f"run {run_id} step {step} never started"
            for pid, at in starts[:-1]:
                assert pid in killed_at and at <= killed_at[pid], (
                    f"run {run_id} step {step} ran again although pid {pid} was not killed "
                    f"while it ran: {starts}"
                )
            repeated += len(starts) - 1
    return repeated
