"""bosun core benchmark: one command, one sitting, one disk, three systems, one table.

Runs, each in its own subprocess (so imports, threads and event loops cannot interfere), with
every database file in one fresh directory under ``bench/.data`` (same filesystem for all):

(a) ``anchor_sqlite.py``: raw stdlib-sqlite3 single-row INSERT+COMMIT rate (WAL, synchronous=FULL);
(c) ``anchor_dbos.py``: DBOS Transact, 3-step workflow on SQLite: sequential p50/p99, 64 in flight;
(b) ``bosun_core.py``: bosun, the same workflow and phases;
(d) ``bosun_core.py --synchronous OFF`` ("ceiling"): bosun with SQLite's fsyncs switched off,
    not durable: what the process reaches when the disk costs nothing. Where it is not above
    the raw commit rate by a wide margin, the process's CPU, not the disk, bounds (b).

Each prints one JSON line; this script prints machine info, a table with ratios (value / anchor)
and the target checks. A failed subprocess is reported with its stderr tail and shown as FAILED.

    .venv/bin/python bench/core.py [--quick] [--out FILE] [--only bosun,dbos,ceiling] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BENCH_DIR, DATA_DIR
from _report import render

REPO = BENCH_DIR.parent
SYSTEMS = ("sqlite", "dbos", "bosun", "ceiling")  # run order
SCRIPTS = {
    "sqlite": "anchor_sqlite.py",
    "dbos": "anchor_dbos.py",
    "bosun": "bosun_core.py",
    "ceiling": "bosun_core.py",
}
FULL = {
    "sqlite": ["--seconds", "3"],
    "dbos": ["--runs", "200", "--ramp", "1", "--seconds", "5"],
    "bosun": ["--runs", "1000", "--ramp", "1", "--seconds", "5"],
    "ceiling": ["--runs", "200", "--ramp", "1", "--seconds", "5", "--synchronous", "OFF"],
}
QUICK = {
    "sqlite": ["--seconds", "1"],
    "dbos": ["--runs", "50", "--warmup", "5", "--ramp", "0.5", "--seconds", "2"],
    "bosun": ["--runs", "200", "--warmup", "20", "--ramp", "0.5", "--seconds", "2"],
    "ceiling": ["--runs", "20", "--ramp", "0.5", "--seconds", "2", "--synchronous", "OFF"],
}


def machine_info(data_dir: Path) -> dict[str, str]:
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "cpus": str(os.cpu_count()),
        "cpu model": cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "data dir": f"{data_dir} ({filesystem(data_dir)})",
    }
    for package in ("dbos", "bosun"):
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = "not installed (bosun runs from src/)" if package == "bosun" else "-"
    return info


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def filesystem(path: Path) -> str:
    """Filesystem type and device of the mount holding ``path``, from /proc/mounts (Linux)."""
    target = str(path.resolve())
    best = ("", "unknown", "")  # (mountpoint, device, fstype)
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    for line in mounts:
        device, mountpoint, fstype = line.split()[:3]
        inside = target == mountpoint or target.startswith(mountpoint.rstrip("/") + "/")
        if inside and len(mountpoint) >= len(best[0]):
            best = (mountpoint, device, fstype)
    return f"{best[2]} on {best[1]}" if best[0] else "unknown"


def run_system(
    system: str, args: list[str], db: Path, timeout: float
) -> tuple[dict[str, Any] | None, str]:
    """Run one sub-script; return (parsed JSON, "") or (None, failure description)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    cmd = [sys.executable, str(BENCH_DIR / SCRIPTS[system]), "--db", str(db), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        return None, f"timed out after {timeout:.0f} s\n{tail(exc.stderr)}"
    for line in reversed(proc.stdout.splitlines()):
        if proc.returncode == 0 and line.startswith("{"):
            try:
                return json.loads(line), ""
            except json.JSONDecodeError:
                break
    return None, f"exit status {proc.returncode}\n{tail(proc.stderr or proc.stdout)}"


def tail(text: str | bytes | None, lines: int = 15) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").rstrip().splitlines()[-lines:])


def notes_for(results: dict[str, dict[str, Any] | None], errors: dict[str, str]) -> list[str]:
    """One line per system: the configuration it reported, or the last line of its failure."""
    skip = {"system"}
    notes = []
    for system, data in results.items():
        if data is None:
            last = errors.get(system, "").strip().splitlines() or ["?"]
            notes.append(f"{system}: FAILED ({last[0]}): {last[-1]}")
            continue
        config = {k: v for k, v in data.items() if k not in skip and isinstance(v, str | int)}
        notes.append(f"{system}: " + ", ".join(f"{k}={v}" for k, v in sorted(config.items())))
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (< 30 s)")
    parser.add_argument("--out", type=Path, help="also write the report as Markdown here")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SYSTEMS)}")
    parser.add_argument("--keep", action="store_true", help="keep the database files")
    args = parser.parse_args()
    only = args.only.split(",") if args.only else list(SYSTEMS)
    if unknown := set(only) - set(SYSTEMS):
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix=time.strftime("run-%Y%m%d-%H%M%S-"), dir=DATA_DIR))
    machine = machine_info(data_dir)
    print("\n".join(f"{k}: {v}" for k, v in machine.items()), flush=True)

    params, timeout = (QUICK, 60.0) if args.quick else (FULL, 180.0)
    results: dict[str, dict[str, Any] | None] = {}
    errors: dict[str, str] = {}
    try:
        for system in (s for s in SYSTEMS if s in only):
            print(f"\n== {system}: {' '.join(params[system])}", flush=True)
            t0 = time.perf_counter()
            data, error = run_system(system, params[system], data_dir / f"{system}.sqlite", timeout)
            results[system], errors[system] = data, error
            status = "ok" if data else f"FAILED: {error}"
            print(f"   {time.perf_counter() - t0:.1f} s, {status}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    report = render(machine, results, notes_for(results, errors))
    print("\n" + report, end="")
    if args.out:
        args.out.write_text(f"# bosun core benchmark\n\n{report}")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
