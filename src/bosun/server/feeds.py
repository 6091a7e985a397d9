"""One reader per run for all of a server's streams of that run.

A stream that is behind reads the run's history itself; once it has caught up it waits on
the run's `Feed`, whose single reader fetches each batch of new events once, however many
streams follow the run (500 subscribers cost one query per batch, not 500).

A stream also gets the run's live events: a step's `step.started` while the step runs, before
its record is written with the step's end (`Store.watch` tells workers someone follows). Each
stream sends a step's start once: live (id null) or stored, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from bosun.events import FINAL_TYPES
from bosun.records import TERMINAL_STATUSES, EventRecord
from bosun.store import Store
from bosun.store.notify import WATCH_TTL

BATCH = 500
KEEP = 2000  # recent events a feed keeps for streams that fall a little behind
WATCH_RENEW = WATCH_TTL / 3  # a followed run's watch is renewed this often (plus a poll)


class Feed:
    """The recent events of one run, read by one task while any stream follows the run."""

    def __init__(self, store: Store, run_id: str, tail: int) -> None:
        self.store = store
        self.run_id = run_id
        self.events: list[EventRecord] = []  # contiguous positions, oldest first
        self.tail = tail  # the last position read
        self.ended = False  # the run finished and everything it recorded was read
        self.followers = 0
        self.watched_at = time.monotonic()  # when workers were last told someone follows
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read(), name=f"bosun-feed-{self.run_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def after(self, position: int) -> list[EventRecord] | None:
        """The buffered events after `position`, or None if the buffer starts later."""
        if position >= self.tail:
            return []
        if not self.events or self.events[0].seq > position + 1:
            return None
        return self.events[position + 1 - self.events[0].seq :]

    def signal(self) -> asyncio.Event:
        """Set when the feed next reads something new; take it before looking at the
        buffer, so nothing read in between is missed."""
        return self._changed

    def _publish(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _read(self) -> None:
        notifier = self.store.notifier
        while not self.ended:
            waiter = notifier.events_future(self.run_id)
            try:
                batch = await self.store.list_events(self.run_id, after=self.tail, limit=BATCH)
                if batch:
                    self.events.extend(batch)
                    del self.events[:-KEEP]
                    self.tail = batch[-1].seq
                    self.ended = batch[-1].type in FINAL_TYPES
                    self._publish()
                    if len(batch) == BATCH:
                        continue
                elif await self._finished_unannounced():
                    self.ended = True
                    self._publish()
                    return
                if time.monotonic() - self.watched_at >= WATCH_RENEW:
                    self.watched_at = time.monotonic()
                    await self.store.watch(self.run_id)
                await asyncio.wait((waiter,), timeout=self.store.events_poll_interval)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: streams keep waiting, retry shortly
                await asyncio.sleep(min(self.store.events_poll_interval, 1.0))
            finally:
                notifier.drop_events_future(self.run_id, waiter)

    async def _finished_unannounced(self) -> bool:
        """Whether the run is gone, or finished with nothing left to read (a run recorded by
        an older bosun has no final event). Status first, so a final event committed in
        between is still read."""
        record = await self.store.get_run(self.run_id)
        if record is None:
            return True
        if record.status not in TERMINAL_STATUSES:
            return False
        return not await self.store.list_events(self.run_id, after=self.tail, limit=1)


@dataclass(frozen=True)
class Ephemeral:
    """An event that is streamed but not stored (an LLM's token deltas), or not yet (the
    live `step.started` of a step whose record waits for its end)."""

    type: str
    data: str


class _Starts:
    """The steps (position, attempt) whose `step.started` one stream has sent."""

    def __init__(self) -> None:
        self._sent: set[tuple[str, int]] = set()

    def first(self, event_type: str, data: str) -> bool:
        """Whether to send this event: anything but a step's start sent before."""
        if event_type != "step.started":
            return True
        try:
            fields = json.loads(data)
            key = (str(fields["seq"]), int(fields["attempt"]))
        except (ValueError, KeyError, TypeError):
            return True
        if key in self._sent:
            return False
        self._sent.add(key)
        return True


class Feeds:
    """The feeds of the runs this server streams."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._feeds: dict[str, Feed] = {}

    async def follow(
        self, run_id: str, position: int, keepalive: float
    ) -> AsyncIterator[EventRecord | Ephemeral | None]:
        """The run's events after `position`, in order, then new ones until the run's final
        event, with ephemeral events as they come. Yields None whenever `keepalive` seconds
        pass with nothing new."""
        starts = _Starts()
        async with contextlib.aclosing(self._follow(run_id, position, keepalive)) as items:
            async for item in items:
                if item is None or starts.first(item.type, item.data):
                    yield item

    async def _follow(
        self, run_id: str, position: int, keepalive: float
    ) -> AsyncGenerator[EventRecord | Ephemeral | None, None]:
        feed = self._feeds.get(run_id)
        if feed is None:
            feed = self._feeds[run_id] = Feed(self.store, run_id, position)
            feed.start()
        feed.followers += 1
        notifier = self.store.notifier
        ephemeral = notifier.subscribe(run_id)
        try:
            await self.store.watch(run_id)  # after subscribing: nothing sent is missed
            caught_up = False
            while True:
                changed = feed.signal()
                while not ephemeral.empty():
                    yield Ephemeral(*ephemeral.get_nowait())
                buffered = await self._unread(feed, position)
                for event in buffered:
                    yield event
                    position = event.seq
                    if event.type in FINAL_TYPES:
                        return
                if buffered:
                    continue
                if not caught_up:  # then the starts of steps running now, in this process
                    caught_up = True
                    for live in notifier.live(run_id):
                        yield Ephemeral(*live)
                if feed.ended and position >= feed.tail:
                    return
                got = await _next(ephemeral, changed, keepalive)
                if got is not _CHANGED:
                    yield None if got is None else Ephemeral(*got)
        finally:
            notifier.unsubscribe(run_id, ephemeral)
            feed.followers -= 1
            if feed.followers == 0 and self._feeds.get(run_id) is feed:
                del self._feeds[run_id]
                await feed.stop()

    async def _unread(self, feed: Feed, position: int) -> list[EventRecord]:
        """The run's events after `position` that the feed has read: from its buffer, or
        from the history when the stream is behind the buffer."""
        buffered = feed.after(position)
        if buffered is None:
            batch = await self.store.list_events(feed.run_id, after=position, limit=BATCH)
            buffered = [e for e in batch if e.seq <= feed.tail]
        return buffered

    def feed(self, run_id: str) -> Feed | None:
        return self._feeds.get(run_id)

    async def close(self) -> None:
        for feed in list(self._feeds.values()):
            await feed.stop()
        self._feeds.clear()


_CHANGED: Any = object()


async def _next(
    queue: asyncio.Queue[tuple[str, str]], changed: asyncio.Event, timeout: float
) -> tuple[str, str] | Any | None:
    """The next ephemeral event, `_CHANGED` when the feed read something, or None after
    `timeout` seconds of neither."""
    getter = asyncio.ensure_future(queue.get())
    waiter = asyncio.ensure_future(changed.wait())
    try:
        done, _ = await asyncio.wait(
            {getter, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        waiter.cancel()
        if not getter.done():
            getter.cancel()
    if getter in done:  # (a durable change seen at the same time is read next round)
        result: tuple[str, str] = getter.result()
        return result
    return _CHANGED if done else None
