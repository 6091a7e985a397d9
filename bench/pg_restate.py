"""Anchor: Restate (a Rust server with its own log, and the Python SDK) running the 3-step
workflow.

Restate keeps its state in its own store, not in PostgreSQL: the database ``--url`` that
``pg.py`` creates goes unused. The server is the npm package ``@restatedev/restate-server``
(pinned below; its ``-linux-x64`` optional dependency holds the binary), installed once with
``npm install --prefix ~/.cache/bosun-bench/restate`` (``BENCH_RESTATE_SERVER`` names another
binary). It runs as one node with its defaults and a fresh base directory, on loopback ports:
the log (Bifrost, replicated loglet, replication 1) is written by its log server through
RocksDB with ``rocksdb-disable-wal-fsync = false``, so appends are fsynced per write batch
before an invocation's journal entry is acknowledged. At start it tries one HTTPS request to
check for releases, which fails harmlessly offline.

The service (``pg_restate_app.py``, ``restate-sdk``) is served by hypercorn (one process,
HTTP/2 cleartext) on 127.0.0.1 and registered through the admin API (``POST /deployments``);
invocations go through the ingress as request-response calls (``POST /Bench/three``) from
this process over ``httpx`` (one connection per lane).

``--mode flight``: sequential invocations (call -> result, p50/p99), then ``--concurrency``
(64) lanes each calling one at a time (runs/s in a ``--seconds`` window after a ``--ramp``).
``--mode latency``: one ``stamp`` invocation every 1/``--rate`` s (20/s); its only step returns
``time.time()`` when it starts; latency = that minus the wall-clock time just before the call.
``client_cpu_ms``: this process and hypercorn's; ``server_cpu_ms``: restate-server's.

If ``restate-sdk`` or ``hypercorn`` (the ``bench`` extra) is missing, or the server is neither
installed nor installable (no npm), it prints a ``skipped`` line instead. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, Window, WorkflowMetrics, emit, latency_ms
from _pg import process_cpu, python, stop, subprocess_env, tail_file

SERVER_VERSION = "1.7.12"
CACHE = Path.home() / ".cache" / "bosun-bench" / "restate"
BINARY = "node_modules/@restatedev/restate-server-linux-x64/bin/restate-server"


def server_binary() -> Path | None:
    """The restate-server binary, installing the npm package into the cache if needed."""
    if named := os.environ.get("BENCH_RESTATE_SERVER"):
        return Path(named)
    path = CACHE / BINARY
    if not path.exists() and shutil.which("npm"):
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(CACHE),
                f"@restatedev/restate-server@{SERVER_VERSION}",
            ],
            check=True,
            capture_output=True,
        )
    return path if path.exists() else None


def missing() -> str | None:
    """Why Restate cannot run here, or None."""
    for module, package in (("restate", "restate-sdk"), ("hypercorn", "hypercorn")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install 'bosun[bench]')"
    if server_binary() is None:
        return f"no restate-server under {CACHE} and no npm to install it"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited ({proc.returncode}): {tail_file(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} not up after {timeout} s: {tail_file(log)}")


@contextlib.contextmanager
def restate(tmp: Path) -> Iterator[dict[str, Any]]:
    """A restate-server and the hypercorn-served service, registered; yields their facts."""
    import httpx

    binary = server_binary()
    assert binary is not None
    ingress, admin, fabric, service = (free_port() for _ in range(4))
    env = {
        **os.environ,
        "RESTATE_DISABLE_TELEMETRY": "true",
        "RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{ingress}",
        "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{admin}",
        "RESTATE_BIND_ADDRESS": f"127.0.0.1:{fabric}",
        "RESTATE_ADVERTISED_ADDRESS": f"http://127.0.0.1:{fabric}",
    }
    server_log, service_log = tmp / "restate.log", tmp / "hypercorn.log"
    cmd = [str(binary), "--no-logo", "--listen-mode", "tcp", "--base-dir", str(tmp / "data")]
    with server_log.open("wb") as out:
        server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    bind = f"127.0.0.1:{service}"
    hc_cmd = [python(), "-m", "hypercorn", "--bind", bind, "pg_restate_app:app"]
    with service_log.open("wb") as out:
        hypercorn = subprocess.Popen(
            hc_cmd, stdout=out, stderr=subprocess.STDOUT, cwd=BENCH_DIR, env=subprocess_env()
        )
    try:
        wait_http(f"http://127.0.0.1:{admin}/health", server, server_log)
        wait_http(f"http://127.0.0.1:{ingress}/restate/health", server, server_log)
        deadline = time.monotonic() + 30
        while True:  # hypercorn may still be importing the service
            reply = httpx.post(
                f"http://127.0.0.1:{admin}/deployments",
                json={"uri": f"http://{bind}"},
                timeout=10,
            )
            if reply.status_code < 300:
                break
            if time.monotonic() > deadline or hypercorn.poll() is not None:
                raise RuntimeError(f"registration failed: {reply.text} {tail_file(service_log)}")
            time.sleep(0.1)
        yield {
            "ingress": f"http://127.0.0.1:{ingress}",
            "pids": {"server": server.pid, "service": hypercorn.pid},
        }
    finally:
        stop(hypercorn)
        stop(server)


async def call(client: Any, ingress: str, handler: str, body: Any) -> Any:
    reply = await client.post(f"{ingress}/Bench/{handler}", json=body)
    reply.raise_for_status()
    return reply.json()


async def flight(args: argparse.Namespace, facts: dict[str, Any]) -> dict[str, Any]:
    import httpx

    ingress, pids = facts["ingress"], facts["pids"]
    limits = httpx.Limits(max_connections=args.concurrency + 1)
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as client:

        async def run_once(x: int) -> float:
            t0 = time.perf_counter()
            out = await call(client, ingress, "three", x)
            if out != 2 * (x + 1) - 1:
                raise AssertionError(f"three({x}) returned {out}")
            return time.perf_counter() - t0

        for i in range(int(args.warmup)):
            await run_once(i)
        seq = [await run_once(i) for i in range(args.runs)]
        finishes: list[float] = []

        async def lane(lane_id: int) -> None:
            i = 0
            while window.open():
                await run_once(lane_id * 1_000_000 + i)
                finishes.append(time.perf_counter())
                i += 1

        before = process_cpu([pids["server"], pids["service"]])
        cpu0, window = time.process_time(), Window.begin(args.ramp, args.seconds)
        await asyncio.gather(*(lane(k) for k in range(args.concurrency)))
        wall = time.perf_counter() - window.start
        cpu = time.process_time() - cpu0
        after = process_cpu([pids["server"], pids["service"]])
    used = {name: after.get(pid, 0.0) - before.get(pid, 0.0) for name, pid in pids.items()}
    metrics = WorkflowMetrics(seq, finishes, window, cpu, wall)
    return {
        **metrics.as_dict(steps_per_run=3),
        "client_cpu_ms": (cpu + used["service"]) / len(finishes) * 1e3,
        "server_cpu_ms": used["server"] / len(finishes) * 1e3,
    }


async def latency(args: argparse.Namespace, facts: dict[str, Any]) -> dict[str, Any]:
    import httpx

    ingress = facts["ingress"]
    loop = asyncio.get_running_loop()
    warm = max(1, int(args.rate * args.warmup))
    measured = max(1, int(args.rate * args.seconds))
    async with httpx.AsyncClient(timeout=args.timeout) as client:

        async def one() -> tuple[float, float]:
            started = float(await call(client, ingress, "stamp", None))
            return started, time.time()

        submitted: list[float] = []
        tasks = []
        t0 = loop.time()
        for i in range(warm + measured):
            delay = t0 + i / args.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            t_submit = time.time()
            task = asyncio.create_task(one())
            if i >= warm:
                submitted.append(t_submit)
                tasks.append(task)
        results = await asyncio.gather(*tasks)
    to_start = [s - t for (s, _), t in zip(results, submitted, strict=True)]
    e2e = latency_ms([d - t for (_, d), t in zip(results, submitted, strict=True)])
    return {
        "rate": args.rate,
        "samples": len(to_start),
        **latency_ms(to_start),
        "e2e_p50_ms": e2e["p50_ms"],
        "e2e_p99_ms": e2e["p99_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="unused: Restate keeps its own log (pg.py passes one)")
    parser.add_argument("--mode", choices=["flight", "latency"], default="flight")
    parser.add_argument("--runs", type=int, default=100, help="flight: sequential runs")
    parser.add_argument("--warmup", type=float, default=10, help="warm-up runs (latency: s)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--ramp", type=float, default=1.0, help="concurrent ramp-up, not counted")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window")
    parser.add_argument("--rate", type=float, default=20.0, help="latency: runs/s submitted")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    if reason := missing():
        emit({"system": "restate", "mode": args.mode, "skipped": reason})
        return
    with tempfile.TemporaryDirectory(prefix="bench-restate-") as tmp, restate(Path(tmp)) as facts:
        mode = flight if args.mode == "flight" else latency
        result = asyncio.run(mode(args, facts))
    emit(
        {
            "system": "restate",
            "version": f"server {SERVER_VERSION}, sdk {importlib.metadata.version('restate-sdk')}",
            "mode": args.mode,
            "concurrency": args.concurrency,
            **result,
        }
    )


if __name__ == "__main__":
    main()
