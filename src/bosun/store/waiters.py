"""Waiting for runs to finish, at a database cost that does not grow with the waiters.

One `ResultWaiters` per store (so per App and process) serves every `RunHandle.result()` and
every `GET /v1/runs/{id}/result?wait=` long-poll of the process:

- A run that finishes in this process wakes its waiters at once with its outcome (the
  notifier's `Finished`): no read at all.
- A run that finishes in another process is heard of by `LISTEN bosun_finished` on
  PostgreSQL (the notifier says it ended, not how): the runs heard of together are read in
  one query, `finished_runs(ids)`, and their waiters woken with the records.
- Notifications can be missed (SQLite has none between processes; a PostgreSQL listener
  reconnects; a transaction pooler allows none), so waiters are also checked on a timer, each
  at its own back-off (0.02 s doubling to 1 s where nothing else tells; every second where
  NOTIFY does), in batches: every waiter due within `COALESCE` seconds goes into the same
  `finished_runs` read, up to `BATCH` ids a query.
- A run that a worker of this process is executing is not read while it does: if it
  finishes there, the notifier says so. It is looked at every second (or on the back-off it
  had reached), in case it moved on (handed back, cancelled elsewhere, lost).

So thousands of waiters cost a handful of queries a second, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias

from bosun.errors import StoreError
from bosun.records import RunRecord
from bosun.store.notify import Finished, LocalNotifier

log = logging.getLogger("bosun.store.waiters")

FIRST_CHECK = 0.02  # seconds before a waiter's run is first read, where nothing notifies
MAX_INTERVAL = 1.0  # the longest a missed notification goes unnoticed
COALESCE = 0.05  # waiters due this soon are read with the ones due now
BATCH = 2000  # run ids per read

Ended: TypeAlias = RunRecord | Finished  # how a run ended: its record, or this process's word
ReadFinished = Callable[[Sequence[str]], Awaitable[list[RunRecord]]]


class _Watched:
    """The waiters of one run and when its status is next read."""

    __slots__ = ("due", "futures", "heard", "interval")

    def __init__(self, heard: asyncio.Future[Finished | None], due: float, interval: float):
        self.futures: list[asyncio.Future[Ended]] = []
        self.heard = heard  # the notifier's word that the run finished
        self.due = due
        self.interval = interval


class ResultWaiters:
    """Every result waiter of one store: notified runs and due checks read in batches.

    Args:
        notifier: the store's notifier (runs finished here, or heard of by NOTIFY).
        read_finished: the records of those of the ids that have finished (one query).
        notified: whether other processes' finishes are heard of (PostgreSQL with a LISTEN
            connection); then the timer only covers a missed notification.
    """

    def __init__(
        self,
        notifier: LocalNotifier,
        read_finished: ReadFinished,
        notified: Callable[[], bool] = lambda: False,
    ) -> None:
        self._notifier = notifier
        self._read_finished = read_finished
        self._notified = notified
        self._watched: dict[str, _Watched] = {}
        self._due: list[tuple[float, int, str]] = []  # (due, tie-breaker, run id); lazy
        self._order = itertools.count()
        self._wake: asyncio.Event | None = None  # made with the checker, on its loop
        self._checker: asyncio.Task[None] | None = None
        self.reads = 0  # `finished_runs` queries made, for tests and benchmarks

    def watch(self, run_id: str) -> asyncio.Future[Ended]:
        """A future resolved with how `run_id` ended. Pass it to `drop` when done waiting
        (resolved or not). It fails with the read's error if a status read fails."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Ended] = loop.create_future()
        watched = self._watched.get(run_id)
        if watched is None:
            # A run executing here (its end will be heard) or where NOTIFY tells is first
            # looked at a second on; elsewhere on SQLite, soon.
            here = self._notifier.executing_here(run_id)
            interval = MAX_INTERVAL if here or self._notified() else FIRST_CHECK
            heard = self._listen(run_id)
            watched = self._watched[run_id] = _Watched(heard, loop.time() + interval, interval)
            self._schedule(run_id, watched.due)
        watched.futures.append(future)
        if self._checker is None or self._checker.done():
            self._wake = asyncio.Event()
            self._checker = loop.create_task(self._check(), name="bosun-result-waiters")
        return future

    def drop(self, run_id: str, future: asyncio.Future[Ended]) -> None:
        """Stop waiting with `future`; the run is forgotten when nobody waits for it."""
        if future.done() and not future.cancelled():
            future.exception()  # a failed read nobody awaited is not an error to report
        watched = self._watched.get(run_id)
        if watched is None:
            return
        with contextlib.suppress(ValueError):
            watched.futures.remove(future)
        if not watched.futures:
            self._forget(run_id, watched)

    async def close(self) -> None:
        """Stop checking; waiters still waiting fail with `StoreError` (the store closed)."""
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
            self._checker = None
        for run_id, watched in list(self._watched.items()):
            self._settle(run_id, watched, StoreError("the store was closed"))

    # -- inside -----------------------------------------------------------------------------

    def _listen(self, run_id: str) -> asyncio.Future[Finished | None]:
        heard = self._notifier.finished_future(run_id)
        heard.add_done_callback(lambda done: self._heard(run_id, done))
        return heard

    def _schedule(self, run_id: str, due: float) -> None:
        heapq.heappush(self._due, (due, next(self._order), run_id))
        if self._due[0][2] == run_id and self._wake is not None:  # sooner than it sleeps for
            self._wake.set()

    def _forget(self, run_id: str, watched: _Watched) -> None:
        del self._watched[run_id]
        self._notifier.drop_finished_future(run_id, watched.heard)
        if not self._watched:
            self._due.clear()

    def _settle(self, run_id: str, watched: _Watched, outcome: Ended | BaseException) -> None:
        self._forget(run_id, watched)
        for future in watched.futures:
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _heard(self, run_id: str, heard: asyncio.Future[Finished | None]) -> None:
        watched = self._watched.get(run_id)
        if watched is None or watched.heard is not heard or heard.cancelled():
            return
        # The word that it finished here may have come since the one being handled (this
        # callback runs a turn of the loop after it): then the outcome is known.
        finished = heard.result() or self._notifier.recently_finished(run_id)
        if finished is not None:  # it finished here: its outcome came with the word
            self._settle(run_id, watched, finished)
            return
        if self._notifier.executing_here(run_id):
            # This process's own commit, heard by NOTIFY before the word that brings its
            # outcome: wait for that word.
            watched.heard = self._listen(run_id)
            return
        # Another process finished it: read it with every other run heard of meanwhile.
        watched.due = asyncio.get_running_loop().time()
        self._schedule(run_id, watched.due)

    async def _check(self) -> None:
        """Read the runs due, in batches, until nobody waits."""
        loop = asyncio.get_running_loop()
        wake = self._wake
        assert wake is not None
        while self._watched:
            now = loop.time()
            due = self._take_due(now + COALESCE)
            if not due:
                wake.clear()
                sleep = self._due[0][0] - now if self._due else MAX_INTERVAL
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=max(sleep, 0.0))
                # Notifications come in bursts: let this one's others arrive first.
                await asyncio.sleep(0.001)
                continue
            for start in range(0, len(due), BATCH):
                await self._read(due[start : start + BATCH])

    def _take_due(self, until: float) -> list[str]:
        due: dict[str, None] = {}  # ordered, without repeats
        while self._due and self._due[0][0] <= until:
            when, _, run_id = heapq.heappop(self._due)
            watched = self._watched.get(run_id)
            if watched is None or watched.due != when:
                continue
            if self._notifier.executing_here(run_id):
                # Its end will be heard: no read. Looked at again later (past `until`, so
                # not in this loop), in case it moves elsewhere.
                self._back_off(run_id, watched, until)
            else:
                due[run_id] = None
        return list(due)

    def _back_off(self, run_id: str, watched: _Watched, now: float) -> None:
        watched.interval = min(watched.interval * 2, MAX_INTERVAL)
        watched.due = now + watched.interval
        self._schedule(run_id, watched.due)

    async def _read(self, run_ids: list[str]) -> None:
        try:
            self.reads += 1
            records = await self._read_finished(run_ids)
        except Exception as exc:  # the waiters' reads would have failed the same way
            for run_id in run_ids:
                watched = self._watched.get(run_id)
                if watched is not None:
                    self._settle(run_id, watched, exc)
            return
        for record in records:
            watched = self._watched.get(record.id)
            if watched is not None:
                self._settle(record.id, watched, record)
        now = asyncio.get_running_loop().time()
        for run_id in run_ids:
            watched = self._watched.get(run_id)
            if watched is not None:  # not finished yet: back off
                self._back_off(run_id, watched, now)
