"""Waiting on many results: a fan-out of 3-step runs drained while every handle is awaited,
against the same drain that nobody awaits, on SQLite and PostgreSQL.

Each measurement gets a fresh database (SQLite file; PostgreSQL ``CREATE DATABASE``). It
submits ``--runs`` runs of ``three`` (``pg_bosun_app.py``) with no worker running, starts one
``bosun worker`` process (``--concurrency``), and then either awaits every handle
(``await asyncio.gather(*(h.result() for h in handles))``: "observed") or only reads the
queue depth every 0.5 s until it is empty ("unobserved"). The drain rate is the runs'
completion rate (``runs.finished_at``) over the middle 80 % of the drain, so the worker's
start-up and the tail do not count. Observed measurements also report how many batched
status reads the result waiters made (``bosun.store.waiters``); both report the submitting
client's CPU per run while the worker drains (what the waiting costs that process, on cores
it shares with the worker and the database).

Measurements alternate (observed, unobserved, per store, per repeat) so that a busy machine
disturbs both alike; the table gives medians and min-max. `--baseline DIR` measures another
bosun source tree too (e.g. `git archive HEAD src | tar -x -C DIR`), interleaved.

    .venv/bin/python bench/fanout.py [--runs 3000] [--repeats 3] [--quick] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, DATA_DIR, emit
from _pg import (
    create_database,
    drop_database,
    middle_rate,
    server_url,
    stop,
    subprocess_env,
    wait_for_text,
)

APP_FILE = BENCH_DIR / "pg_bosun_app.py"
STORES = ("sqlite", "postgresql")
MODES = ("observed", "unobserved")


# ---- one measurement (a child process) ------------------------------------------------------


async def finished_stamps(app: Any) -> list[float]:
    from bosun.records import RunFilter

    runs = await app.store.list_runs(RunFilter(limit=1_000_000))
    return [r.finished_at for r in runs if r.finished_at is not None]


async def unfinished(app: Any) -> int:
    """Runs still to finish, from the queue depths (one small query)."""
    return sum(q.ready + q.in_flight + q.waiting for q in await app.store.queue_stats())


async def measure(url: str, mode: str, runs: int, concurrency: int, logdir: Path) -> dict[str, Any]:
    import pg_bosun_app

    app = pg_bosun_app.app
    app.use_database(url)
    async with app:
        handles = [await app.start("three", i) for i in range(runs)]
        log = logdir / "worker.log"
        cmd = [sys.executable, "-m", "bosun", "worker", str(APP_FILE), "--database", url]
        cmd += ["--concurrency", str(concurrency)]
        env = {**subprocess_env(), "BOSUN_LOG_LEVEL": "INFO", "BENCH_HOLD": "0"}
        with log.open("wb") as out:
            # Started and awaited blocking: nothing else runs in this loop yet.
            worker = subprocess.Popen(  # noqa: ASYNC220
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        try:
            wait_for_text(log, " serving ", worker, timeout=60)
            cpu0 = time.process_time()
            if mode == "observed":
                results = await asyncio.gather(*(h.result(timeout=600) for h in handles))
                assert results == [(i + 1) * 2 - 1 for i in range(runs)], "wrong results"
            else:
                while await unfinished(app):  # noqa: ASYNC110 (polling is what is measured)
                    await asyncio.sleep(0.5)
            cpu = time.process_time() - cpu0
        finally:
            stop(worker)
        rate, counted, span = middle_rate(await finished_stamps(app))
        return {
            "runs_per_s": rate,
            "counted": counted,
            "span_s": span,
            "client_cpu_ms_per_run": cpu / runs * 1e3,
            "status_reads": app.store.results.reads if hasattr(app.store, "results") else -1,
        }


def child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="fanout-", dir=DATA_DIR) as tmp:
        url = args.url or f"sqlite:///{tmp}/fanout.db"
        emit(asyncio.run(measure(url, args.mode, args.runs, args.concurrency, Path(tmp))))


# ---- the sitting ----------------------------------------------------------------------------


def run_one(
    store: str, mode: str, runs: int, concurrency: int, pg: str, src: Path | None
) -> dict[str, Any]:
    env = subprocess_env()
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env["PYTHONPATH"]])
    url = create_database(pg, "fanout") if store == "postgresql" else None
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--mode", mode]
    cmd += ["--runs", str(runs), "--concurrency", str(concurrency)]
    if url is not None:
        cmd += ["--url", url]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    finally:
        if url is not None:
            drop_database(pg, url)
    if done.returncode != 0:
        raise RuntimeError(f"{store} {mode} failed: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="300 runs, once")
    parser.add_argument("--pg", default=server_url(), help="PostgreSQL server (maintenance db)")
    parser.add_argument("--baseline", type=Path, help="another bosun src/ tree to compare")
    parser.add_argument("--only", help="sqlite or postgresql")
    # a single measurement, in a child process
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args)
        return
    runs, repeats = (300, 1) if args.quick else (args.runs, args.repeats)
    stores = [args.only] if args.only else list(STORES)
    trees: list[tuple[str, Path | None]] = [("", None)]
    if args.baseline is not None:
        trees.append((" (baseline)", args.baseline))
    samples: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeats):
        for store in stores:
            for suffix, src in trees:
                for mode in MODES:
                    name = f"{store} {mode}{suffix}"
                    result = run_one(store, mode, runs, args.concurrency, args.pg, src)
                    samples.setdefault(name, []).append(result)
                    print(f"   {name}: {result['runs_per_s']:.0f} runs/s", flush=True)

    print(
        f"\nfan-out: {runs} 3-step runs, one worker process (concurrency {args.concurrency}), "
        f"{repeats} repeats interleaved, {os.cpu_count()} CPUs "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
    )
    print(
        "| store, mode | drain runs/s (median) | min-max | batched status reads "
        "| client CPU ms/run |"
    )
    print("|---|---|---|---|---|")
    rates: dict[str, float] = {}
    for name, results in samples.items():
        values = [r["runs_per_s"] for r in results]
        rates[name] = statistics.median(values)
        reads = (
            ""
            if "unobserved" in name
            else str(statistics.median(r["status_reads"] for r in results))
        )
        cpu = statistics.median(r["client_cpu_ms_per_run"] for r in results)
        spread = f"{min(values):.0f}-{max(values):.0f}"
        print(f"| {name} | {rates[name]:.0f} | {spread} | {reads} | {cpu:.3f} |")
    for store in stores:
        for suffix, _ in trees:
            ratio = rates[f"{store} observed{suffix}"] / rates[f"{store} unobserved{suffix}"]
            verdict = "met" if ratio >= 0.9 else "NOT met"
            print(
                f"{store}{suffix}: observed / unobserved drain = {ratio:.2f} "
                f"(target >= 0.90: {verdict})"
            )
    emit({name: statistics.median(r["runs_per_s"] for r in rs) for name, rs in samples.items()})


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH_DIR))
    main()
