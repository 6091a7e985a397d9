"""Serverless cold start: process spawn -> first step of a drain-mode worker, and `import` times.

A drain-mode worker (`bosun worker app.py --until-idle`) is the shape of every Lambda, Cloud
Run job and KEDA ScaledJob invocation: the process starts, imports, opens the database, claims
what is ready, runs it and exits. Each repeat submits one run of a plain workflow (one step,
no agent features; `cold_start_app.py`), then spawns the worker; the step returns
`time.time()` when it starts, and spawn -> first step is that minus the time just before the
spawn. The database is migrated before the first spawn (a deployed worker finds it so).

It also times `python -c "import X"` for bosun and, when installed, DBOS Transact, Restate's
SDK (`restate-sdk`), Absurd (`absurd-sdk`) and pgqueuer, each minus a bare `python -c pass`,
and prints ratios to bosun's. Repeats are interleaved (one of each per round) so a busy
machine disturbs them alike; medians with min-max spread. `--baseline DIR` adds the same
measurements of another bosun source tree (e.g. `git archive HEAD src | tar -x -C DIR`),
interleaved with these, for a before/after comparison in one sitting.

    .venv/bin/python bench/cold_start.py [--repeats 15] [--quick] [--pg URL] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import BENCH_DIR, DATA_DIR, emit
from _pg import REPO, create_database, drop_database, server_url, subprocess_env

APP = BENCH_DIR / "cold_start_app.py"
BOSUN = str(Path(sys.executable).parent / "bosun")
# (label, module imported): the durable-execution systems a cold start could be compared to
IMPORTS = [
    ("bosun", "bosun"),
    ("dbos", "dbos"),
    ("restate-sdk", "restate"),
    ("absurd-sdk", "absurd_sdk"),
    ("pgqueuer", "pgqueuer"),
]


def load_app(url: str):  # type: ignore[no-untyped-def]
    import cold_start_app

    cold_start_app.app.use_database(url)
    return cold_start_app.app


async def submit(url: str) -> str:
    """Open (and migrate) the database and submit one run; return its id."""
    app = load_app(url)
    async with app:
        handle = await app.start("first")
        return handle.run_id


async def first_step_at(url: str, run_id: str) -> float:
    app = load_app(url)
    async with app:
        value: float = await app.get_handle(run_id).result(timeout=30)
        return value


def env_for(src: Path | None) -> dict[str, str]:
    """The child's environment: bosun from `src` when given (a baseline tree), else this one."""
    env = subprocess_env()
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env["PYTHONPATH"]])
    return env


def helper(src: Path | None, *args: str) -> str:
    """Submit or read through the tree under test (each tree migrates its own databases)."""
    cmd = [sys.executable, __file__, *args]
    done = subprocess.run(cmd, env=env_for(src), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def cold_start(url: str, src: Path | None = None) -> tuple[float, float]:
    """One spawn of a drain-mode worker: (spawn -> first step, spawn -> exit) in seconds."""
    run_id = helper(src, "--submit", url)
    env = env_for(src)
    cmd = [BOSUN, "worker", str(APP), "--until-idle", "--database", url]
    spawned = time.time()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    exited = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"worker exited {done.returncode}: {done.stderr[-2000:]}")
    return float(helper(src, "--read", url, run_id)) - spawned, exited - spawned


def import_time(module: str | None, src: Path | None = None, no_bytecode: str = "") -> float:
    """`python -c "import module"`; with `no_bytecode` (an empty folder), as where no `.pyc`
    was ever written: Python looks for bytecode there only, and writes none."""
    code = "pass" if module is None else f"import {module}"
    env = env_for(src)
    if no_bytecode:
        env.update(PYTHONPYCACHEPREFIX=no_bytecode, PYTHONDONTWRITEBYTECODE="1")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - start


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": statistics.median(samples) * 1e3,
        "min_ms": min(samples) * 1e3,
        "max_ms": max(samples) * 1e3,
    }


def rounds(repeats: int, trials: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in trials}
    for _ in range(repeats):
        for name, trial in trials.items():
            samples[name].append(trial())
    return samples


def spawn_trials(
    urls: dict[tuple[str, str], str], trees: list[tuple[str, Path | None]]
) -> tuple[dict[str, Callable[[], float]], dict[str, list[float]]]:
    """One trial per (store, tree): spawn -> first step; spawn -> exit goes to the second."""
    trials: dict[str, Callable[[], float]] = {}
    exits: dict[str, list[float]] = {}
    for store in ("sqlite", "postgresql"):
        for suffix, src in trees:
            name, url = store + suffix, urls[store, suffix]
            exits[name] = []

            def trial(url: str = url, src: Path | None = src, name: str = name) -> float:
                first, exited = cold_start(url, src)
                exits[name].append(exited)
                return first

            trials[name] = trial
    return trials, exits


