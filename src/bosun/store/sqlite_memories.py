"""Memories on SQLite: vectors stored as JSON, searched exactly in the worker process."""

from __future__ import annotations

import heapq
import json
import sqlite3
import time

from bosun.store.records import MemoryHit, NewMemory
from bosun.store.sqlite_io import GroupCommitWriter, Q, Reader


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
            "model": memory.model,
            "now": time.time(),
        }

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(Q["insert_memory"], params)

        await self._writer.submit(op)

    async def search_memories(
        self, tenant: str, namespace: str, query: list[float], k: int
    ) -> list[MemoryHit]:
        params = {"tenant": tenant, "namespace": namespace}

        def op(conn: sqlite3.Connection) -> list[MemoryHit]:
            hits = []
            for row in conn.execute(Q["namespace_memories"], params):
                vector = json.loads(row["embedding"])
                if len(vector) != len(query):
                    continue  # embedded by another model: not comparable
                score = sum(a * b for a, b in zip(vector, query, strict=True))
                hits.append(
                    MemoryHit(row["id"], row["text"], row["metadata"], score, row["created_at"])
                )
            return heapq.nlargest(k, hits, key=lambda h: (h.score, h.created_at))

        return await self._reader.submit(op)
