"""Group commit of workers' progress writes on PostgreSQL.

Concurrent `save_progress` calls of one process queue up; one task sends each batch over one
connection in a single pipelined transaction, so many runs' steps share one round trip and one
commit. A run whose lease is gone is reported in its row; it does not undo the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from psycopg_pool import AsyncConnectionPool

from bosun.store.postgres_io import Conn, Q, translate

MAX_BATCH = 256


class ProgressBatcher:
    """Queue of pending `save_progress` calls, flushed batch after batch."""

    def __init__(self, pool: AsyncConnectionPool[Conn], where: str) -> None:
        self._pool = pool
        self._where = where
        self._queue: list[tuple[dict[str, Any], asyncio.Future[str | None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, params: dict[str, Any]) -> str | None:
        """Record one run's progress; return its final status (or 'lease_lost', or None)."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._queue.append((params, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="bosun-pg-progress")
        return await future

    async def close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                statuses = await self._write(batch)
            except Exception as exc:  # nothing of the batch was committed
                error = translate(exc, self._where)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), status in zip(batch, statuses, strict=True):
                if not future.done():
                    future.set_result(status)

    async def _write(self, batch: list[tuple[dict[str, Any], Any]]) -> list[str | None]:
        async with self._pool.connection() as conn:
            if len(batch) == 1:
                row = await (await conn.execute(Q["save_progress"], batch[0][0])).fetchone()
                return [row["final_status"] if row else None]
            async with conn.transaction(), conn.pipeline() as pipeline:
                cursors = []
                for params, _ in batch:
                    cursor = conn.cursor()
                    await cursor.execute(Q["save_progress"], params)
                    cursors.append(cursor)
                await pipeline.sync()
                rows = [await cursor.fetchone() for cursor in cursors]
            return [row["final_status"] if row else None for row in rows]
