"""Memories on PostgreSQL: float8 arrays, searched exactly in SQL."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from bosun.store.postgres_io import Conn, Q, T
from bosun.store.records import MemoryHit, NewMemory


class PostgresMemories:
    """The memory operations of `PostgresStore`."""

    async def _run(self, op: Callable[[Conn], Awaitable[T]], *, idempotent: bool = False) -> T:
        raise NotImplementedError

    async def add_memory(self, memory: NewMemory) -> None:
        params = {
            "id": memory.id,
            "tenant": memory.tenant,
            "namespace": memory.namespace,
            "text": memory.text,
            "metadata": memory.metadata,
            "embedding": memory.embedding,
            "model": memory.model,
            "now": time.time(),
        }

        async def op(conn: Conn) -> None:
            await conn.execute(Q["insert_memory"], params)

        await self._run(op, idempotent=True)

    async def search_memories(
        self, tenant: str, namespace: str, query: list[float], k: int
    ) -> list[MemoryHit]:
        params = {"tenant": tenant, "namespace": namespace, "query": query, "k": k}

        async def op(conn: Conn) -> list[MemoryHit]:
            rows = await (await conn.execute(Q["search_memories"], params)).fetchall()
            return [
                MemoryHit(r["id"], r["text"], r["metadata"], float(r["score"]), r["created_at"])
                for r in rows
            ]

        return await self._run(op, idempotent=True)
