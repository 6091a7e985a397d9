"""A worker that stalls past its lease loses the run and can write nothing afterwards."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections import Counter
from collections.abc import Callable

import pytest

import bosun
from bosun.records import Lease, Progress, RunFilter
from bosun.worker.worker import Worker
from tests.helpers.wait import wait_until


def build(
    db_url: str,
    effects: Counter[str],
    stall: threading.Event | None = None,
    charging: threading.Event | None = None,
) -> tuple[bosun.App, bosun.Workflow]:
    """`stall`: `charge` sets `charging`, then blocks its worker's event loop (no heartbeat:
    the lease expires) until `stall` is set."""
    app = bosun.App("fence", database=db_url, lease_ttl=0.5)

    @app.step(name="charge")
    async def charge() -> str:
        effects["charge"] += 1
        if stall is not None and charging is not None:
            charging.set()
            stall.wait(60)  # blocks the event loop: no heartbeat, the lease expires
        return "charged"

    @app.step(name="ship")
    async def ship() -> str:
        effects["ship"] += 1
        return "shipped"

    @app.workflow(name="order")
    async def order(ctx: bosun.Context) -> list[str]:
        return [await charge(), await ship()]

    return app, order


def rescue(
    db_url: str,
    effects: Counter[str],
    go: threading.Event,
    done: threading.Event,
    result: list[object],
) -> None:
    """In a thread: once `go` is set, run a worker of its own (its own event loop) until the
    run completed, put its result in `result`; set `done` in any case."""

    async def main() -> None:
        app, _ = build(db_url, effects)
        async with app, app.worker(poll_interval=0.05, lease_ttl=0.5):
            while True:
                runs = await app.store.list_runs(RunFilter())
                if runs and runs[0].status == "completed":
                    result.append(runs[0].result)
                    return
                await asyncio.sleep(0.05)

    try:
        if go.wait(60):
            asyncio.run(main())
    finally:
        done.set()


async def rescued(
    app: bosun.App,
    order: bosun.Workflow,
    worker: Worker,
    rescuer: Callable[[], None],
    done: threading.Event,
) -> bosun.RunHandle[list[str]]:
    """Start the rescuer's thread, then the run (the thread first: once this worker's loop
    stalls it runs nothing); return once the rescuer is done and this worker let go."""
    threading.Thread(target=rescuer, daemon=True).start()
    handle: bosun.RunHandle[list[str]] = await app.start(order)
    assert await asyncio.to_thread(done.wait, 60)
    await wait_until(lambda: not worker._active, 30, "the worker to let go of the run")
    return handle


async def test_a_stalled_worker_cannot_write_after_takeover(any_db_url: str) -> None:
    effects: Counter[str] = Counter()
    charging, rescuer_done = threading.Event(), threading.Event()
    # The stalled worker wakes only once the rescuer has taken the run over and finished it.
    stalled, order = build(any_db_url, effects, stall=rescuer_done, charging=charging)
    rescuer_result: list[object] = []
    # Once the stalled worker holds the run, another takes it over.
    rescuer = functools.partial(rescue, any_db_url, effects, charging, rescuer_done, rescuer_result)

    async with stalled:
        async with stalled.worker(lease_ttl=0.5) as worker:
            handle = await rescued(stalled, order, worker, rescuer, rescuer_done)
        record = await handle.status()
        journal = await stalled.store.get_journal(handle.run_id)
    assert record.status == "completed" and rescuer_result == [record.result]
    # The rescuer re-ran the step that was in flight; the stalled worker's late completion of
    # it was refused, and it never got to run `ship`.
    assert effects == {"charge": 2, "ship": 1}
    assert [(e.name, e.status, e.attempt) for e in journal] == [
        ("charge", "completed", 1),
        ("ship", "completed", 1),
    ]
    assert record.attempts == 2


async def test_a_worker_starved_through_a_commit_does_not_start_the_next_step(
    any_db_url: str,
) -> None:
    """The commit that announces `ship` returns only after the lease lapsed and another
    worker took the run over and ran `ship`: the starved worker must not run it again."""
    effects: Counter[str] = Counter()
    committed, rescuer_done = threading.Event(), threading.Event()
    starved, order = build(any_db_url, effects)
    rescuer_result: list[object] = []
    rescuer = functools.partial(
        rescue, any_db_url, effects, committed, rescuer_done, rescuer_result
    )

    async with starved:
        store = starved.store
        save_progress = store.save_progress

        async def starving(lease: Lease, progress: Progress, lease_ttl: float) -> None:
            await save_progress(lease, progress, lease_ttl)
            if any(entry.name == "charge" for entry in progress.journal):
                committed.set()  # `charge` is durable and `ship` announced…
                rescuer_done.wait(60)  # …and this event loop starves until `ship` ran elsewhere

        store.save_progress = starving  # type: ignore[method-assign]
        async with starved.worker(lease_ttl=0.5) as worker:
            handle = await rescued(starved, order, worker, rescuer, rescuer_done)
        record = await handle.status()
    assert record.status == "completed" and rescuer_result == [record.result]
    assert effects == {"charge": 1, "ship": 1}


async def test_a_run_that_ends_during_a_lease_renewal_is_not_reported_lost(
    any_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A renewal that meets a run its own outcome write just ended says nothing: only a lease
    another worker took (or a cancel) is a loss."""
    app = bosun.App("renewal", database=any_db_url)
    renewing, renewed = asyncio.Event(), asyncio.Event()

    @app.step()
    async def wait_for_renewal() -> str:
        await renewing.wait()
        return "done"

    @app.workflow()
    async def one(ctx: bosun.Context) -> str:
        return await wait_for_renewal()

    async with app:
        store = app.store
        renew = store.renew_leases
        handle = await app.start(one)

        async def late_renewal(owner: str, leases: list[Lease], lease_ttl: float) -> list[Lease]:
            if not leases or renewing.is_set():
                return await renew(owner, leases, lease_ttl)
            renewing.set()  # the run ends, and its outcome commits, before this renewal
            assert await handle.result(timeout=30) == "done"
            lost = await renew(owner, leases, lease_ttl)
            renewed.set()  # the heartbeat reads `lost` as soon as this returns
            return lost

        store.renew_leases = late_renewal  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="bosun.worker"):
            async with app.worker(lease_ttl=0.3, poll_interval=0.05):
                await asyncio.wait_for(renewed.wait(), 30)
    assert not [r.getMessage() for r in caplog.records if "lease" in r.getMessage()]
