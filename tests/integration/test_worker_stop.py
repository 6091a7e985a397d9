"""A worker's background loops end when cancelled, whatever wakes them at the same moment.

On Python 3.11 `asyncio.wait_for` returns normally when the awaited event fires in the same
tick as the cancellation of the task awaiting it, so a loop built on it never ends: leaving
`async with app.worker()` hung. These tests cancel exactly in that tick.
"""

from __future__ import annotations

import asyncio

from bosun.store import store_for_url
from bosun.worker.presence import Presence


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
