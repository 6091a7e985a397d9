"""bosun HTTP API benchmark: submits over HTTP, and 500 Server-Sent Event streams on one run.

Starts ``bosun server bench/apps/http_app.py`` as a subprocess (auth on with a real API key,
``--rate-limit 0``, ``--max-streams 1000``, an in-process worker) on a fresh database: a SQLite
file in a new folder under ``bench/.data``, or with ``--database postgresql://HOST/DB`` a
throwaway database created on that server (``CREATE DATABASE bench_http_<random>``, dropped
afterwards). Then it measures:

(a) submits: 32 clients (one ``httpx.AsyncClient``, keep-alive) POST ``/v1/runs`` for a
    one-step no-op workflow, back to back, for ``--seconds`` after a warm-up: submits/s and
    latency p50/p99. The same database then takes ``app.start`` from 32 tasks in this process,
    the anchor that shows what HTTP adds. The no-op waits in a queue no worker serves, so both
    sides measure submission alone;
(b) streams: ``--subscribers`` clients open ``GET /v1/runs/{id}/events`` on one run that waits
    for a signal; once every stream is open the run emits ``--events`` events ``--gap`` seconds
    apart, each stamped with its emit time. Delivery latency is receive time minus emit time,
    over every event of every subscriber; each subscriber must get every event exactly once,
    in order. The server's RSS is sampled before, with the streams open, and while they flow.

    .venv/bin/python bench/http_api.py [--quick] [--database URL] [--seconds S] [--out F] [--keep]

Exit status 1 when a stream missed, repeated or reordered an event, or a phase failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# This script is named like the standard library's `http` package, which httpx and uvicorn
# import: keep its folder off the front of sys.path, and reach the bench helpers from the end.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.append(str(BENCH_DIR))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import psutil  # noqa: E402
from _common import DATA_DIR, Window, latency_ms, percentile  # noqa: E402
from _report import markdown_table  # noqa: E402
from core import cpu_model, filesystem  # noqa: E402

REPO = BENCH_DIR.parent
APP_FILE = BENCH_DIR / "apps" / "http_app.py"
CLIENTS = 32
WORKER_SLOTS = 4
MAX_STREAMS = 1000


@dataclass(frozen=True)
class Plan:
    seconds: float  # measured window of each submit phase
    ramp: float  # warm-up before it, not counted
    subscribers: int
    events: int
    gap: float  # seconds between two emitted events


FULL = Plan(seconds=10.0, ramp=1.0, subscribers=500, events=20, gap=0.05)
QUICK = Plan(seconds=1.5, ramp=0.5, subscribers=100, events=10, gap=0.05)


# -- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env() -> dict[str, str]:
    """bosun importable from src/; bench/ deliberately not on the path (see above)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    env["BOSUN_LOG_LEVEL"] = "WARNING"
    return env


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.proc.pid)

    def rss_mib(self) -> float:
        return float(self.process.memory_info().rss) / 2**20

    def cpu_s(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


def start_server(database: str, work: Path) -> Server:
    port = free_port()
    log = work / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "bosun",
        "server",
        str(APP_FILE),
        "--database",
        database,
        "--port",
        str(port),
        "--worker-slots",
        str(WORKER_SLOTS),
        "--rate-limit",
        "0",
        "--max-streams",
        str(MAX_STREAMS),
    ]
    return launch(cmd, port, log)


