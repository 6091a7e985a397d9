"""Anchor: pgqueuer, a PostgreSQL job queue (SKIP LOCKED dequeue, LISTEN/NOTIFY wake-ups).

Set up as its README and ``pgq run`` do: asyncpg connections (``AsyncpgDriver``), a
``QueueManager`` with one no-op entrypoint, and the uvloop event loop that ``pgq run`` uses
when installed (``--loop asyncio`` for the standard loop). The schema is installed into the
fresh database ``--url`` first.

``--mode throughput``: enqueue ``--jobs`` no-op jobs (in batches, not timed), then run one
worker in this process until all have run. jobs/s is the rate of handler starts over the middle
80 % of the drain (the first and last 10 % are start-up and the tail). ``--batch-size`` is
``QueueManager.run``'s batch size (pgqueuer's default, 10). CPU ms per job of this process
(``client_cpu_ms``) and of its PostgreSQL backend (``server_cpu_ms``) over the whole drain.

``--mode latency``: start a worker in a separate process (this script, ``--mode worker``), then
enqueue one job every 1/``--rate`` s for ``--seconds`` (after a short warm-up). Each payload
carries the wall-clock time taken just before its ``enqueue`` call; the handler records
``time.time()`` when it starts, so latency = enqueue call -> handler start (the enqueue's own
commit included). p50/p99 over all measured jobs.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from _common import emit, latency_ms
from _pg import cpu_delta, middle_rate, process_cpu, python, subprocess_env

ENTRYPOINT = "noop"


def run_loop(main: Callable[[], Coroutine[Any, Any, Any]], loop: str) -> Any:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main())
    return asyncio.run(main())


async def connect(url: str) -> Any:
    import asyncpg

    return await asyncpg.connect(url)


async def install(url: str) -> None:
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    conn = await connect(url)
    try:
        await Queries(AsyncpgDriver(conn)).install()
    finally:
        await conn.close()


def queue_manager(conn: Any, on_job: Callable[[Any], None]) -> Any:
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.models import Job
    from pgqueuer.qm import QueueManager
    from pgqueuer.queries import Queries

    qm = QueueManager(Queries(AsyncpgDriver(conn)))

    @qm.entrypoint(ENTRYPOINT)
    async def noop(job: Job) -> None:
        on_job(job)

    return qm


# ---- throughput: backlog drained by one in-process worker ---------------------------------


async def throughput(args: argparse.Namespace) -> dict[str, Any]:
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    await install(args.url)
    conn = await connect(args.url)
    queries = Queries(AsyncpgDriver(conn))
    t0 = time.perf_counter()
    for start in range(0, args.jobs, 1000):
        n = min(1000, args.jobs - start)
        await queries.enqueue([ENTRYPOINT] * n, [None] * n, [0] * n)
    enqueue_s = time.perf_counter() - t0
    await conn.close()

    starts: list[float] = []
    worker_conn = await connect(args.url)
    qm = None

    def on_job(_job: Any) -> None:
        starts.append(time.perf_counter())
        if len(starts) >= args.jobs and qm is not None:
            qm.shutdown.set()

    qm = queue_manager(worker_conn, on_job)
    pids = [worker_conn.get_server_pid()]
    cpu0, wall0, server0 = time.process_time(), time.perf_counter(), process_cpu(pids)
    await asyncio.wait_for(qm.run(batch_size=args.batch_size), timeout=args.timeout)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    server = cpu_delta(server0, process_cpu(pids))
    await worker_conn.close()
    rate, counted, span = middle_rate(starts)
    return {
        "jobs": len(starts),
        "jobs_counted": counted,
        "seconds": span,
        "jobs_per_s": rate,
        "enqueue_per_s": args.jobs / enqueue_s,
        "cpu_util": cpu / wall,
        "client_cpu_ms": cpu / len(starts) * 1e3,
        "server_cpu_ms": server / len(starts) * 1e3,
    }


# ---- latency: separate worker process, steady enqueue rate --------------------------------


async def worker(args: argparse.Namespace) -> None:
    """Run until ``--expect`` jobs ran; print their enqueue -> start latencies as JSON."""
    conn = await connect(args.url)
    latencies: list[float] = []
    seen = 0
    qm = None

    def on_job(job: Any) -> None:
        nonlocal seen
        started = time.time()
        seen += 1
        text = (job.payload or b"").decode()
        if not text.startswith("w:"):
            latencies.append(started - float(text))
        if seen >= args.expect and qm is not None:
            qm.shutdown.set()

    qm = queue_manager(conn, on_job)
    print("ready", flush=True)
    await asyncio.wait_for(qm.run(batch_size=args.batch_size), timeout=args.timeout)
    await conn.close()
    print(json.dumps({"latencies": latencies}), flush=True)


async def latency(args: argparse.Namespace) -> dict[str, Any]:
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    await install(args.url)
    warm = max(1, int(args.rate * args.warmup))
    measured = max(1, int(args.rate * args.seconds))
    cmd = [python(), __file__, "--mode", "worker", "--url", args.url, "--loop", args.loop]
    cmd += ["--expect", str(warm + measured), "--batch-size", str(args.batch_size)]
    cmd += ["--timeout", str(args.timeout)]
    proc = await asyncio.to_thread(
        subprocess.Popen, cmd, stdout=subprocess.PIPE, env=subprocess_env(), text=True
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        if line.strip() != "ready":
            raise RuntimeError(f"worker did not start: {line!r}")
        await asyncio.sleep(0.5)  # let it LISTEN
        conn = await connect(args.url)
        queries = Queries(AsyncpgDriver(conn))
        loop = asyncio.get_running_loop()
        interval = 1 / args.rate
        t0 = loop.time()
        for i in range(warm + measured):
            delay = t0 + i * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            payload = f"w:{i}" if i < warm else repr(time.time())
            await queries.enqueue(ENTRYPOINT, payload.encode())
        await conn.close()
        out, _ = await asyncio.to_thread(proc.communicate, timeout=args.timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"worker exited with {proc.returncode}")
    samples = json.loads(out.strip().splitlines()[-1])["latencies"]
    return {"rate": args.rate, "samples": len(samples), **latency_ms(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="postgresql:// URL of a fresh database")
    parser.add_argument("--mode", choices=["throughput", "latency", "worker"], required=True)
    parser.add_argument("--jobs", type=int, default=20_000, help="throughput: backlog size")
    parser.add_argument("--batch-size", type=int, default=10, help="QueueManager.run batch size")
    parser.add_argument("--rate", type=float, default=50.0, help="latency: jobs/s enqueued")
    parser.add_argument("--seconds", type=float, default=20.0, help="latency: measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="latency: warm-up seconds")
    parser.add_argument("--expect", type=int, default=0, help="worker: jobs to wait for")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    if args.mode == "worker":
        run_loop(lambda: worker(args), args.loop)
        return
    measure = throughput if args.mode == "throughput" else latency
    result = run_loop(lambda: measure(args), args.loop)
    emit(
        {
            "system": "pgqueuer",
            "version": importlib.metadata.version("pgqueuer"),
            "mode": args.mode,
            "loop": args.loop,
            "batch_size": args.batch_size,
            **result,
        }
    )


if __name__ == "__main__":
    sys.exit(main())
