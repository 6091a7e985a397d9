"""Group commit of workers' progress writes on PostgreSQL.

Concurrent `save_progress` calls of one process queue up; each batch goes to the database as
one call of the `save_progress_batch` SQL function (one JSON document, one statement, one
commit), so many runs' steps share a round trip and an fsync. Up to `WRITERS` batches are in
flight at once, on their own connections, so the next batch is written while the last one
commits. A run whose lease is gone is reported in its row; it does not undo the others.

Batches in flight together touch different runs, but settling a child's parent can make two
of them lock the same rows in opposite orders; PostgreSQL then aborts one whole batch, which
is written again (nothing of it was committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from bosun.store.postgres.io import Conn, Q, UrlOptions, translate
from bosun.store.rows import compact_json

log = logging.getLogger("bosun.store.postgres")
MAX_BATCH = 256
WRITERS = 2
RETRIES = 5  # of a batch aborted by a deadlock or a serialization failure


class ProgressBatcher:
    """Queue of pending `save_progress` calls, flushed in batches by up to `WRITERS` tasks."""

    def __init__(
        self, pool: AsyncConnectionPool[Conn], where: str, options: UrlOptions | None = None
    ) -> None:
        self._pool = pool
        self._where = where
        self._options = options
        self._queue: list[tuple[dict[str, Any], asyncio.Future[str | None]]] = []
        self._writers: set[asyncio.Task[None]] = set()

    async def submit(self, params: dict[str, Any]) -> str | None:
        """Record one run's progress; return its final status (or 'lease_lost', or None)."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._queue.append((params, future))
        if len(self._writers) < WRITERS:
            task = asyncio.create_task(self._drain(), name="bosun-pg-progress")
            self._writers.add(task)
            task.add_done_callback(self._writers.discard)
        return await future

    async def close(self) -> None:
        for task in list(self._writers):
            with contextlib.suppress(Exception):
                await task

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    statuses = await self._write(batch)
                except Exception as exc:  # nothing of the batch was committed
                    error = translate(exc, self._where, self._options)
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, future), status in zip(batch, statuses, strict=True):
                    if not future.done():
                        future.set_result(status)
        finally:
            # Leave the set in the same step as the last look at the queue: a submit that
            # finds this writer still listed would otherwise start none, and wait forever.
            task = asyncio.current_task()
            if task is not None:
                self._writers.discard(task)

    async def _write(self, batch: list[tuple[dict[str, Any], Any]]) -> list[str | None]:
        document = compact_json([params for params, _ in batch])
        for attempt in range(1, RETRIES + 1):
            try:
                async with self._pool.connection() as conn:
                    cur = await conn.execute(Q["save_progress_batch"], (document,))
                    rows = await cur.fetchall()
                return [row["final_status"] for row in rows]
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt == RETRIES:
                    raise
                log.info(
                    "progress batch of %d runs aborted by a lock conflict; writing it again",
                    len(batch),
                )
        raise AssertionError("unreachable")
