"""A run's streams see a step start while it runs, even the first step after a claim, whose
record waits for the step's end: live (not stored yet) and once per stream, on real stores."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

import bosun
from bosun.records import EventRecord
from bosun.server.feeds import Ephemeral, Feeds
from tests.helpers.wait import wait_until

TIMEOUT = 20


@pytest.fixture
def app(any_db_url: str) -> bosun.App:
    return bosun.App("live", database=any_db_url)


@dataclass
class Stream:
    """What one stream of a run received, in order (keep-alives left out)."""

    items: list[EventRecord | Ephemeral] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)  # a step.started came

    def types(self) -> list[tuple[str, bool]]:
        """(type, stored) of each item."""
        return [(item.type, isinstance(item, EventRecord)) for item in self.items]


@asynccontextmanager
async def streaming(feeds: Feeds, run_id: str, after: int = 0) -> AsyncIterator[Stream]:
    """Follow the run in the background; on exit wait for its stream to end."""
    stream = Stream()

    async def follow() -> None:
        async for item in feeds.follow(run_id, after, keepalive=60):
            if item is not None:
                stream.items.append(item)
                if item.type == "step.started":
                    stream.started.set()

    task = asyncio.create_task(follow())
    try:
        yield stream
        await asyncio.wait_for(task, TIMEOUT)
    finally:
        task.cancel()


def _blocking_workflow(app: bosun.App) -> tuple[asyncio.Event, asyncio.Event]:
    """A one-step workflow whose step runs until `release` is set; `running` says it runs."""
    running, release = asyncio.Event(), asyncio.Event()

    @app.step(name="wait_for_release")
    async def wait_for_release() -> int:
        running.set()
        await release.wait()
        return 7

    @app.workflow(name="one_step")
    async def one_step(ctx: bosun.Context) -> int:
        return await wait_for_release()

    return running, release


def _assert_started_once_then_stored(stream: Stream) -> None:
    assert stream.types() == [
        ("step.started", False),  # live, while the step ran
        ("step.completed", True),
        ("run.completed", True),
    ], stream.items
    assert json.loads(stream.items[0].data) == {
        "seq": "1",
        "name": "wait_for_release",
        "attempt": 1,
    }


async def test_a_stream_joining_while_the_first_step_runs_sees_it_start(app: bosun.App) -> None:
    running, release = _blocking_workflow(app)
    async with app, app.worker():
        feeds = Feeds(app.store)
        handle = await app.start("one_step")
        await asyncio.wait_for(running.wait(), TIMEOUT)
        async with streaming(feeds, handle.run_id) as stream:
            await asyncio.wait_for(stream.started.wait(), TIMEOUT)  # the step still runs
            release.set()
        assert await handle.result(timeout=TIMEOUT) == 7
        # The record was written with the step's end; a stream reading the history gets
        # the stored start once, in its place.
        async with streaming(feeds, handle.run_id) as history:
            pass
        stored = await app.store.list_events(handle.run_id)
        assert app.store.notifier.live(handle.run_id) == []  # nothing left behind
        await feeds.close()
    _assert_started_once_then_stored(stream)
    assert history.types() == [
        ("step.started", True),
        ("step.completed", True),
        ("run.completed", True),
    ]
    assert [getattr(e, "seq", None) for e in history.items] == [e.seq for e in stored]


async def test_a_stream_following_before_the_claim_sees_the_first_step_start(
    app: bosun.App,
) -> None:
    _, release = _blocking_workflow(app)
    async with app:
        feeds = Feeds(app.store)
        handle = await app.start("one_step")  # no worker yet: the run waits to be claimed
        async with streaming(feeds, handle.run_id) as stream:
            await wait_until(
                lambda: app.store.notifier.watched(handle.run_id), TIMEOUT, "the stream"
            )
            async with app.worker():
                await asyncio.wait_for(stream.started.wait(), TIMEOUT)  # the step waits
                release.set()
                assert await handle.result(timeout=TIMEOUT) == 7
        await feeds.close()
    _assert_started_once_then_stored(stream)


async def test_a_stream_resuming_after_the_live_start_gets_the_stored_one(app: bosun.App) -> None:
    """A reconnect (Last-Event-ID) never replays ephemeral events: the stored start is what
    it gets, with its position, and only the positions after the one it resumes from."""
    running, release = _blocking_workflow(app)
    async with app, app.worker():
        feeds = Feeds(app.store)
        handle = await app.start("one_step")
        async with streaming(feeds, handle.run_id) as stream:
            await asyncio.wait_for(stream.started.wait(), TIMEOUT)
            release.set()
        async with streaming(feeds, handle.run_id, after=0) as resumed:
            pass
        started = resumed.items[0]
        assert isinstance(started, EventRecord)
        async with streaming(feeds, handle.run_id, after=started.seq) as later:
            pass
        await feeds.close()
    assert running.is_set()
    assert resumed.types()[0] == ("step.started", True)
    assert [item.type for item in later.items] == ["step.completed", "run.completed"]
    assert [item.type for item in stream.items].count("step.started") == 1


# -- PostgreSQL: a stream in one process, the worker in another -------------------------------


async def _hears_watches(streamer: bosun.App, worker: bosun.App) -> None:
    """Wait until the worker's store listens for watches (it connects in the background)."""
    probe = "probe-run"

    async def heard() -> bool:
        await streamer.store.watch(probe)
        return worker.store.notifier.watched(probe)

    await wait_until(heard, TIMEOUT, "the worker's store to hear watches")


@asynccontextmanager
async def _two_processes(pg_url: str) -> AsyncIterator[tuple[bosun.App, Feeds]]:
    """An API process (streams only) and a worker process, as two Apps with their own
    stores on one database: they reach each other only through PostgreSQL."""
    api, worker = bosun.App("live-api", database=pg_url), bosun.App("live", database=pg_url)
    async with api, worker:
        await api.store.follow_events()
        await _hears_watches(api, worker)
        feeds = Feeds(api.store)
        try:
            yield worker, feeds
        finally:
            await feeds.close()


@pytest.mark.postgres
async def test_a_stream_in_another_process_sees_a_running_step_start(pg_url: str) -> None:
    async with _two_processes(pg_url) as (worker, feeds):
        running, release = _blocking_workflow(worker)
        async with worker.worker():
            handle = await worker.start("one_step")
            await asyncio.wait_for(running.wait(), TIMEOUT)
            # The stream's watch reaches the worker, which sends the start it kept.
            async with streaming(feeds, handle.run_id) as stream:
                await asyncio.wait_for(stream.started.wait(), TIMEOUT)
                release.set()
            assert await handle.result(timeout=TIMEOUT) == 7
    _assert_started_once_then_stored(stream)


@pytest.mark.postgres
async def test_a_stream_in_another_process_watching_first_sees_the_step_start(
    pg_url: str,
) -> None:
    async with _two_processes(pg_url) as (worker, feeds):
        _, release = _blocking_workflow(worker)
        handle = await worker.start("one_step")
        async with streaming(feeds, handle.run_id) as stream:
            await wait_until(
                lambda: worker.store.notifier.watched(handle.run_id), TIMEOUT, "the watch"
            )
            async with worker.worker():  # claims the run: the step's start goes out at once
                await asyncio.wait_for(stream.started.wait(), TIMEOUT)
                release.set()
                assert await handle.result(timeout=TIMEOUT) == 7
    _assert_started_once_then_stored(stream)