def launch(cmd: list[str], port: int, log: Path) -> Server:
    """Start `bosun server` as `cmd` (listening on `port`), logging to `log`; return it once
    /readyz answers."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env())
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    give_up = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"bosun server exited ({proc.returncode}):\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > give_up:
            stop_server(server)
            raise RuntimeError(f"no /readyz from bosun server after 30 s:\n{server.log_tail()}")
        time.sleep(0.05)


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(40)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


# -- (a) submits ----------------------------------------------------------------------------


@dataclass
class Lanes:
    """What concurrent submit lanes record: per-submit latency and finish time."""

    window: Window
    latencies: list[float] = field(default_factory=list)
    finishes: list[float] = field(default_factory=list)
    failures: int = 0

    def record(self, started: float) -> None:
        now = time.perf_counter()
        if now >= self.window.start + self.window.ramp_s:
            self.latencies.append(now - started)
        self.finishes.append(now)

    def result(self, cpu: dict[str, float]) -> dict[str, Any]:
        counted = self.window.counted(self.finishes)
        return {
            "submits_per_s": counted / self.window.window_s,
            "submits": counted,
            "failures": self.failures,
            **latency_ms(self.latencies),
            **{f"{who}_cpu_ms_per_submit": s / max(counted, 1) * 1e3 for who, s in cpu.items()},
        }


async def http_submits(server: Server, key: str, plan: Plan) -> dict[str, Any]:
    # One client (one keep-alive connection) per lane: a single AsyncClient with a pool of 32
    # connections spends 3-4x the CPU per request in its pool, which would be measured instead.
    headers = {"Authorization": f"Bearer {key}"}
    body = {"workflow": "noop"}
    clients = [
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) for _ in range(CLIENTS)
    ]
    try:
        for client in clients:  # open the connections before the clock starts
            (await client.post("/v1/runs", json=body)).raise_for_status()
        lanes = Lanes(Window.begin(plan.ramp, plan.seconds))

        async def lane(client: httpx.AsyncClient) -> None:
            while lanes.window.open():
                started = time.perf_counter()
                response = await client.post("/v1/runs", json=body)
                if response.status_code != 201:
                    lanes.failures += 1
                    continue
                lanes.record(started)

        cpu_before = server.cpu_s(), time.process_time()
        await asyncio.gather(*(lane(c) for c in clients))
        server_cpu, client_cpu = server.cpu_s() - cpu_before[0], time.process_time() - cpu_before[1]
    finally:
        for client in clients:
            await client.aclose()
    return lanes.result({"server": server_cpu, "client": client_cpu})


async def inprocess_submits(database: str, plan: Plan) -> dict[str, Any]:
    from bosun.loader import load_app

    app = load_app(str(APP_FILE))
    app.use_database(database)
    async with app:
        for _ in range(CLIENTS):
            await app.start("noop")
        lanes = Lanes(Window.begin(plan.ramp, plan.seconds))

        async def lane() -> None:
            while lanes.window.open():
                started = time.perf_counter()
                await app.start("noop")
                lanes.record(started)

        cpu_before = time.process_time()
        await asyncio.gather(*(lane() for _ in range(CLIENTS)))
        cpu = time.process_time() - cpu_before
    return lanes.result({"process": cpu})


# -- (b) event streams ------------------------------------------------------------------------


@dataclass
class Subscriber:
    ids: list[int] = field(default_factory=list)
    ticks: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    opened: bool = False
    error: str = ""

    def take(self, message: bytes, received: float) -> None:
        for line in message.split(b"\n"):
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                self.ids.append(event["id"])
                if event["type"] == "tick":
                    self.ticks.append(event["data"]["i"])
                    self.delays.append(received - event["data"]["t"])

    def complete(self, events: int) -> bool:
        consecutive = self.ids == list(range(1, len(self.ids) + 1))
        return not self.error and consecutive and self.ticks == list(range(events))


async def subscribe(
    server: Server, path: str, key: str, sub: Subscriber, opened: asyncio.Queue[None]
) -> None:
    """One SSE stream over a bare HTTP/1.1 connection. An httpx stream costs the client about
    twice the server's CPU per event, so with 500 of them the client would be measured."""
    host, port = server.url.removeprefix("http://").split(":")
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
    except OSError as exc:
        sub.error = f"connect: {exc}"
        opened.put_nowait(None)
        return
    try:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
            f"Accept: text/event-stream\r\n\r\n"
        )
        writer.write(request.encode())
        status = (await reader.readline()).split(b" ", 2)
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        if status[1] != b"200" or headers.get("transfer-encoding") != "chunked":
            sub.error = f"HTTP {status[1].decode()}: {(await reader.read(300))!r}"
            return
        sub.opened = True
        opened.put_nowait(None)
        pending = b""
        while size := int((await reader.readline()).split(b";")[0], 16):
            chunk = await reader.readexactly(size + 2)  # the data and its CRLF
            received = time.time()
            *messages, pending = (pending + chunk[:-2]).split(b"\n\n")
            for message in messages:
                sub.take(message, received)
    except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
        sub.error = f"{type(exc).__name__}: {exc}"
    finally:
        writer.close()
        if not sub.opened:  # failed before its stream opened: do not keep the others waiting
            opened.put_nowait(None)


