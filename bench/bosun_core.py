"""System under test (b): bosun running the 3-step workflow on SQLite (WAL, synchronous=FULL).

Three ``@app.step()`` coroutines (x+1, x*2, x-1) are chained in one ``@app.workflow()``; an
in-process worker (``app.worker(concurrency=64)``) executes runs from a fresh SQLite file.
Measures, from one asyncio event loop:

1. sequential: ``--runs`` runs one after another; ``app.start`` -> ``handle.result`` latency,
   p50/p99;
2. concurrent: ``--concurrency`` (64) lanes each starting a run and awaiting its result, so 64 are
   always in flight; runs finished in a ``--seconds`` window after a ``--ramp`` give runs/s and
   steps/s (3 durable steps per run).

``--synchronous`` sets the store's ``synchronous`` pragma (default FULL, as the anchors).
Prints one JSON line. Exits with status 2 and a message on stderr if bosun cannot be imported.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import sys
import time
from pathlib import Path
from typing import Any

from _common import Window, WorkflowMetrics, emit, fresh_db_path


def build_app(path: Path, synchronous: str) -> tuple[Any, Any]:
    """Create the bosun App over ``path`` and register the 3-step workflow; return (app, three)."""
    import bosun

    app = bosun.App("bench", database=f"sqlite:///{path}?synchronous={synchronous}")

    @app.step()
    async def s1(x: int) -> int:
        return x + 1

    @app.step()
    async def s2(x: int) -> int:
        return x * 2

    @app.step()
    async def s3(x: int) -> int:
        return x - 1

    @app.workflow()
    async def three(ctx: bosun.Context, x: int) -> int:
        return await s3(await s2(await s1(x)))

    return app, three


async def run_once(app: Any, three: Any, x: int) -> float:
    t0 = time.perf_counter()
    handle = await app.start(three, x)
    result = await handle.result(timeout=30)
    if result != 2 * (x + 1) - 1:
        raise AssertionError(f"three({x}) returned {result}")
    return time.perf_counter() - t0


async def concurrent(app: Any, three: Any, concurrency: int, window: Window) -> list[float]:
    finishes: list[float] = []

    async def lane(lane_id: int) -> None:
        i = 0
        while window.open():
            await run_once(app, three, lane_id * 1_000_000 + i)
            finishes.append(time.perf_counter())
            i += 1

    await asyncio.gather(*(lane(k) for k in range(concurrency)))
    return finishes


async def measure(args: argparse.Namespace, path: Path) -> WorkflowMetrics:
    app, three = build_app(path, args.synchronous)
    async with app, app.worker(concurrency=args.concurrency):
        for i in range(args.warmup):
            await run_once(app, three, i)
        seq = [await run_once(app, three, i) for i in range(args.runs)]
        cpu0, window = time.process_time(), Window.begin(args.ramp, args.seconds)
        finishes = await concurrent(app, three, args.concurrency, window)
        wall = time.perf_counter() - window.start
    return WorkflowMetrics(seq, finishes, window, time.process_time() - cpu0, wall)


def bosun_version() -> str:
    try:
        return importlib.metadata.version("bosun")
    except importlib.metadata.PackageNotFoundError:
        import bosun

        return str(getattr(bosun, "__version__", "source"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database file (default: fresh file under bench/.data)")
    parser.add_argument("--runs", type=int, default=1000, help="sequential runs")
    parser.add_argument("--warmup", type=int, default=50, help="sequential warm-up runs")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--ramp", type=float, default=1.0, help="concurrent ramp-up, not counted")
    parser.add_argument("--seconds", type=float, default=5.0, help="concurrent measured window")
    parser.add_argument(
        "--synchronous", default="FULL", choices=["OFF", "NORMAL", "FULL", "EXTRA"], type=str.upper
    )
    args = parser.parse_args()
    try:
        import bosun  # noqa: F401
    except ImportError as exc:
        hint = "pip install -e . or PYTHONPATH=src"
        print(f"bosun is not importable: {exc!r} ({hint})", file=sys.stderr)
        sys.exit(2)
    path = fresh_db_path(args.db, "bosun_core")
    metrics = asyncio.run(measure(args, path))
    emit(
        {
            "system": "bosun",
            "version": bosun_version(),
            "synchronous": args.synchronous,
            "concurrency": args.concurrency,
            **metrics.as_dict(steps_per_run=3),
        }
    )


if __name__ == "__main__":
    main()
