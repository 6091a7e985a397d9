"""A worker's background loops end when cancelled, whatever wakes them at the same moment.

On Python 3.11 `asyncio.wait_for` returns normally when the awaited event fires in the same
tick as the cancellation of the task awaiting it, so a loop built on it never ends: leaving
`async with app.worker()` hung. These tests cancel exactly in that tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

import bosun
from bosun.store import store_for_url
from bosun.worker import worker as worker_module
from bosun.worker.presence import Presence
from bosun.worker.worker import Worker, WorkerOptions


async def test_presence_loop_ends_when_cancelled_as_it_is_poked(db_url: str) -> None:
    store = store_for_url(db_url)
    await store.open()
    presence = Presence(
        store,
        worker_id="w-1",
        queues=("default",),
        concurrency=1,
        version="v1",
        compatible=(),
        workflows=("wf",),
        ttl=600.0,  # the loop's own timeout cannot end the wait during the test
        busy=lambda: 0,
        draining=lambda: True,
    )
    task = asyncio.create_task(presence.keep_fresh())
    await asyncio.sleep(0)  # one turn of the loop: the task now waits for a poke
    presence.changed()  # what request_stop() does...
    task.cancel()  # ...just before the worker cancels the loop
    done, _ = await asyncio.wait([task], timeout=30)
    assert task in done, "the presence loop swallowed its cancellation"
    assert task.cancelled()
    await store.close()


async def test_a_stopped_worker_returns_though_a_loop_ignores_cancel_and_the_store_hangs(
    db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The shutdown itself is bounded: a background loop that swallows its cancellation (as
    above, in code not ours) and a registry write that never returns (a server refusing
    connections, as a CI fleet once met after `stopped: …`) are waited for SHUTDOWN_WAIT,
    logged with the loop's stack, and left; the worker returns."""
    monkeypatch.setattr(worker_module, "SHUTDOWN_WAIT", 0.5)
    app = bosun.App("stopping", database=db_url)
    never = asyncio.Event()

    async def deaf_heartbeat(self: Worker) -> None:
        while not never.is_set():  # deaf to cancel until the test lets it go
            with contextlib.suppress(asyncio.CancelledError):
                await never.wait()

    async def hanging_retire(worker_id: str) -> None:
        await never.wait()

    monkeypatch.setattr(Worker, "_heartbeat", deaf_heartbeat)
    async with app:
        monkeypatch.setattr(app.store, "retire_worker", hanging_retire)
        with caplog.at_level(logging.WARNING, logger="bosun.worker"):
            async with asyncio.timeout(30):
                async with app.worker():
                    pass
    never.set()  # the loop left behind may end now (the event loop's close waits for it)
    messages = [r.getMessage() for r in caplog.records]
    assert any("bosun-heartbeat did not end" in m and "deaf_heartbeat" in m for m in messages)
    assert any("registry entry was not removed" in m for m in messages)


async def test_a_time_boxed_worker_exits_soon_after_its_budget_though_the_store_hangs(
    db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A drain-mode worker must be gone before its platform kills it. Its database stops
    answering mid-run (a claim, the hand-back and the registry write all hang): the claim in
    flight, the hand-back and the exit get HANDBACK_WAIT past the budget together, and the
    run it could not hand back is counted as kept (it resumes when its lease expires)."""
    app = bosun.App("boxed", database=db_url)
    never = asyncio.Event()
    started = asyncio.Event()

    @app.step()
    async def block() -> None:
        started.set()
        await never.wait()

    @app.workflow()
    async def held(ctx: bosun.Context) -> None:
        await block()

    async def hang(*args: object, **kwargs: object) -> None:
        await never.wait()

    async with app:
        run = await app.start(held)
        claim = app.store.claim_runs

        async def claim_until_the_step_started(*args: object, **kwargs: object) -> object:
            if started.is_set():
                await never.wait()  # the database went away
            return await claim(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(app.store, "claim_runs", claim_until_the_step_started)
        monkeypatch.setattr(app.store, "release_leases", hang)
        monkeypatch.setattr(app.store, "retire_worker", hang)
        worker = Worker(app, WorkerOptions(concurrency=2, max_seconds=1.0, grace=0.25))
        with caplog.at_level(logging.INFO, logger="bosun.worker"):
            async with asyncio.timeout(30):  # without the bounds it never returns
                await worker.run()
        never.set()
        assert started.is_set()
        messages = [r.getMessage() for r in caplog.records]
        assert any("a claim was in flight past its budget" in m for m in messages), messages
        assert any("could not release leases" in m for m in messages), messages
        assert any("registry entry was not removed" in m for m in messages), messages
        assert (worker.summary.abandoned, worker.summary.kept) == (1, 1), worker.summary
        record = await app.store.get_run(run.run_id)
        assert record is not None and record.lease_owner == worker.owner, record
