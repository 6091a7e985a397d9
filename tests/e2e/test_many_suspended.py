"""10 000 runs waiting on a signal cost rows, not worker memory; all of them finish once
signalled."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable

import psutil
import pytest
from tests.helpers.processes import APPS, Env, wait_exit
from tests.helpers.wait import wait_until

from bosun.loader import load_app

APP = APPS / "park.py"
RUNS = 10_000
BATCH = 1_000
# A leak of 1 KB per suspended run would add ~9 MB between the two samples.
MAX_GROWTH_MB = 6.0


async def in_batches(calls: list[Callable[[], Awaitable[object]]]) -> list[object]:
    results: list[object] = []
    for start in range(0, len(calls), BATCH):
        results += await asyncio.gather(*(call() for call in calls[start : start + BATCH]))
    return results


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_ten_thousand_suspended_runs_keep_worker_memory_flat(env: Env) -> None:
    app = load_app(str(APP))
    app.use_database(env.url)
    began = time.monotonic()
    async with app:
        handles = await in_batches([lambda i=i: app.start("park", n=i) for i in range(RUNS)])
        submitted = time.monotonic()

        worker = env.worker(APP, "--concurrency", "64", "--poll-interval", "0.05")
        process = psutil.Process(worker.pid)

        def suspended() -> int:
            assert worker.poll() is None, f"worker exited early:\n{env.log()}"
            return env.count("SELECT count(*) FROM runs WHERE status = 'suspended'")

        await wait_until(lambda: suspended() >= 1_000, 60, "1 000 suspended runs")
        rss_1k = process.memory_info().rss
        # Counted in the store: every suspension's write has committed, none is in flight.
        await wait_until(lambda: suspended() == RUNS, 60, f"{RUNS} suspended runs")
        parked = time.monotonic()
        rss_10k = process.memory_info().rss

        await in_batches([lambda h=h: h.signal("go", 1) for h in handles])
        await wait_until(
            lambda: env.count("SELECT count(*) FROM runs WHERE status = 'completed'") == RUNS,
            60,
            f"{RUNS} completed runs",
        )
        finished = time.monotonic()
        rss_done = process.memory_info().rss
        results = await in_batches([lambda h=h: h.result(timeout=60) for h in handles])

    worker.send_signal(signal.SIGTERM)
    assert wait_exit(worker, 15, env) == 0, env.log()
    assert results == [i + 1 for i in range(RUNS)]

    growth_mb = (rss_10k - rss_1k) / 2**20
    report = (
        f"worker RSS: {rss_1k / 2**20:.1f} MB at ~1 000 suspended, {rss_10k / 2**20:.1f} MB at "
        f"{RUNS} suspended (growth {growth_mb:+.1f} MB), {rss_done / 2**20:.1f} MB after all "
        f"completed; submit {submitted - began:.1f} s, park {parked - submitted:.1f} s, "
        f"signal+complete {finished - parked:.1f} s"
    )
    print("\n" + report)
    assert growth_mb < MAX_GROWTH_MB, report
