"""A model's rate limit holds across two worker processes: calls never outrun the bucket."""

from __future__ import annotations

import signal

import pytest

from conftest import APPS, Env, wait_exit, wait_for

APP = APPS / "llm_limited.py"
RUNS = 10
RATE, BURST = 2.0, 2  # RateLimit(requests=2, per=1.0): 2 per second, bursts of 2


@pytest.mark.timeout(90)
def test_llm_calls_share_one_rate_limit_across_worker_processes(env: Env) -> None:
    ids = [env.submit(APP, "ask") for _ in range(RUNS)]
    workers = [env.worker(APP, "--concurrency", "8", name=f"w{i}") for i in range(2)]
    wait_for(
        lambda: env.count("SELECT count(*) FROM runs WHERE status = 'completed'") == RUNS,
        60,
        "every run to complete",
    )
    for i, worker in enumerate(workers):
        worker.send_signal(signal.SIGTERM)
        assert wait_exit(worker, 20, env, f"w{i}") == 0
    starts = sorted(
        r["started_at"] for r in env.query("SELECT started_at FROM journal WHERE kind = 'llm'")
    )
    assert len(starts) == RUNS
    # A token bucket allows at most BURST + RATE * t calls in any window of t seconds (one
    # more for the moment between a call's reservation and its start).
    for i, first in enumerate(starts):
        for j in range(i, len(starts)):
            window = starts[j] - first
            assert j - i + 1 <= BURST + RATE * window + 1e-6 + 1, (i, j, window, starts)
    assert starts[-1] - starts[0] >= (RUNS - BURST) / RATE - 0.5
    assert len({env.show(i)["result"] for i in ids}) == 1
