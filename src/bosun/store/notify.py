"""In-process wake-ups: a write made in this process wakes this process's waiters at once.

Other processes learn of changes by polling (SQLite) or LISTEN/NOTIFY (PostgreSQL). Three
kinds of waiters: workers (work may be ready), result waiters (a run finished) and event
streams (a run has new events).

It also knows which runs are watched, so a worker sends a run's live events (a step's start
before its record is written) only to someone: streams in this process subscribe, streams
of other processes say so by a watch that lapses unless renewed (`WATCH_TTL`). The live
events of steps running here are kept while they run, for a stream that joins meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

RECENT_OUTCOMES = 10_000  # outcomes of runs finished here, kept for result() callers
EPHEMERAL_BACKLOG = 1000  # ephemeral events a slow subscriber may fall behind by
WATCH_TTL = 30.0  # seconds a watch from another process lasts; streams renew it sooner


@dataclass(frozen=True)
class Finished:
    """How a run ended, as told to waiters in the same process (saves them a read)."""

    status: str
    result: str | None
    error: dict[str, Any] | None


class Wakeup:
    """A cheap resettable wake-up for one waiter (a worker's claim loop)."""

    def __init__(self) -> None:
        self._flag = False
        self._future: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._flag = True
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    async def wait(self, timeout: float) -> None:
        """Return when set (now or since the last wait) or after `timeout` seconds."""
        if not self._flag:
            loop = asyncio.get_running_loop()
            future = self._future = loop.create_future()
            timer = loop.call_later(timeout, _resolve, future)
            try:
                await future
            finally:
                timer.cancel()
                self._future = None
        self._flag = False


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class LocalNotifier:
    """Wakes local workers when work may be ready, and result waiters when a run ends."""

    def __init__(self) -> None:
        self._work: set[Wakeup] = set()
        self._finished: dict[str, list[asyncio.Future[Finished | None]]] = {}
        self._recent: OrderedDict[str, Finished] = OrderedDict()
        self._ended_elsewhere: OrderedDict[str, None] = OrderedDict()
        self._events: dict[str, list[asyncio.Future[None]]] = {}
        self._ephemeral: dict[str, set[asyncio.Queue[tuple[str, str]]]] = {}
        self._watches: OrderedDict[str, float] = OrderedDict()  # run -> until (monotonic)
        self._live: dict[str, list[tuple[str, str]]] = {}
        self._executing: dict[str, int] = {}  # run -> local workers executing it (1, rarely 2)

    def add_work_event(self, event: Wakeup) -> None:
        """Set `event` whenever work may have become ready (each worker owns one)."""
        self._work.add(event)

    def drop_work_event(self, event: Wakeup) -> None:
        self._work.discard(event)

    def work_ready(self) -> None:
        for event in self._work:
            event.set()

    def executing(self, run_id: str) -> None:
        """A worker of this process started executing `run_id`: if it finishes there, this
        notifier hears of it (`run_finished`), so nobody needs to read it meanwhile."""
        self._executing[run_id] = self._executing.get(run_id, 0) + 1

    def executed(self, run_id: str) -> None:
        """That worker is done with `run_id` (finished, suspended, handed back or lost)."""
        count = self._executing.pop(run_id, 0) - 1
        if count > 0:
            self._executing[run_id] = count

    def executing_here(self, run_id: str) -> bool:
        return run_id in self._executing

    def finished_future(self, run_id: str) -> asyncio.Future[Finished | None]:
        """A future resolved when this process sees `run_id` finish."""
        future: asyncio.Future[Finished | None] = asyncio.get_running_loop().create_future()
        self._finished.setdefault(run_id, []).append(future)
        return future

    def drop_finished_future(self, run_id: str, future: asyncio.Future[Finished | None]) -> None:
        waiters = self._finished.get(run_id)
        if waiters and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._finished[run_id]

    def recently_finished(self, run_id: str) -> Finished | None:
        """The outcome of `run_id` if it finished in this process not long ago."""
        return self._recent.get(run_id)

    def ended_elsewhere(self, run_id: str) -> bool:
        """Whether another process was heard (NOTIFY) to finish `run_id` not long ago: a
        waiter that came after the word reads the run instead of waiting for the next one."""
        return run_id in self._ended_elsewhere

    def run_finished(self, run_id: str, finished: Finished | None) -> None:
        """Wake waiters of `run_id`; `finished` is None when only another process knows how
        it ended (they read it from the store)."""
        if finished is not None:
            self._recent[run_id] = finished
            if len(self._recent) > RECENT_OUTCOMES:
                self._recent.popitem(last=False)
        else:
            self._ended_elsewhere[run_id] = None
            if len(self._ended_elsewhere) > RECENT_OUTCOMES:
                self._ended_elsewhere.popitem(last=False)
        for future in self._finished.pop(run_id, []):
            if not future.done():
                future.set_result(finished)

    def events_future(self, run_id: str) -> asyncio.Future[None]:
        """A future resolved when this process learns that `run_id` has new events."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._events.setdefault(run_id, []).append(future)
        return future

    def drop_events_future(self, run_id: str, future: asyncio.Future[None]) -> None:
        waiters = self._events.get(run_id)
        if waiters and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._events[run_id]

    def events_added(self, run_id: str) -> None:
        """Wake the event streams of `run_id`."""
        for future in self._events.pop(run_id, []):
            if not future.done():
                future.set_result(None)

    def subscribe(self, run_id: str) -> asyncio.Queue[tuple[str, str]]:
        """A queue of the run's ephemeral events (type, data) from now on."""
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=EPHEMERAL_BACKLOG)
        self._ephemeral.setdefault(run_id, set()).add(queue)
        return queue

    def unsubscribe(self, run_id: str, queue: asyncio.Queue[tuple[str, str]]) -> None:
        queues = self._ephemeral.get(run_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._ephemeral[run_id]

    def ephemeral(self, run_id: str, event_type: str, data: str) -> None:
        """Hand an ephemeral event to the run's subscribers; one that has fallen too far
        behind loses it (ephemeral events are best effort; durable ones are not)."""
        for queue in self._ephemeral.get(run_id, ()):
            if not queue.full():
                queue.put_nowait((event_type, data))

    # -- live events of steps in flight ----------------------------------------------------

    def watch(self, run_id: str, ttl: float = WATCH_TTL) -> None:
        """Another process streams `run_id`: count it as watched for `ttl` seconds."""
        now = time.monotonic()
        self._watches[run_id] = now + ttl
        self._watches.move_to_end(run_id)
        # Watches last about as long, so the oldest come first: drop the lapsed ones.
        while self._watches:
            oldest, until = next(iter(self._watches.items()))
            if until > now:
                break
            del self._watches[oldest]

    def watched(self, run_id: str) -> bool:
        """Whether a stream, here or (on PostgreSQL) in another process, follows `run_id`."""
        if run_id in self._ephemeral:
            return True
        until = self._watches.get(run_id)
        return until is not None and until > time.monotonic()

    def live_started(self, run_id: str, event: tuple[str, str]) -> None:
        """A live event of a step now running here (until `live_ended`)."""
        self._live.setdefault(run_id, []).append(event)

    def live_ended(self, run_id: str, event: tuple[str, str]) -> None:
        events = self._live.get(run_id)
        if events is not None:
            events.remove(event)
            if not events:
                del self._live[run_id]

    def live(self, run_id: str) -> list[tuple[str, str]]:
        """The live events of the run's steps running in this process now."""
        return list(self._live.get(run_id, ()))
