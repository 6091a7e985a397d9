"""The benchmarks the README and docs/benchmarks.md cite still run (a short smoke pass).

Only bosun's own measurements run here, and the SQLite anchor, which needs no extra package.
The other anchors need the `bench` extra. Timing is never asserted: speed is measured by the
benchmarks themselves.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def bench(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), "--quick", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sqlite_benchmark_prints_its_table() -> None:
    out = bench("core.py", "--only", "sqlite,bosun")
    assert "single-row INSERT+COMMIT" in out
    assert "sequential 3-step p50" in out and "durable steps/s" in out
    assert "FAILED" not in out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_postgres_benchmark_prints_its_table(pg_template: str) -> None:
    import os

    from tests.conftest import PG_URL

    out = bench(
        "pg.py",
        "--only",
        "pg1,bosun_flight,bosun_recovery",
        env={**os.environ, "BENCH_PG_URL": PG_URL},
    )
    assert "INSERT+COMMIT tx/s, 1 client" in out
    assert "3-step runs/s, 64 in flight" in out and "SIGKILL -> resumed" in out
    assert "FAILED" not in out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_timer_benchmark_prints_its_table(pg_template: str) -> None:
    import os

    from tests.conftest import PG_URL

    out = bench("timers.py", env={**os.environ, "BENCH_PG_URL": PG_URL})
    assert "| sqlite |" in out and "| postgresql |" in out
