"""Anchor: Absurd (durable execution in PostgreSQL alone) running the 3-step workflow.

Set up as its README does: ``absurdctl init`` installs the schema into the fresh database
``--url`` (it runs ``psql``), ``AsyncAbsurd.create_queue`` makes the queue, and one task has
three ``await ctx.step(...)`` steps (x+1, x*2, x-1). Each step is one ``set_task_checkpoint_state``
call on an autocommit connection, so it commits on its own (the server's ``synchronous_commit``
applies: on, here); claiming and completing a run are a commit each too.

The worker runs in this process (``AsyncAbsurd.start_worker``, ``--concurrency`` 64, the SDK's
default 0.25 s poll interval when it finds nothing; Absurd has no wake-up notification), on its
own connection, as bosun's ``flight`` mode runs its worker. Tasks are spawned through
``--clients`` other connections. A run's end is when the worker's ``complete_run`` call has
committed, seen in-process (the worker's task runner is wrapped): the SDK's own
``await_task_result`` polls from 50 ms up, which would measure its back-off instead
(``--wait poll`` uses it all the same).

``--mode flight``: sequential runs (spawn -> completed, p50/p99), then ``--concurrency`` lanes
each spawning one task and waiting for it (runs/s in a ``--seconds`` window after a ``--ramp``).
``--mode latency``: one ``stamp`` task every 1/``--rate`` s (20/s); its only step returns
``time.time()`` when it starts; latency = that minus the wall-clock time just before ``spawn``.

If ``absurd-sdk`` or ``absurdctl`` (the ``bench`` extra) or ``psql`` is missing, it prints a
``skipped`` line instead. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import Window, WorkflowMetrics, emit, latency_ms
from _pg import backend_cpu, cpu_delta

QUEUE = "bench"


def missing() -> str | None:
    """Why Absurd cannot run here, or None."""
    for module, package in (("absurd_sdk", "absurd-sdk"), ("absurdctl", "absurdctl")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install 'bosun[bench]')"
    if shutil.which("psql") is None:
        return "psql is not on PATH (absurdctl init runs it)"
    return None


def install_schema(url: str) -> None:
    absurdctl = Path(sys.executable).parent / "absurdctl"
    cmd = [str(absurdctl) if absurdctl.exists() else "absurdctl", "init", "-d", url]
    subprocess.run(cmd, check=True, capture_output=True, text=True)


class Completions:
    """Futures resolved when the in-process worker has committed a task's end."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.stamps: dict[str, float] = {}

    def expect(self, task_id: Any) -> asyncio.Future[None]:
        future = asyncio.get_running_loop().create_future()
        self.waiting[str(task_id)] = future
        return future

    def wrap(self, worker: Any) -> None:
        execute = worker._execute_task  # the SDK's runner: handler, then complete_run

        async def wrapped(task: Any, claim_timeout: int) -> None:
            await execute(task, claim_timeout)
            future = self.waiting.pop(str(task["task_id"]), None)
            if future is not None and not future.done():
                future.set_result(None)

        worker._execute_task = wrapped


def register(app: Any, completions: Completions) -> None:
    async def three(params: dict[str, int], ctx: Any) -> int:
        x = params["x"]

        async def s1() -> int:
            return x + 1

        a = await ctx.step("s1", s1)

        async def s2() -> int:
            return a * 2

        b = await ctx.step("s2", s2)

        async def s3() -> int:
            return b - 1

        return int(await ctx.step("s3", s3))

    async def stamp(params: dict[str, Any], ctx: Any) -> float:
        async def now() -> float:
            return time.time()

        started = float(await ctx.step("now", now))
        completions.stamps[str(ctx.task_id)] = started
        return started

    app.register_task(name="three", queue=QUEUE)(three)
    app.register_task(name="stamp", queue=QUEUE)(stamp)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from absurd_sdk import AsyncAbsurd

        self.args = args
        self.completions = Completions()
        self.worker = AsyncAbsurd(args.url, queue_name=QUEUE)
        register(self.worker, self.completions)
        self.completions.wrap(self.worker)
        self.clients = [AsyncAbsurd(args.url, queue_name=QUEUE) for _ in range(args.clients)]
        for client in self.clients:
            register(client, self.completions)  # spawn() needs the task registered
        self._next = 0

    def client(self) -> Any:
        self._next = (self._next + 1) % len(self.clients)
        return self.clients[self._next]

    async def run(self, task: str, params: dict[str, Any]) -> str:
        """Spawn ``task`` and wait until its run has completed; return its task id."""
        client = self.client()
        spawned = await client.spawn(task, params)
        task_id = str(spawned["task_id"])
        future = self.completions.expect(task_id)
        if self.args.wait == "poll":
            await client.await_task_result(task_id, timeout=self.args.timeout)
            self.completions.waiting.pop(task_id, None)
        else:
            await asyncio.wait_for(future, self.args.timeout)
        return task_id

    async def run_three(self, x: int) -> float:
        t0 = time.perf_counter()
        await self.run("three", {"x": x})
        return time.perf_counter() - t0

    async def check(self, task_id: str, x: int) -> None:
        snapshot = await self.client().fetch_task_result(task_id)
        if snapshot is None or snapshot.state != "completed" or snapshot.result != 2 * (x + 1) - 1:
            raise AssertionError(f"three({x}) ended as {snapshot}")

    async def close(self) -> None:
        for client in (self.worker, *self.clients):
            await client.close()


