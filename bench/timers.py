"""How late durable timers fire: `ctx.sleep(d)` on a separate worker process, SQLite and PostgreSQL.

Each run sleeps `--delay` seconds, then a step records the time it started. Lateness is that
start minus the due time the journal recorded for the sleep, so it covers the suspension, the
wake-up, the claim and the replay. Runs are submitted at a steady rate (light load).

    .venv/bin/python bench/timers.py [--runs 200] [--delay 0.3] [--rate 20] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import bosun

HERE = Path(__file__).resolve().parent
APP = HERE / "timers_app.py"


def load_app(url: str) -> bosun.App:
    """The benchmark's app (the same module the worker loads), pointed at `url`."""
    from bosun.loader import load_app as load

    app = load(str(APP))
    app.use_database(url)
    return app


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(url: str, runs: int, delay: float, rate: float) -> dict[str, float]:
    app = load_app(url)
    worker = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "bosun"),
        "worker",
        str(APP),
        "--database",
        url,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with app:
            await asyncio.sleep(1.0)  # the worker is up and idle
            handles = []
            for _ in range(runs):
                handles.append(await app.start("sleeper", delay))
                await asyncio.sleep(1 / rate)
            late = []
            for handle in handles:
                woke = await handle.result(timeout=60)
                journal = await app.store.get_journal(handle.run_id)
                due = next(e.wake_at for e in journal if e.kind == "sleep")
                late.append((woke - due) * 1000)
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 30)
    return {
        "p50_ms": percentile(late, 0.5),
        "p99_ms": percentile(late, 0.99),
        "max_ms": max(late),
        "runs": runs,
    }


def pg_database(base: str) -> tuple[str, str]:
    import psycopg

    name = f"bench_timers_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = base.rsplit("/", 1)
    return f"{parts[0]}/{name}", name


def drop_pg(base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.3)
    parser.add_argument("--rate", type=float, default=20.0, help="submissions per second")
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG_URL", "postgresql://127.0.0.1:5432/test")
    )
    parser.add_argument("--quick", action="store_true", help="30 runs per store")
    args = parser.parse_args()
    runs = 30 if args.quick else args.runs
    results = {}
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        results["sqlite"] = asyncio.run(
            measure(f"sqlite:///{tmp}/timers.db", runs, args.delay, args.rate)
        )
    url, name = pg_database(args.pg)
    try:
        results["postgresql"] = asyncio.run(measure(url, runs, args.delay, args.rate))
    finally:
        drop_pg(args.pg, name)
    print(
        f"timer lateness, {runs} runs sleeping {args.delay} s, {args.rate}/s, "
        f"separate worker process ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
    )
    print("| store | p50 (ms) | p99 (ms) | max (ms) |")
    print("|---|---|---|---|")
    for store, r in results.items():
        print(f"| {store} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} |")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
