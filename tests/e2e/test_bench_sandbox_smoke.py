"""The sandbox benchmark docs/benchmarks.md cites still runs (a short smoke pass).

Timing is never asserted (the benchmark measures it); that every sandboxed run succeeded is,
through its exit status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bosun.sandbox.bwrap import BubblewrapBackend

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_sandbox_benchmark_prints_its_table() -> None:
    ok, reason = BubblewrapBackend().available()
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(
                f"CI must run the sandbox benchmark (.ci/run installs bubblewrap): {reason}"
            )
        pytest.skip(f"bubblewrap unavailable: {reason}")
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "sandbox.py"), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=45,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "| true                 | plain    |" in out
    assert "| true                 | sandbox  |" in out
    assert "true: overhead p50" in out
    assert "target: overhead p50 of `true` <= 30 ms:" in out
    assert "FAILED" not in out
