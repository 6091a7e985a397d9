"""Small helpers shared by the benchmark sub-scripts: percentiles, JSON output, temp paths.

Each sub-script prints exactly one JSON object as the last line of stdout; ``emit`` does that.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / ".data"


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``samples``; NaN when empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p99/mean of latencies given in seconds, reported in milliseconds."""
    return {
        "p50_ms": percentile(samples_s, 50) * 1e3,
        "p99_ms": percentile(samples_s, 99) * 1e3,
        "mean_ms": sum(samples_s) / len(samples_s) * 1e3 if samples_s else math.nan,
    }


def fresh_db_path(db: str | None, stem: str) -> Path:
    """Return ``db`` (deleting any old file and its -wal/-shm/-journal), or a new temp path."""
    if db is None:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f"{stem}-", dir=DATA_DIR)
        return Path(tmp) / f"{stem}.sqlite"
    path = Path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def emit(result: dict[str, Any]) -> None:
    """Print ``result`` as one JSON line on stdout (the line core.py reads)."""
    sys.stdout.flush()
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()


@dataclass
class Window:
    """A concurrent phase: lanes run until ``end``; only finishes after the ramp-up count."""

    start: float  # perf_counter() when the lanes were launched
    ramp_s: float  # ramp-up excluded from the rate (lanes all start at once)
    window_s: float  # measured window after the ramp

    @classmethod
    def begin(cls, ramp_s: float, window_s: float) -> Window:
        return cls(time.perf_counter(), ramp_s, window_s)

    @property
    def end(self) -> float:
        return self.start + self.ramp_s + self.window_s

    def open(self) -> bool:
        return time.perf_counter() < self.end

    def counted(self, finishes: Sequence[float]) -> int:
        lo = self.start + self.ramp_s
        return sum(lo <= t <= self.end for t in finishes)


@dataclass
class WorkflowMetrics:
    """Raw results of the two workflow phases, turned into the JSON fields core.py reads."""

    sequential_s: list[float]  # start -> result latency of each sequential run
    finishes: list[float]  # perf_counter() at which each concurrent run returned its result
    window: Window
    cpu_s: float  # process CPU time used by the whole concurrent phase (ramp and tail included)
    wall_s: float  # wall time of the whole concurrent phase

    def as_dict(self, steps_per_run: int) -> dict[str, float | int]:
        counted = self.window.counted(self.finishes)
        rate = counted / self.window.window_s
        return {
            "seq_runs": len(self.sequential_s),
            "seq_runs_per_s": len(self.sequential_s) / sum(self.sequential_s)
            if self.sequential_s
            else math.nan,
            **{f"seq_{k}": v for k, v in latency_ms(self.sequential_s).items()},
            "conc_runs": counted,
            "conc_seconds": self.window.window_s,
            "runs_per_s": rate,
            "steps_per_s": steps_per_run * rate,
            "cpu_ms_per_run": self.cpu_s / max(len(self.finishes), 1) * 1e3,
            "cpu_util": self.cpu_s / self.wall_s,
        }
