"""Waiting for results on both stores: a run finished by another process's worker reaches the
handles waiting for it (NOTIFY on PostgreSQL, batched reads on SQLite), many waiting handles
never read their runs one by one, and a notification that never comes is made up for by the
batched reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import bosun
from bosun.store.notify import Finished
from tests.helpers.wait import wait_until


def make_app(url: str) -> bosun.App:
    app = bosun.App("waiting", database=url)

    @app.step(name="bump")
    async def bump(x: int) -> int:
        return x + 1

    @app.workflow(name="add_three")
    async def add_three(ctx: bosun.Context, x: int) -> int:
        return await bump(await bump(await bump(x)))

    return app


@asynccontextmanager
async def worker_elsewhere(url: str) -> AsyncIterator[None]:
    """A worker of another App on the same database: another process, as far as the
    waiting App can tell (its own store, notifier and waiters)."""
    other = make_app(url)
    async with other, other.worker(concurrency=32, poll_interval=0.05):
        yield


async def test_a_waiter_gets_the_result_of_a_run_finished_elsewhere(any_db_url: str) -> None:
    app = make_app(any_db_url)
    async with app:
        handle = await app.start("add_three", 1)
        later = app.get_handle(handle.run_id)  # not fresh: reads the run first
        async with worker_elsewhere(any_db_url):
            assert await handle.result(timeout=60) == 4
            assert await later.result(timeout=60) == 4


async def test_many_waiting_handles_never_read_their_runs_one_by_one(any_db_url: str) -> None:
    app = make_app(any_db_url)
    async with app:
        handles = [await app.start("add_three", i) for i in range(200)]
        reads: list[str] = []
        get_run = app.store.get_run

        async def counted_get_run(run_id: str) -> Any:
            reads.append(run_id)
            return await get_run(run_id)

        app.store.get_run = counted_get_run  # type: ignore[method-assign]
        async with worker_elsewhere(any_db_url):
            results = await asyncio.gather(*(h.result(timeout=120) for h in handles))
        assert results == [i + 3 for i in range(200)]
        assert reads == []  # every outcome came from a shared, batched read
        assert app.store.results.reads > 0


async def test_a_missed_notification_is_made_up_for_by_the_batched_reads(
    any_db_url: str,
) -> None:
    app = make_app(any_db_url)
    async with app:
        heard: list[str] = []

        def deaf(run_id: str, finished: Finished | None) -> None:
            heard.append(run_id)  # the word arrives, and is lost

        app.store.notifier.run_finished = deaf  # type: ignore[method-assign]
        handle = await app.start("add_three", 10)
        async with worker_elsewhere(any_db_url):
            assert await handle.result(timeout=60) == 13
        assert app.store.results.reads > 0


async def test_a_run_finished_by_this_process_wakes_its_waiters_without_a_read(
    any_db_url: str,
) -> None:
    """Each run is executing here from its start (a free slot takes it at once), so its
    waiters never read it, though its steps outlast their first check (0.02 s on SQLite)."""
    app = make_app(any_db_url)

    @app.step(name="slow_bump")
    async def slow_bump(x: int) -> int:
        await asyncio.sleep(0.1)  # the work: longer than a waiter's first check
        return x + 1

    @app.workflow(name="slow_three")
    async def slow_three(ctx: bosun.Context, x: int) -> int:
        return await slow_bump(await slow_bump(await slow_bump(x)))

    async with app, app.worker(concurrency=20, poll_interval=0.05):
        handles = [await app.start("slow_three", i) for i in range(20)]
        assert await asyncio.gather(*(h.result(timeout=60) for h in handles)) == [
            i + 3 for i in range(20)
        ]
        assert app.store.results.reads == 0


async def test_a_fresh_handle_whose_run_was_heard_to_end_elsewhere_reads_it(
    pg_url: str,
) -> None:
    """The run ends in another process before anyone waits for it: the NOTIFY that came
    meanwhile is remembered, so the waiter reads the run at once, not at its first batched
    check (a second away where NOTIFY is on)."""
    app = make_app(pg_url)
    async with app:
        handle = await app.start("add_three", 5)
        async with worker_elsewhere(pg_url):
            await wait_until(
                lambda: app.store.notifier.ended_elsewhere(handle.run_id), 60, "the NOTIFY"
            )
        assert await handle.result(timeout=60) == 8
        assert app.store.results.reads == 0  # read by the handle, not by a batch
