"""The agent benchmark docs/benchmarks.md cites still runs (a short smoke pass on SQLite).

Timing is never asserted: speed is measured by the benchmark itself. Its correctness check
(every streamed token reached the SSE client once, in order) is, through its exit status.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_agent_benchmark_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "agents.py"), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "== (a) agent loop" in out and "== (b) SSE token streams" in out
    assert "plain Python loop: wall ms/turn, 16 in flight" in out
    assert "bosun Agent: CPU ms/turn" in out and "replay: CPU ms/turn" in out
    assert "SSE, 1 stream: token delivery p50 (ms)" in out
    assert "bosun Agent vs the plain loop, per turn, 16 in flight" in out
    assert "every streamed token arrived once, in order: PASS" in out
    assert "FAILED" not in out
