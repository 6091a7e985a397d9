"""Memories on PostgreSQL: through the `add_memory` and `search_memories` SQL functions, which
take pgvector's HNSW index where the database has moved onto it (`vectors.py`), else float8
arrays searched exactly."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal

import psycopg

from bosun.errors import MemoryDimensionMismatch
from bosun.records import MemoryHit, NewMemory
from bosun.store.postgres import vectors
from bosun.store.postgres.io import _MIGRATION_LOCK, Conn, Q, T, in_schema
from bosun.store.postgres.vectors import MemorySearch, MemorySearchPath

DIMS_MISMATCH = "BM001"  # raised by search_memories()


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

        async def op(conn: Conn) -> str:
            row = await (await conn.execute(Q["add_memory"], params)).fetchone()
            assert row is not None
            return str(row["outcome"])

        outcome = await self._run(op, idempotent=True)
        if outcome.startswith("dims:"):
            raise MemoryDimensionMismatch(
                f"memory namespace {memory.namespace!r} holds {outcome[5:]}-dimension "
                f"embeddings, and the memory has {len(memory.embedding)} (was the embedding "
                "model changed?)"
            )

    async def search_memories(
        self, tenant: str, namespace: str, query: list[float], k: int
    ) -> list[MemoryHit]:
        params = {"tenant": tenant, "namespace": namespace, "query": query, "k": k}

        async def op(conn: Conn) -> list[MemoryHit]:
            try:
                rows = await (await conn.execute(Q["search_memories"], params)).fetchall()
            except psycopg.Error as exc:
                if exc.sqlstate == DIMS_MISMATCH:
                    raise MemoryDimensionMismatch(exc.diag.message_primary or str(exc)) from exc
                raise
            return [
                MemoryHit(r["id"], r["text"], r["metadata"], float(r["score"]), r["created_at"])
                for r in rows
            ]

        return await self._run(op, idempotent=True)

    async def memory_search_path(self) -> Literal["exact", "pgvector"]:
        async def op(conn: Conn) -> MemorySearchPath:
            async with in_schema(conn):
                return await vectors.path(conn)

        return await self._run(op, idempotent=True)

    async def memory_search(self) -> MemorySearch:
        """Where this database's memories are searched, and what the server offers."""

        async def op(conn: Conn) -> MemorySearch:
            async with in_schema(conn):
                return await vectors.describe(conn)

        return await self._run(op, idempotent=True)

    async def set_memory_search(self, path: MemorySearchPath) -> MemorySearch:
        """Move every memory onto pgvector (`pgvector`: creates the extension if the server
        offers it, converts, builds the HNSW indexes) or back to float8 arrays (`exact`), in
        one transaction: processes sharing the database follow at its commit."""

        async def op(conn: Conn) -> MemorySearch:
            async with in_schema(conn):
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                if path == "pgvector":
                    await vectors.enable(conn, time.time())
                else:
                    await vectors.disable(conn)
            async with in_schema(conn):
                return await vectors.describe(conn)

        return await self._run(op)