def row(label: str, samples: list[float], note: str = "") -> dict[str, float]:
    s = summary(samples)
    print(f"| {label} | {s['median_ms']:.0f}{note} | {s['min_ms']:.0f}-{s['max_ms']:.0f} |")
    return s


def compile_trees(trees: list[Path]) -> None:
    """Write the trees' bytecode. A deployed bosun has it (pip compiles a package as it
    installs it); a source tree in an environment with PYTHONDONTWRITEBYTECODE=1 never gets
    it written, and each spawn would compile every module it imports: not what a deployment
    pays."""
    for tree in trees:
        compileall.compile_dir(tree, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="1 repeat: a smoke run")
    parser.add_argument("--pg", default=server_url(), help="PostgreSQL server (maintenance db)")
    parser.add_argument("--baseline", type=Path, help="another bosun src/ tree to compare")
    parser.add_argument("--submit", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--read", nargs=2, metavar=("URL", "RUN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.submit:
        print(asyncio.run(submit(args.submit)))
        return
    if args.read:
        print(asyncio.run(first_step_at(*args.read)))
        return
    repeats = 1 if args.quick else args.repeats
    trees: list[tuple[str, Path | None]] = [("", None)]
    if args.baseline is not None:
        trees.append((" (baseline)", args.baseline))
    compile_trees([src or REPO / "src" for _, src in trees])

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    pg_urls = {suffix: create_database(args.pg, "cold") for suffix, _ in trees}
    try:
        with tempfile.TemporaryDirectory(prefix="cold-", dir=DATA_DIR) as tmp:
            urls = {("postgresql", suffix): url for suffix, url in pg_urls.items()}
            for n, (suffix, src) in enumerate(trees):
                urls["sqlite", suffix] = f"sqlite:///{tmp}/cold{n}.db"
                for store in ("sqlite", "postgresql"):
                    cold_start(urls[store, suffix], src)  # migrate, and warm the OS caches
            trials, exits = spawn_trials(urls, trees)
            starts = rounds(repeats, trials)
    finally:
        for url in pg_urls.values():
            drop_database(args.pg, url)

    installed = [(label, mod) for label, mod in IMPORTS if importlib.util.find_spec(mod)]
    imports_of: dict[str, Callable[[], float]] = {"python -c pass": lambda: import_time(None)}
    imports_of.update({label: (lambda m=mod: import_time(m)) for label, mod in installed})
    if args.baseline is not None:
        imports_of["bosun (baseline)"] = lambda: import_time("bosun", args.baseline)
    with tempfile.TemporaryDirectory(prefix="no-pyc-") as empty:
        imports_of["bosun, no bytecode"] = lambda: import_time("bosun", no_bytecode=empty)
        imports = rounds(repeats, imports_of)
    bare = statistics.median(imports.pop("python -c pass"))

    print(
        f"cold start, {repeats} repeats interleaved, {os.cpu_count()} CPUs "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})"
    )
    print("| measure | median (ms) | min-max (ms) |")
    print("|---|---|---|")
    result: dict[str, object] = {"repeats": repeats, "python_bare_ms": bare * 1e3}
    for name, samples in starts.items():
        result[f"{name}_first_step"] = row(f"{name}: spawn -> first step", samples)
        result[f"{name}_exit"] = row(f"{name}: spawn -> exit", exits[name])
    print(f"| python -c pass | {bare * 1e3:.0f} | |")
    own = statistics.median(imports["bosun"]) - bare
    for label, samples in imports.items():
        net = [x - bare for x in samples]
        note = "" if label == "bosun" else f" ({statistics.median(net) / own:.2f}x bosun)"
        result[f"import_{label}"] = row(f"import {label} (minus bare python)", net, note)
    for store, goal in (("sqlite", 150), ("postgresql", 200)):
        median = statistics.median(starts[store]) * 1e3
        verdict = "met" if median <= goal else "NOT met"
        print(f"target: {store} spawn -> first step <= {goal} ms: {verdict} ({median:.0f} ms)")
        if args.baseline is not None:
            before = statistics.median(starts[f"{store} (baseline)"]) * 1e3
            print(f"{store}: spawn -> first step, baseline / now: {before / median:.2f}x")
    emit(result)


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH_DIR))
    main()
