"""bosun PostgreSQL benchmark: one command, one sitting, one server, five systems, one table.

Every measurement runs in its own subprocess against its own fresh database on the same
PostgreSQL server (``CREATE DATABASE bench_<name>_<random>``, dropped afterwards; server from
``BENCH_PG_URL``, default ``postgresql://root@127.0.0.1:5432/test``):

- ``pg_raw.py``: raw single-row INSERT+COMMIT tx/s with psycopg, 1 client and 16 clients;
- ``pg_dbos.py``: DBOS Transact, 3-step workflow, system database on PostgreSQL, 64 in flight;
- ``pg_langgraph.py``: LangGraph + ``AsyncPostgresSaver``, 3-node graph, fresh thread per run;
- ``pg_restate.py``: Restate (its own server and log, not PostgreSQL), 3-step service handler
  invoked through its ingress, sequential and 64 in flight; submit -> first step at 20 runs/s;
- ``pg_absurd.py``: Absurd (PostgreSQL only), 3-step task, sequential and 64 in flight;
  submit -> first step at 20 runs/s;
- ``pg_pgqueuer.py``: pgqueuer no-op jobs/s (one worker process draining a backlog) and
  enqueue -> start latency at a steady 50 jobs/s (separate worker process);
- ``pg_bosun.py``: bosun, 3-step runs/s with 64 in flight; one-step runs/s with one worker
  process; durable steps/s with two worker processes; submit -> first-step latency at 50 runs/s
  and at 20 runs/s (the rate of the Restate and Absurd latency runs);
  recovery time after SIGKILLing a worker that holds runs (lease TTL 2 s).

Measurements run in rounds: round 1 runs everything once, rounds 2 and 3 repeat the cheap ones,
so the table shows medians of three (spread column: min-max, n). Each sub-script prints one JSON
line; this script prints machine info, the table with ratios, and the target verdicts. A
sub-script whose system is not installed (the ``bench`` extra) prints a ``skipped`` line: its
rows say so, and nothing fails.

    .venv/bin/python bench/pg.py [--quick] [--out FILE] [--only pg16,bosun_steps,...]
                                 [--repeats N] [--keep]

Before each measurement it waits (up to 30 s; --quick: 1 s) for other processes on the box to
go quiet, and it reports how much CPU they used during each measurement ("other CPU"), and the
CPU cost per unit of work of each system (client + its PostgreSQL backends), which a busy box
disturbs much less than the rates. Needs the server on this machine for the backend CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import BENCH_DIR
from _pg import REPO, CpuMonitor, create_database, drop_database, server_url, subprocess_env
from _pg_report import render
from core import cpu_model, tail


@dataclass(frozen=True)
class Measurement:
    key: str
    script: str
    full: str  # arguments, space-separated
    quick: str
    repeats: int  # in a full run; --quick runs everything once


MEASUREMENTS = [
    # key, script, full-run arguments, --quick arguments, repeats in a full run
    Measurement("pg1", "pg_raw.py", "--clients 1", "--clients 1 --seconds 1", 3),
    Measurement("pg16", "pg_raw.py", "--clients 16", "--clients 16 --seconds 1", 3),
    Measurement(
        "dbos",
        "pg_dbos.py",
        "--runs 100 --seconds 5",
        "--runs 20 --warmup 3 --ramp 0.5 --seconds 1.5",
        3,
    ),
    Measurement(
        "langgraph",
        "pg_langgraph.py",
        "--runs 100 --seconds 5",
        "--runs 20 --warmup 3 --ramp 0.5 --seconds 1.5",
        3,
    ),
    Measurement(
        "restate",
        "pg_restate.py",
        "--mode flight --runs 100 --seconds 5",
        "--mode flight --runs 20 --warmup 3 --ramp 0.5 --seconds 1.5",
        3,
    ),
    Measurement(
        "restate_lat",
        "pg_restate.py",
        "--mode latency --seconds 10",
        "--mode latency --seconds 3 --warmup 0.5",
        3,
    ),
    Measurement(
        "absurd",
        "pg_absurd.py",
        "--mode flight --runs 100 --seconds 5",
        "--mode flight --runs 20 --warmup 3 --ramp 0.5 --seconds 1.5",
        3,
    ),
    Measurement(
        "absurd_fast",
        "pg_absurd.py",
        "--mode flight --runs 100 --seconds 5 --poll-interval 0.01",
        "--mode flight --runs 20 --warmup 3 --ramp 0.5 --seconds 1.5 --poll-interval 0.01",
        3,
    ),
    Measurement(
        "absurd_lat",
        "pg_absurd.py",
        "--mode latency --seconds 10",
        "--mode latency --seconds 3 --warmup 0.5",
        3,
    ),
    Measurement(
        "pgq",
        "pg_pgqueuer.py",
        "--mode throughput --jobs 20000",
        "--mode throughput --jobs 5000",
        3,
    ),
    Measurement(
        "pgq_lat",
        "pg_pgqueuer.py",
        "--mode latency --seconds 20",
        "--mode latency --seconds 3 --warmup 0.5",
        1,
    ),
    Measurement(
        "bosun_flight",
        "pg_bosun.py",
        "--mode flight --seq-runs 200 --seconds 5",
        "--mode flight --seq-runs 50 --warmup-runs 10 --ramp 0.5 --seconds 1.5",
        3,
    ),
    Measurement("bosun_one", "pg_bosun.py", "--mode one --runs 6000", "--mode one --runs 1500", 3),
    Measurement(
        "bosun_steps",
        "pg_bosun.py",
        "--mode steps --runs 2000 --workers 2",
        "--mode steps --runs 300 --workers 2",
        3,
    ),
    Measurement(
        "bosun_lat",
        "pg_bosun.py",
        "--mode latency --seconds 20",
        "--mode latency --seconds 3 --warmup 0.5",
        1,
    ),
    Measurement(
        "bosun_lat20",
        "pg_bosun.py",
        "--mode latency --rate 20 --seconds 10",
        "--mode latency --rate 20 --seconds 3 --warmup 0.5",
        3,
    ),
    Measurement(
        "bosun_recovery",
        "pg_bosun.py",
        "--mode recovery --runs 16 --lease-ttl 2",
        "--mode recovery --runs 8 --lease-ttl 2",
        3,
    ),
]
KEYS = [m.key for m in MEASUREMENTS]
PACKAGES = (
    "psycopg",
    "asyncpg",
    "dbos",
    "langgraph",
    "langgraph-checkpoint-postgres",
    "pgqueuer",
    "restate-sdk",
    "hypercorn",
    "absurd-sdk",
    "absurdctl",
)


def server_info(server: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        settings = []
        for name in ("synchronous_commit", "fsync", "wal_sync_method", "shared_buffers"):
            row = conn.execute(f"SHOW {name}").fetchone()
            settings.append(f"{name}={row[0] if row else '?'}")
    return {"postgresql": f"{version[0] if version else '?'} ({', '.join(settings)})"}


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{rev}{' + uncommitted changes in src/' if dirty else ''}"


def machine_info(server: str) -> dict[str, str]:
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cpus": str(os.cpu_count()),
        "cpu model": cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        **server_info(server),
        "bosun": git_revision(),
    }
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} -")
    info["packages"] = ", ".join(versions)
    return info


def run_one(
    m: Measurement, args: list[str], server: str, timeout: float, keep: bool
) -> tuple[dict[str, Any] | None, str]:
    """Create a database, run the sub-script on it, drop it; (parsed JSON, "") or (None, why)."""
    stem = m.key.replace("_", "")
    try:
        url = create_database(server, stem)
    except Exception as exc:
        return None, f"could not create the database: {exc}"
    cmd = [sys.executable, str(BENCH_DIR / m.script), "--url", url, *args]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=subprocess_env()
        )
    except subprocess.TimeoutExpired as exc:
        return None, f"timed out after {timeout:.0f} s\n{tail(exc.stderr)}"
    finally:
        if not keep:
            try:
                drop_database(server, url)
            except Exception as exc:
                print(f"   (could not drop {url}: {exc})", flush=True)
    for line in reversed(proc.stdout.splitlines()):
        if proc.returncode == 0 and line.startswith("{"):
            try:
                return json.loads(line), ""
            except json.JSONDecodeError:
                break
    return None, f"exit status {proc.returncode}\n{tail(proc.stderr or proc.stdout)}"


def summary(data: dict[str, Any]) -> str:
    keys = (
        "tx_per_s",
        "runs_per_s",
        "jobs_per_s",
        "steps_per_s",
        "p50_ms",
        "p99_ms",
        "recovery_max_s",
    )
    return ", ".join(f"{k}={data[k]:,.2f}" for k in keys if isinstance(data.get(k), int | float))


def notes_for(
    results: dict[str, list[dict[str, Any]]], errors: dict[str, list[str]], quick: bool
) -> list[str]:
    skip = {"system", "mode"}
    notes = []
    if quick:
        notes.append("--quick: one short repeat each; use a full run for numbers to quote")
    for key, runs in results.items():
        if runs:
            config = {
                k: v
                for k, v in runs[0].items()
                if k not in skip and isinstance(v, str | int) and not isinstance(v, bool)
            }
            shown = ", ".join(f"{k}={v}" for k, v in sorted(config.items()))
            cpu = ", ".join(
                f"{name} {statistics.median(r[field] for r in runs):.2f}"
                for name, field in (
                    ("benchmark", "bench_cpu"),
                    ("PostgreSQL", "postgres_cpu"),
                    ("other", "foreign_cpu"),
                )
                if all(field in r for r in runs)
            )
            notes.append(f"{key}: {shown}; CPU cores over the whole subprocess: {cpu}")
        for error in errors.get(key, []):
            lines = error.strip().splitlines() or ["?"]
            notes.append(f"{key}: FAILED ({lines[0]}): {lines[-1]}")
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (< 60 s)")
    parser.add_argument("--out", type=Path, help="also write the report as Markdown here")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(KEYS)}")
    parser.add_argument("--repeats", type=int, help="override the number of rounds")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    args = parser.parse_args()
    only = args.only.split(",") if args.only else KEYS
    if unknown := set(only) - set(KEYS):
        parser.error(f"unknown measurements: {', '.join(sorted(unknown))}")
    chosen = [m for m in MEASUREMENTS if m.key in only]

    server = server_url()
    try:
        machine = machine_info(server)
    except Exception as exc:  # psycopg.OperationalError and friends: say what and where
        sys.exit(f"cannot reach PostgreSQL at {server} (set BENCH_PG_URL): {exc}")
    print("\n".join(f"{k}: {v}" for k, v in machine.items()), flush=True)

    timeout = 60.0 if args.quick else 240.0
    monitor = CpuMonitor()
    quiet = (0.25, 0.3, 1.0) if args.quick else (0.25, 1.0, 30.0)  # cores, settle s, max wait s
    rounds = args.repeats or (1 if args.quick else max(m.repeats for m in chosen))
    results: dict[str, list[dict[str, Any]]] = {m.key: [] for m in chosen}
    errors: dict[str, list[str]] = {}
    skipped: dict[str, str] = {}  # measurement -> why its system is not installed
    t_start = time.perf_counter()
    for r in range(rounds):
        for m in chosen:
            if r >= (1 if args.quick else (args.repeats or m.repeats)) or m.key in skipped:
                continue
            margs = (m.quick if args.quick else m.full).split()
            print(f"\n== {m.key} [{r + 1}]: {m.script} {' '.join(margs)}", flush=True)
            before = monitor.wait_quiet(*quiet)
            t0 = time.perf_counter()
            monitor.mark()
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            data, error = run_one(m, margs, server, timeout, args.keep)
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            load, wall = monitor.window(), time.perf_counter() - t0
            if data is not None and "skipped" in data:
                skipped[m.key] = str(data["skipped"])
                status = f"skipped: {skipped[m.key]}"
            elif data is not None:
                ours = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
                data["bench_cpu"] = ours / wall
                data["foreign_cpu"] = load["foreign"]
                data["postgres_cpu"] = load["postgres"]
                data["foreign_cpu_before"] = before
                results[m.key].append(data)
                status = f"ok: {summary(data)}; other processes {load['foreign']:.2f} cores"
            else:
                errors.setdefault(m.key, []).append(error)
                status = f"FAILED: {error}"
            print(f"   {time.perf_counter() - t0:.1f} s, {status}", flush=True)
    monitor.close()
    machine["benchmark wall time"] = f"{time.perf_counter() - t_start:.0f} s"

    notes = notes_for(results, errors, args.quick)
    notes += [f"{key}: skipped, {why}" for key, why in skipped.items()]
    report = render(machine, results, notes, skipped)
    print("\n" + report, end="")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"# bosun PostgreSQL benchmark\n\n{report}")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