async def flight(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    for i in range(int(args.warmup)):
        await bench.run_three(i)
    task_id = await bench.run("three", {"x": 7})
    await bench.check(task_id, 7)
    seq = [await bench.run_three(i) for i in range(args.runs)]
    finishes: list[float] = []

    async def lane(lane_id: int) -> None:
        i = 0
        while window.open():
            await bench.run_three(lane_id * 1_000_000 + i)
            finishes.append(time.perf_counter())
            i += 1

    server0 = await asyncio.to_thread(backend_cpu, args.url)
    cpu0, window = time.process_time(), Window.begin(args.ramp, args.seconds)
    await asyncio.gather(*(lane(k) for k in range(args.concurrency)))
    wall = time.perf_counter() - window.start
    cpu = time.process_time() - cpu0
    server = cpu_delta(server0, await asyncio.to_thread(backend_cpu, args.url))
    metrics = WorkflowMetrics(seq, finishes, window, cpu, wall)
    return {
        **metrics.as_dict(steps_per_run=3),
        "client_cpu_ms": cpu / len(finishes) * 1e3,
        "server_cpu_ms": server / len(finishes) * 1e3,
    }


async def latency(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    warm = max(1, int(args.rate * args.warmup))
    measured = max(1, int(args.rate * args.seconds))
    submitted: list[float] = []

    async def one() -> tuple[float, float]:
        task_id = await bench.run("stamp", {})
        return bench.completions.stamps.pop(task_id), time.time()

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


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    await asyncio.to_thread(install_schema, args.url)
    bench = Bench(args)
    await bench.worker.create_queue(QUEUE)
    worker = asyncio.create_task(
        bench.worker.start_worker(concurrency=args.concurrency, poll_interval=args.poll_interval)
    )
    try:
        mode = flight if args.mode == "flight" else latency
        result = await mode(bench, args)
    finally:
        bench.worker.stop_worker()
        await asyncio.wait_for(worker, args.timeout)
        await bench.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="postgresql:// URL of a fresh database")
    parser.add_argument("--mode", choices=["flight", "latency"], default="flight")
    parser.add_argument("--runs", type=int, default=100, help="flight: sequential runs")
    parser.add_argument("--warmup", type=float, default=10, help="warm-up runs (latency: s)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--clients", type=int, default=4, help="client connections")
    parser.add_argument("--ramp", type=float, default=1.0, help="concurrent ramp-up, not counted")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window")
    parser.add_argument("--rate", type=float, default=20.0, help="latency: runs/s submitted")
    parser.add_argument("--poll-interval", type=float, default=0.25, help="worker idle poll (s)")
    parser.add_argument("--wait", choices=["notify", "poll"], default="notify")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    if reason := missing():
        emit({"system": "absurd", "mode": args.mode, "skipped": reason})
        return
    result = asyncio.run(measure(args))
    emit(
        {
            "system": "absurd",
            "version": importlib.metadata.version("absurd-sdk"),
            "mode": args.mode,
            "concurrency": args.concurrency,
            "clients": args.clients,
            "wait": args.wait,
            "poll_interval": args.poll_interval,
            **result,
        }
    )


if __name__ == "__main__":
    main()