async def sample_rss(server: Server, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], server.rss_mib())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def until_suspended(client: httpx.AsyncClient, run_id: str) -> None:
    """Wait until the run waits for its signal (the long-poll cannot tell: it waits for the end)."""
    for _ in range(1500):
        if (await client.get(f"/v1/runs/{run_id}")).json()["status"] == "suspended":
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"run {run_id} did not reach 'suspended' in 30 s")


async def streams(server: Server, key: str, plan: Plan) -> dict[str, Any]:
    n = plan.subscribers
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        body = {"workflow": "broadcast", "input": {"count": plan.events, "gap": plan.gap}}
        created = await client.post("/v1/runs", json=body)
        created.raise_for_status()
        run_id = created.json()["id"]
        await until_suspended(client, run_id)
        rss_idle = server.rss_mib()
        subs = [Subscriber() for _ in range(n)]
        opened: asyncio.Queue[None] = asyncio.Queue()
        path = f"/v1/runs/{run_id}/events"
        tasks = [asyncio.create_task(subscribe(server, path, key, s, opened)) for s in subs]
        t_open = time.perf_counter()
        for _ in range(n):
            await asyncio.wait_for(opened.get(), 60)
        open_s = time.perf_counter() - t_open
        await asyncio.sleep(0.5)  # let the server settle with every stream open
        rss_open = server.rss_mib()
        peak = [rss_open]
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(server, peak, stop))
        cpu_before, t0 = (server.cpu_s(), time.process_time()), time.perf_counter()
        signal = {"name": "go", "payload": True}
        (await client.post(f"/v1/runs/{run_id}/signals", json=signal)).raise_for_status()
        await asyncio.wait_for(asyncio.gather(*tasks), 60 + plan.events * plan.gap * 5)
        stream_s = time.perf_counter() - t0
        server_cpu = server.cpu_s() - cpu_before[0]
        client_cpu = time.process_time() - cpu_before[1]
        stop.set()
        await sampler
    delays = [d for s in subs for d in s.delays]
    errors = sorted({s.error for s in subs if s.error})
    return {
        "subscribers": n,
        "events": plan.events,
        "complete": sum(s.complete(plan.events) for s in subs),
        "errors": errors[:3],
        "deliveries": len(delays),
        "open_s": open_s,
        "stream_s": stream_s,
        "server_cpu_util": server_cpu / stream_s,
        "client_cpu_util": client_cpu / stream_s,
        "p50_ms": percentile(delays, 50) * 1e3,
        "p99_ms": percentile(delays, 99) * 1e3,
        "max_ms": max(delays, default=float("nan")) * 1e3,
        "rss_idle_mib": rss_idle,
        "rss_open_mib": rss_open,
        "rss_peak_mib": peak[0],
    }


# -- database, key, report ----------------------------------------------------------------


def fresh_database(arg: str | None, work: Path, name: str = "http") -> tuple[str, str | None]:
    """The URL to serve, and the PostgreSQL server URL to drop it from afterwards (or None)."""
    if arg is None:
        return f"sqlite:///{work / f'{name}.sqlite'}", None
    from _pg import create_database

    return create_database(arg, name), arg


async def create_key(database: str) -> str:
    from bosun.loader import load_app
    from bosun.server.auth import new_key

    app = load_app(str(APP_FILE))
    app.use_database(database)
    key, record = new_key("bench", ["admin"], name="bench/http_api.py")
    async with app:
        await app.store.create_api_key(record)
    return key


