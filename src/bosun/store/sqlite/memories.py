"""Memories on SQLite: vectors stored as JSON, searched exactly in the worker process."""

from __future__ import annotations

import heapq
import json
import sqlite3
import time
from typing import Literal, NoReturn

from bosun.errors import MemoryDimensionMismatch
from bosun.records import MemoryHit, NewMemory
from bosun.store.sqlite.io import GroupCommitWriter, Q, Reader


class SqliteMemories:
    """The memory operations of `SqliteStore`."""

    _writer: GroupCommitWriter
    _reader: Reader

    async def add_memory(self, memory: NewMemory) -> None:
        params = {
            "id": memory.id,
            "tenant": memory.tenant,
            "namespace": memory.namespace,
            "text": memory.text,
            "metadata": memory.metadata,
            "embedding": json.dumps(memory.embedding),
            "dims": len(memory.embedding),
            "model": memory.model,
            "now": time.time(),
        }

        def op(conn: sqlite3.Connection) -> None:
            held = conn.execute(Q["namespace_dims"], params).fetchone()
            if held is not None and held["dims"] != params["dims"]:
                _refuse(params, held["dims"], "memory")
            conn.execute(Q["insert_memory"], params)

        await self._writer.submit(op)

    async def memory_search_path(self) -> Literal["exact", "pgvector"]:
        return "exact"

    async def search_memories(
        self, tenant: str, namespace: str, query: list[float], k: int
    ) -> list[MemoryHit]:
        params = {"tenant": tenant, "namespace": namespace, "dims": len(query)}

        def op(conn: sqlite3.Connection) -> list[MemoryHit]:
            hits = []
            for row in conn.execute(Q["namespace_memories"], params):
                vector = json.loads(row["embedding"])
                score = sum(a * b for a, b in zip(vector, query, strict=True))
                hits.append(
                    MemoryHit(row["id"], row["text"], row["metadata"], score, row["created_at"])
                )
            if not hits:
                _check_dims(conn, params, "query")
            return heapq.nlargest(k, hits, key=lambda h: (h.score, h.created_at))

        return await self._reader.submit(op)


def _check_dims(conn: sqlite3.Connection, params: dict[str, object], what: str) -> None:
    """Refuse a query whose size differs from every memory of the namespace."""
    row = conn.execute(Q["namespace_dims_other_than"], params).fetchone()
    if row is not None:
        _refuse(params, row["dims"], what)


def _refuse(params: dict[str, object], held: int, what: str) -> NoReturn:
    raise MemoryDimensionMismatch(
        f"memory namespace {params['namespace']!r} holds {held}-dimension embeddings, and "
        f"the {what} has {params['dims']} (was the embedding model changed?)"
    )
