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
from bosun.worker.worker import Worker


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
