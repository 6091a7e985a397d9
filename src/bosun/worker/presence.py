"""A worker's entry in the store's registry: announced at start, refreshed while it runs,
updated soon after the number of runs it holds changes, marked draining when it stops
claiming, removed when it exits.

Other workers read it to decide whether runs pinned to this worker's version must wait for
it; the UI and `bosun workers` read it to show who serves what.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable

from bosun.errors import StoreError
from bosun.records import WorkerRecord
from bosun.store import WorkerStore
from bosun.worker.liveness import ProcessIdentity, this_process

log = logging.getLogger("bosun.worker")
BUSY_EVERY = 1.0  # seconds: changes of the busy count are written at most this often


class Presence:
    """Keeps one worker's registry row fresh; `changed()` sends an update at once,
    `busy_changed()` within `BUSY_EVERY` seconds (a busy worker writes its count once a
    second at most, not once per run)."""

    def __init__(
        self,
        store: WorkerStore,
        *,
        worker_id: str,
        queues: tuple[str, ...],
        concurrency: int,
        version: str,
        compatible: tuple[str, ...],
        workflows: tuple[str, ...],
        ttl: float,
        busy: Callable[[], int],
        draining: Callable[[], bool],
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._busy = busy
        self._draining = draining
        self._poke = asyncio.Event()
        self._urgent = False
        self._announced_busy = 0
        self._last = time.monotonic()
        process = this_process()  # so that a worker on this machine can tell it died
        self._record = WorkerRecord(
            id=worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=queues,
            concurrency=concurrency,
            busy=0,
            version=version,
            compatible=compatible,
            draining=False,
            started_at=time.time(),
            last_seen=0.0,
            expires_at=0.0,
            workflows=workflows,
            pid_namespace=process.namespace,
            pid_started=process.started,
        )

    @property
    def process(self) -> ProcessIdentity:
        """Which process this worker registered as (see `bosun.worker.liveness`)."""
        return ProcessIdentity(self._record.pid_namespace, self._record.pid_started)

    def changed(self) -> None:
        """Announce the worker's state now rather than at the next refresh."""
        self._urgent = True
        self._poke.set()

    def busy_changed(self) -> None:
        """The number of runs held may have changed: announce it soon (cheap to call on
        every change; nothing is written while the announced count is still right)."""
        if self._busy() != self._announced_busy:
            self._poke.set()

    async def announce(self) -> None:
        now = time.time()
        busy = self._busy()
        record = dataclasses.replace(
            self._record,
            busy=busy,
            draining=self._draining(),
            last_seen=now,
            expires_at=now + self._ttl,
        )
        self._announced_busy = busy
        self._last = time.monotonic()
        try:
            await self._store.announce_worker(record)
        except StoreError as exc:
            log.warning("could not refresh this worker's registry entry: %s", exc)

    async def keep_fresh(self) -> None:
        """Refresh the row a few times per TTL, and on changes, until cancelled."""
        while True:
            await self._poked(self._last + self._ttl / 3 - time.monotonic())
            # A change of the busy count waits out the rest of BUSY_EVERY since the last
            # write (more changes meanwhile go out with it); `changed()` cuts that short.
            gap = min(BUSY_EVERY, self._ttl / 3)
            while not self._urgent and (left := self._last + gap - time.monotonic()) > 0:
                self._poke.clear()
                await self._poked(left)
            self._poke.clear()
            self._urgent = False
            await self.announce()

    async def _poked(self, seconds: float) -> None:
        """Wait until poked or `seconds` passed."""
        # Not wait_for: on Python 3.11 it swallows a cancellation that arrives as the poke
        # fires (request_stop pokes, then the task is cancelled) and this loop would never
        # end.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(seconds, 0.0)):
                await self._poke.wait()

    async def retire(self) -> None:
        try:
            await self._store.retire_worker(self._record.id)
        except StoreError as exc:
            log.warning("could not remove this worker's registry entry (it expires): %s", exc)
