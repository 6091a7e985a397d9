"""`ctx.memory`: long-term memories, searched by meaning.

`add` embeds a text and stores it; `search` embeds a query and returns the most similar
memories. Both are journaled steps, so a replay neither embeds nor stores again and finds
what it found the first time. Memories live in a namespace: the run's session's
(`scope="session"`, the default for a run in a session) or its tenant's (`scope="tenant"`).

Embeddings come from the model alias `embeddings` when it is configured (an OpenAI-compatible
`/embeddings` endpoint), else from `default`; the scripted provider embeds offline. Search is
cosine similarity: on PostgreSQL through pgvector's HNSW index where the database uses it
(`bosun db memory-search`), else exactly in SQL; exactly in the worker on SQLite. A namespace
keeps one embedding size: a memory or query of another size (the model changed) fails with
`MemoryDimensionMismatch` rather than finding nothing.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import TYPE_CHECKING, Any, Literal, cast

from bosun import serde
from bosun.agents.provider import Embedder
from bosun.agents.registry import MODELS
from bosun.engine.definitions import StepDef
from bosun.engine.execution import current_step
from bosun.errors import ConfigurationError, MemoryDimensionMismatch
from bosun.records import NewMemory
from bosun.retry import Retry

if TYPE_CHECKING:
    from bosun.engine.execution import Execution

Scope = Literal["session", "tenant"]
EMBED_RETRY = Retry(
    attempts=5,
    initial=1.0,
    backoff=2.0,
    max_interval=60.0,
    non_retryable=(MemoryDimensionMismatch,),  # another model's vectors stay incomparable
)
_NAMESPACE = uuid.UUID("3f5d3a0e-2a6c-4d84-9f77-6a1c5c7d9e10")


class Memory:
    """The long-term memory of a run's session or tenant (`ctx.memory`)."""

    def __init__(self, execution: Execution) -> None:
        self._execution = execution

    def _namespace(self, scope: Scope | None) -> str:
        run = self._execution.run
        chosen = scope or ("session" if run.session else "tenant")
        if chosen == "tenant":
            return "tenant"
        if chosen == "session":
            if run.session is None:
                raise ConfigurationError(
                    "scope='session' needs a run submitted with a session; use scope='tenant'"
                )
            return f"session:{run.session}"
        raise ConfigurationError(f"scope must be 'session' or 'tenant', not {scope!r}")

    def _embedder(self, alias: str | None) -> tuple[Embedder, str, str]:
        models = self._execution.env.extensions.get(MODELS)
        if models is None:
            raise ConfigurationError("this worker has no models configured (ctx.memory)")
        name = alias or ("embeddings" if "embeddings" in models.configs else "default")
        provider = models.provider(name)
        if not callable(getattr(provider, "embed", None)):
            raise ConfigurationError(f"model {name!r} cannot embed texts")
        return cast(Embedder, provider), models.config(name).model, name

    async def add(
        self,
        text: str,
        *,
        metadata: dict[str, Any] | None = None,
        scope: Scope | None = None,
        model: str | None = None,
    ) -> str:
        """Remember `text` (with optional `metadata`); return the memory's id."""
        namespace = self._namespace(scope)
        embedder, model_name, alias = self._embedder(model)
        run = self._execution.run
        store = self._execution.env.store
        meta = serde.dumps(metadata or {}, "memory", root="metadata")

        async def remember() -> str:
            scope_ = current_step.get()
            memory_id = uuid.uuid5(_NAMESPACE, f"{run.id}/{scope_.seq if scope_ else ''}").hex
            vectors, _ = await embedder.embed(model_name, [text])
            memory = NewMemory(
                memory_id, run.tenant, namespace, text, meta, _normalised(vectors[0]), alias
            )
            await store.add_memory(memory)
            return memory_id

        step = StepDef(fn=remember, name="memory.add", retry=EMBED_RETRY, is_async=True)
        result: str = await self._execution.call_step(step, (), {})
        return result

    async def search(
        self,
        query: str,
        *,
        k: int = 5,
        scope: Scope | None = None,
        model: str | None = None,
    ) -> list[dict[str, Any]]:
        """The `k` memories most similar to `query`, best first: each a dict with `id`,
        `text`, `metadata` and `score` (cosine similarity)."""
        if k < 1:
            raise ConfigurationError("k must be >= 1")
        namespace = self._namespace(scope)
        embedder, model_name, _ = self._embedder(model)
        run = self._execution.run
        store = self._execution.env.store

        async def recall() -> list[dict[str, Any]]:
            vectors, _ = await embedder.embed(model_name, [query])
            hits = await store.search_memories(run.tenant, namespace, _normalised(vectors[0]), k)
            return [
                {"id": h.id, "text": h.text, "metadata": json.loads(h.metadata), "score": h.score}
                for h in hits
            ]

        step = StepDef(fn=recall, name="memory.search", retry=EMBED_RETRY, is_async=True)
        found: list[dict[str, Any]] = await self._execution.call_step(step, (), {})
        return found


def _normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else list(vector)