def machine_info(database: str, work: Path) -> dict[str, str]:
    import bosun

    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cpus": str(os.cpu_count()),
        "cpu model": cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "bosun": bosun.__version__,
        "httpx": httpx.__version__,
    }
    if database.startswith("sqlite"):
        info["database"] = f"SQLite {sqlite3.sqlite_version}, {work} ({filesystem(work)})"
    else:
        info["database"] = f"PostgreSQL, {database.rsplit('/', 1)[-1]}"
    return info


def fmt(value: Any, spec: str = "{:.3f}") -> str:
    return "n/a" if value is None else spec.format(value)


def ratio(value: float | None, anchor: float | None) -> str:
    return f"{value / anchor:.2f}x" if value is not None and anchor else ""


def report(results: dict[str, dict[str, Any]], plan: Plan) -> tuple[str, bool]:
    """The Markdown report, and whether every stream got every event once, in order."""
    http, local, sse = results.get("http", {}), results.get("inprocess", {}), results.get("sse")
    anchor = local.get("submits_per_s")
    rows = [
        [
            f"HTTP POST /v1/runs: submits/s, {CLIENTS} clients",
            fmt(http.get("submits_per_s"), "{:,.0f}"),
            ratio(http.get("submits_per_s"), anchor) + (" in-process" if anchor else ""),
        ],
        ["HTTP submit p50 (ms)", fmt(http.get("p50_ms"), "{:.2f}"), ""],
        ["HTTP submit p99 (ms)", fmt(http.get("p99_ms"), "{:.2f}"), ""],
        ["HTTP: server CPU ms/submit", fmt(http.get("server_cpu_ms_per_submit"), "{:.2f}"), ""],
        ["HTTP: client CPU ms/submit", fmt(http.get("client_cpu_ms_per_submit"), "{:.2f}"), ""],
        [
            f"in-process app.start: submits/s, {CLIENTS} tasks",
            fmt(anchor, "{:,.0f}"),
            "1.00x" if anchor else "",
        ],
        ["in-process submit p50 (ms)", fmt(local.get("p50_ms"), "{:.2f}"), ""],
        ["in-process submit p99 (ms)", fmt(local.get("p99_ms"), "{:.2f}"), ""],
        ["in-process: CPU ms/submit", fmt(local.get("process_cpu_ms_per_submit"), "{:.2f}"), ""],
    ]
    ok = sse is not None and sse["complete"] == sse["subscribers"]
    if sse is not None:
        n = sse["subscribers"]
        per_stream = (sse["rss_open_mib"] - sse["rss_idle_mib"]) * 1024 / n
        rows += [
            [f"SSE: {n} streams opened (s)", f"{sse['open_s']:.2f}", ""],
            [
                f"SSE: streams with all {sse['events']} events once, in order",
                f"{sse['complete']}/{n}",
                "",
            ],
            [
                f"SSE: delivery p50 (ms), {sse['deliveries']:,} deliveries",
                f"{sse['p50_ms']:.1f}",
                "",
            ],
            ["SSE: delivery p99 (ms)", f"{sse['p99_ms']:.1f}", ""],
            ["SSE: delivery max (ms)", f"{sse['max_ms']:.1f}", ""],
            ["SSE: signal to last event received (s)", f"{sse['stream_s']:.2f}", ""],
            ["SSE: server CPU while streaming (cores)", f"{sse['server_cpu_util']:.2f}", ""],
            ["SSE: client CPU while streaming (cores)", f"{sse['client_cpu_util']:.2f}", ""],
            ["server RSS, idle (MiB)", f"{sse['rss_idle_mib']:.1f}", ""],
            [f"server RSS, {n} streams open (MiB)", f"{sse['rss_open_mib']:.1f}", ""],
            ["server RSS, peak while streaming (MiB)", f"{sse['rss_peak_mib']:.1f}", ""],
            ["server RSS per open stream (KiB)", f"{per_stream:.0f}", ""],
        ]
    lines = ["## Results", ""]
    lines += markdown_table(["metric", "value", "ratio"], rows)
    lines += ["", "## Ratios and checks", ""]
    if http and anchor:
        lines.append(
            f"- HTTP submits/s vs in-process app.start on the same database: "
            f"{http['submits_per_s']:,.0f} vs {anchor:,.0f} ({http['submits_per_s'] / anchor:.2f}x)"
        )
    if http.get("failures"):
        lines.append(f"- HTTP submits answered other than 201: {http['failures']}")
    if sse is not None:
        verdict = "PASS" if ok else "FAIL"
        lines.append(
            f"- every subscriber got every event exactly once, in order: {verdict} "
            f"({sse['complete']}/{sse['subscribers']})"
        )
        lines += [f"- stream error: {e}" for e in sse["errors"]]
    lines += ["", f"Plan: {plan}"]
    return "\n".join(lines) + "\n", ok and bool(http) and bool(local)


