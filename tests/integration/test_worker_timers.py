"""A worker wakes itself for the runs it suspended on a short timer. A timer that fires
before the run's due time (uvloop measures delays from the start of a busy loop iteration)
must not wake a claim that would find the run not yet ready: it waits out the rest."""

from __future__ import annotations

import time

import bosun
from bosun.records import Outcome
from bosun.worker.worker import Worker, WorkerOptions
from tests.helpers.wait import wait_until


async def test_a_timer_that_fires_early_waits_out_the_rest(db_url: str) -> None:
    app = bosun.App("timers", database=db_url)
    async with app:
        worker = Worker(app, WorkerOptions())
        wake_at = time.time() + 0.2
        worker._timer_fired("r1", wake_at)  # as an early-firing timer would call it
        assert not worker._wake._flag and "r1" in worker._timers
        await wait_until(lambda: worker._wake._flag, 30, "the rescheduled timer to wake")
        assert time.time() >= wake_at and "r1" not in worker._timers


def test_on_uvloop_a_timer_rounded_down_still_wakes_on_time(db_url: str) -> None:
    """uvloop rounds `call_later` delays to whole milliseconds, so a run's timer could fire
    up to half a millisecond before it was due; the claim it woke found the run not yet ready
    and the run waited for the next poll (a third of a separate worker's 0.3 s sleepers woke
    100-200 ms late)."""
    import uvloop

    async def scenario() -> tuple[float, float]:
        app = bosun.App("timers", database=db_url)
        async with app:
            worker = Worker(app, WorkerOptions())
            wake_at = time.time() + 0.05049  # 50.49 ms: uvloop waits 50
            worker._schedule_local_wake("r1", Outcome("suspend", wake_at=wake_at))
            await wait_until(lambda: worker._wake._flag, 30, "the timer to wake the worker")
            return time.time(), wake_at

    woke, wake_at = uvloop.run(scenario())
    assert woke >= wake_at, f"woke {1000 * (wake_at - woke):.2f} ms before the run was due"
