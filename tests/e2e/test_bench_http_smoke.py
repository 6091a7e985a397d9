"""The HTTP benchmark docs/benchmarks.md cites still runs (a short smoke pass on SQLite).

Timing is never asserted: speed is measured by the benchmark itself. Its correctness check
(every SSE subscriber got every event exactly once, in order) is, through its exit status.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_http_benchmark_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "http_api.py"), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "== (a) HTTP submits" in out and "== (b) SSE" in out
    assert "HTTP POST /v1/runs: submits/s, 32 clients" in out
    assert "in-process app.start: submits/s" in out
    assert "SSE: delivery p50 (ms)" in out and "server RSS" in out
    assert "HTTP submits/s vs in-process app.start on the same database" in out
    assert "every subscriber got every event exactly once, in order: PASS" in out
    assert "FAILED" not in out
