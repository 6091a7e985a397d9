"""Group commit of workers' progress writes on PostgreSQL.

Concurrent `save_progress` calls of one process queue up; one task sends each batch as one
call of the `save_progress_batch` SQL function (one JSON document, one statement, one commit),
so many runs' steps share a round trip and an fsync. A run whose lease is gone is reported in
its row; it does not undo the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
        document = json.dumps([params for params, _ in batch], separators=(",", ":"))
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(Q["save_progress_batch"], (document,))).fetchall()
        return [row["final_status"] for row in rows]
