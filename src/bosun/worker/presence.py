"""A worker's entry in the store's registry: announced at start, refreshed while it runs,
marked draining when it stops claiming, removed when it exits.

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
from bosun.store import Store
from bosun.store.records import WorkerRecord

log = logging.getLogger("bosun.worker")


class Presence:
    """Keeps one worker's registry row fresh; `changed()` sends an update at once."""

    def __init__(
        self,
        store: Store,
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
        )

    def changed(self) -> None:
        """Announce the worker's state now rather than at the next refresh."""
        self._poke.set()

    async def announce(self) -> None:
        now = time.time()
        record = dataclasses.replace(
            self._record,
            busy=self._busy(),
            draining=self._draining(),
            last_seen=now,
            expires_at=now + self._ttl,
        )
        try:
            await self._store.announce_worker(record)
        except StoreError as exc:
            log.warning("could not refresh this worker's registry entry: %s", exc)

    async def keep_fresh(self) -> None:
        """Refresh the row a few times per TTL until cancelled."""
        while True:
            # Not wait_for: on Python 3.11 it swallows a cancellation that arrives as the
            # poke fires (request_stop pokes, then the task is cancelled) and this loop
            # would never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ttl / 3):
                    await self._poke.wait()
            self._poke.clear()
            await self.announce()

    async def retire(self) -> None:
        try:
            await self._store.retire_worker(self._record.id)
        except StoreError as exc:
            log.warning("could not remove this worker's registry entry (it expires): %s", exc)