async def measure(server: Server, database: str, key: str, plan: Plan) -> dict[str, Any]:
    results: dict[str, Any] = {}
    print(f"\n== (a) HTTP submits: {CLIENTS} clients, {plan.seconds:g} s", flush=True)
    results["http"] = await http_submits(server, key, plan)
    print(f"   {results['http']['submits_per_s']:,.0f} submits/s", flush=True)
    print(f"== (a) in-process app.start: {CLIENTS} tasks, {plan.seconds:g} s", flush=True)
    results["inprocess"] = await inprocess_submits(database, plan)
    print(f"   {results['inprocess']['submits_per_s']:,.0f} submits/s", flush=True)
    print(f"== (b) SSE: {plan.subscribers} subscribers x {plan.events} events", flush=True)
    results["sse"] = await streams(server, key, plan)
    print(f"   {results['sse']['complete']}/{plan.subscribers} complete", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (< 30 s)")
    parser.add_argument(
        "--database",
        help="a postgresql:// server to create a throwaway database on "
        "(default: a fresh SQLite file under bench/.data)",
    )
    parser.add_argument("--seconds", type=float, help="measured window of each submit phase")
    parser.add_argument("--subscribers", type=int, help="event streams on the one run")
    parser.add_argument("--out", type=Path, help="also write the report as Markdown here")
    parser.add_argument("--keep", action="store_true", help="keep the database and server log")
    args = parser.parse_args()
    if args.database and not args.database.startswith(("postgresql://", "postgres://")):
        parser.error("--database takes a postgresql:// server URL; SQLite is the default")
    plan = QUICK if args.quick else FULL
    if args.seconds:
        plan = Plan(args.seconds, plan.ramp, plan.subscribers, plan.events, plan.gap)
    if args.subscribers:
        plan = Plan(plan.seconds, plan.ramp, args.subscribers, plan.events, plan.gap)

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=time.strftime("http-%Y%m%d-%H%M%S-"), dir=DATA_DIR))
    database, pg_server = fresh_database(args.database, work)
    machine = machine_info(database, work)
    print("\n".join(f"{k}: {v}" for k, v in machine.items()), flush=True)
    server = None
    try:
        key = asyncio.run(create_key(database))
        server = start_server(database, work)
        results = asyncio.run(measure(server, database, key, plan))
    except Exception as exc:
        tail = server.log_tail() if server is not None else ""
        print(f"FAILED: {type(exc).__name__}: {exc}\n{tail}", flush=True)
        results = {}
    finally:
        if server is not None:
            stop_server(server)
        if pg_server is not None and not args.keep:
            from _pg import drop_database

            drop_database(pg_server, database)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    text, ok = report(results, plan)
    print("\n" + text, end="")
    if args.out:
        machine_lines = "\n".join(f"- {k}: {v}" for k, v in machine.items())
        args.out.write_text(f"# bosun HTTP benchmark\n\n## Machine\n\n{machine_lines}\n\n{text}")
        print(f"\nwrote {args.out}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
