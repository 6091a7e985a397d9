"""Anchor (c): DBOS Transact running the same 3-step workflow on SQLite.

Three ``@DBOS.step()`` functions (x+1, x*2, x-1) are chained inside one ``@DBOS.workflow()``;
DBOS's system database is a fresh SQLite file (``system_database_url="sqlite:///…"``). Measures:

1. sequential: ``--runs`` workflows one after another; start -> result latency, p50/p99;
2. concurrent: ``--concurrency`` (64) lanes each running one workflow at a time, so 64 are always
   in flight; runs finished in a ``--seconds`` window after a ``--ramp`` give runs/s and steps/s.

``--mode threads`` (default) uses plain functions, ``DBOS.start_workflow`` and
``handle.get_result()`` from 64 OS threads. ``--mode async`` uses ``async def`` steps/workflow,
``DBOS.start_workflow_async`` and ``await handle.get_result()`` from 64 asyncio tasks; DBOS then
hops every database call through ``asyncio.to_thread``, which costs CPU. On the 2-core dev box
threads did best (~105 vs ~75 runs/s, ~7 vs ~11 ms sequential p50), hence the default. Either
way DBOS is CPU/GIL-bound (~1 core busy, ~9 ms CPU per workflow), not disk-bound.
``--pool-size`` sets ``sys_db_pool_size`` (default 20); 1 measured ~10-20% faster, within noise.

DBOS's SQLite engine sets no journal mode, so a new file would use the rollback journal. With
``--journal wal`` (default) the file is put in WAL mode before DBOS opens it (WAL mode persists in
the file), matching the raw anchor and bosun; ``synchronous`` stays at SQLite's default, FULL.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from _common import Window, WorkflowMetrics, emit, fresh_db_path
from dbos import DBOS, DBOSConfig


@DBOS.step()
def s1(x: int) -> int:
    return x + 1


@DBOS.step()
def s2(x: int) -> int:
    return x * 2


@DBOS.step()
def s3(x: int) -> int:
    return x - 1


@DBOS.workflow()
def three(x: int) -> int:
    return s3(s2(s1(x)))


@DBOS.step()
async def s1_async(x: int) -> int:
    return x + 1


@DBOS.step()
async def s2_async(x: int) -> int:
    return x * 2


@DBOS.step()
async def s3_async(x: int) -> int:
    return x - 1


@DBOS.workflow()
async def three_async(x: int) -> int:
    return await s3_async(await s2_async(await s1_async(x)))


def prepare_db(path: Path, journal: str) -> tuple[str, str]:
    """Create the SQLite file in the given journal mode; return (URL for DBOS, actual mode)."""
    conn = sqlite3.connect(path)
    try:
        mode = conn.execute(f"PRAGMA journal_mode={journal}").fetchone()[0]
    finally:
        conn.close()
    return f"sqlite:///{path}", str(mode)


def check(x: int, result: int) -> None:
    if result != 2 * (x + 1) - 1:
        raise AssertionError(f"three({x}) returned {result}")


# ---- threads mode ----------------------------------------------------------------------------


def run_once_sync(x: int) -> float:
    t0 = time.perf_counter()
    check(x, DBOS.start_workflow(three, x).get_result())
    return time.perf_counter() - t0


def concurrent_threads(concurrency: int, window: Window) -> list[float]:
    finishes: list[float] = []  # list.append is atomic under the GIL

    def lane(lane_id: int) -> None:
        i = 0
        while window.open():
            run_once_sync(lane_id * 1_000_000 + i)
            finishes.append(time.perf_counter())
            i += 1

    threads = [threading.Thread(target=lane, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return finishes


def phases_threads(args: argparse.Namespace) -> WorkflowMetrics:
    for i in range(args.warmup):
        run_once_sync(i)
    seq = [run_once_sync(i) for i in range(args.runs)]
    cpu0, window = time.process_time(), Window.begin(args.ramp, args.seconds)
    finishes = concurrent_threads(args.concurrency, window)
    wall = time.perf_counter() - window.start
    return WorkflowMetrics(seq, finishes, window, time.process_time() - cpu0, wall)


# ---- async mode ------------------------------------------------------------------------------


async def run_once_async(x: int) -> float:
    t0 = time.perf_counter()
    handle = await DBOS.start_workflow_async(three_async, x)
    check(x, await handle.get_result())
    return time.perf_counter() - t0


async def concurrent_async(concurrency: int, window: Window) -> list[float]:
    finishes: list[float] = []

    async def lane(lane_id: int) -> None:
        i = 0
        while window.open():
            await run_once_async(lane_id * 1_000_000 + i)
            finishes.append(time.perf_counter())
            i += 1

    await asyncio.gather(*(lane(k) for k in range(concurrency)))
    return finishes


async def phases_async(args: argparse.Namespace) -> WorkflowMetrics:
    for i in range(args.warmup):
        await run_once_async(i)
    seq = [await run_once_async(i) for i in range(args.runs)]
    cpu0, window = time.process_time(), Window.begin(args.ramp, args.seconds)
    finishes = await concurrent_async(args.concurrency, window)
    wall = time.perf_counter() - window.start
    return WorkflowMetrics(seq, finishes, window, time.process_time() - cpu0, wall)


# ---- driver ----------------------------------------------------------------------------------


def measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    config: DBOSConfig = {"name": "bench", "system_database_url": url, "log_level": "WARNING"}
    if args.pool_size:
        config["sys_db_pool_size"] = args.pool_size
    DBOS(config=config)
    DBOS.launch()
    try:
        is_async = args.mode == "async"
        metrics = asyncio.run(phases_async(args)) if is_async else phases_threads(args)
    finally:
        DBOS.destroy()
    return metrics.as_dict(steps_per_run=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database file (default: fresh file under bench/.data)")
    parser.add_argument("--runs", type=int, default=200, help="sequential runs")
    parser.add_argument("--warmup", type=int, default=10, help="sequential warm-up runs")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--ramp", type=float, default=1.0, help="concurrent ramp-up, not counted")
    parser.add_argument("--seconds", type=float, default=5.0, help="concurrent measured window")
    parser.add_argument("--mode", choices=["threads", "async"], default="threads")
    parser.add_argument("--pool-size", type=int, default=0, help="sys_db_pool_size; 0: default")
    parser.add_argument("--journal", choices=["wal", "delete"], default="wal")
    args = parser.parse_args()
    logging.getLogger("dbos").setLevel(logging.WARNING)
    url, journal = prepare_db(fresh_db_path(args.db, "anchor_dbos"), args.journal)
    result = measure(args, url)
    emit(
        {
            "system": "dbos",
            "version": importlib.metadata.version("dbos"),
            "mode": args.mode,
            "journal_mode": journal,
            "concurrency": args.concurrency,
            **result,
        }
    )


if __name__ == "__main__":
    main()
