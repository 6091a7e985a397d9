"""A model's rate limit holds across two worker processes: calls never outrun the bucket."""

from __future__ import annotations

import signal

import pytest
from tests.helpers.processes import APPS, Env, wait_exit
from tests.helpers.wait import wait_for

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
    # Each call's grant, journaled with the bucket's own time of it (in the transaction that
    # took from the bucket): exact, however late the call itself started after it.
    grants = sorted(
        r["finished_at"]
        for r in env.query(
            "SELECT finished_at FROM journal WHERE kind = 'reserve' AND status = 'completed'"
        )
    )
    assert len(grants) == RUNS
    assert env.count("SELECT count(*) FROM journal WHERE kind = 'llm'") == RUNS
    # A token bucket grants at most BURST + RATE * t calls in any window of t seconds.
    for i, first in enumerate(grants):
        for j in range(i, len(grants)):
            window = grants[j] - first
            assert j - i + 1 <= BURST + RATE * window + 1e-6, (i, j, window, grants)
    assert grants[-1] - grants[0] >= (RUNS - BURST) / RATE - 1e-6
    assert len({env.show(i)["result"] for i in ids}) == 1
