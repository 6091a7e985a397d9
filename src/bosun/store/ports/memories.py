"""Long-term memories: embeddings stored per tenant and namespace, searched by similarity."""

from __future__ import annotations

from typing import Literal, Protocol

from bosun.records import MemoryHit, NewMemory


class MemoryStore(Protocol):
    """Stores memories and finds the nearest ones (`ctx.memory`)."""

    async def add_memory(self, memory: NewMemory) -> None:
        """Store a memory (an id stored before is left as it is)."""

    async def search_memories(
        self, tenant: str, namespace: str, query: list[float], k: int
    ) -> list[MemoryHit]:
        """The `k` memories of the namespace most similar to `query` (normalised), best
        first, by cosine similarity: exact, or through pgvector's HNSW index on a PostgreSQL
        database moved onto it. `MemoryDimensionMismatch` when the namespace holds only
        embeddings of another size; `add_memory` raises it too."""

    async def memory_search_path(self) -> Literal["exact", "pgvector"]:
        """How `search_memories` searches this database."""
