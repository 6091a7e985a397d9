"""Memory search on both paths: pgvector's HNSW index and exact search, on real PostgreSQL
(with the extension CI builds from ../shared/vendor) and SQLite; moving between the paths;
embeddings of another size refused."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from bosun.errors import MemoryDimensionMismatch
from bosun.records import NewMemory
from bosun.store import Store
from bosun.store.postgres import PostgresStore
from bosun.store.sqlite import SqliteStore

pytestmark = pytest.mark.postgres


def _vector(rng: random.Random, dims: int) -> list[float]:
    values = [rng.gauss(0, 1) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def _memories(n: int, dims: int, namespace: str = "tenant", seed: int = 1) -> list[NewMemory]:
    rng = random.Random(seed)
    return [
        NewMemory(f"m{i}", "acme", namespace, f"text {i}", "{}", _vector(rng, dims), "e")
        for i in range(n)
    ]


def _exact(memories: list[NewMemory], query: list[float], k: int) -> list[str]:
    scored = sorted(
        memories, key=lambda m: -sum(a * b for a, b in zip(m.embedding, query, strict=True))
    )
    return [m.id for m in scored[:k]]


def _has_pgvector(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
    return bool(row and row[0])


@pytest.fixture
def pgvector(pg_url: str) -> str:
    """A PostgreSQL database whose server offers pgvector: CI builds it (`.ci/run`), so
    there a missing extension fails; elsewhere the test is skipped."""
    if not _has_pgvector(pg_url):
        if os.environ.get("CI"):
            pytest.fail("CI must run the memory tests on pgvector: .ci/run builds it")
        pytest.skip("this PostgreSQL server has no pgvector (see docs/operations.md)")
    return pg_url


@pytest.fixture
async def pg_store(pgvector: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(pgvector)
    await store.open()
    yield store
    await store.close()


async def test_a_new_database_takes_pgvector_when_the_server_offers_it(
    pg_store: PostgresStore,
) -> None:
    described = await pg_store.memory_search()
    assert described.path == "pgvector" and described.extension == "enabled"
    assert await pg_store.memory_search_path() == "pgvector"


async def test_memory_search_exact_in_the_url_keeps_a_new_database_exact(pgvector: str) -> None:
    with psycopg.connect(pgvector, autocommit=True) as conn:  # a database never migrated
        conn.execute("DROP SCHEMA bosun CASCADE")
        conn.execute("DROP EXTENSION IF EXISTS vector")
    store = PostgresStore(pgvector + "?memory_search=exact")
    await store.open()
    try:
        assert (await store.memory_search()).path == "exact"
        assert (await store.memory_search()).extension == "available"
    finally:
        await store.close()


async def test_pgvector_finds_what_exact_search_finds(pg_store: PostgresStore) -> None:
    memories = _memories(300, 16)
    for memory in memories:
        await pg_store.add_memory(memory)
    assert (await pg_store.memory_search()).indexed_dims == (16,)
    query = _vector(random.Random(99), 16)
    hits = await pg_store.search_memories("acme", "tenant", query, 5)
    assert [h.id for h in hits] == _exact(memories, query, 5)
    best = memories[int(hits[0].id[1:])]
    assert hits[0].score == pytest.approx(
        sum(a * b for a, b in zip(best.embedding, query, strict=True))
    )


async def test_the_hnsw_index_serves_large_namespaces_with_the_filter(
    pg_store: PostgresStore, pgvector: str
) -> None:
    """Below `p_exact_below` memories a namespace is searched exactly; here the threshold is
    lowered so the HNSW branch runs, with other tenants' memories around the namespace."""
    mine = _memories(400, 16)
    others = [
        NewMemory(f"o{i}", f"other{i % 3}", "tenant", "x", "{}", m.embedding, "e")
        for i, m in enumerate(_memories(800, 16, seed=2))
    ]
    for memory in mine + others:
        await pg_store.add_memory(memory)
    query = _vector(random.Random(5), 16)
    with psycopg.connect(pgvector, autocommit=True) as conn:
        conn.execute("SET search_path TO bosun")
        rows = conn.execute(
            "SELECT id FROM search_memories('acme', 'tenant', %s::double precision[], 10, 1)",
            (query,),
        ).fetchall()
        conn.execute("SELECT pg_stat_force_next_flush()")
        scans = conn.execute(
            "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'memories_hnsw_16'"
        ).fetchone()
    assert scans is not None and scans[0] >= 1  # the HNSW index answered
    found = [r[0] for r in rows]
    assert all(i.startswith("m") for i in found)  # the filter held: no other tenant's
    assert len(set(found) & set(_exact(mine, query, 10))) >= 9  # recall@10 >= 0.9


async def test_moving_to_exact_and_back_loses_nothing(pg_store: PostgresStore) -> None:
    memories = _memories(50, 8)
    for memory in memories[:25]:
        await pg_store.add_memory(memory)
    query = _vector(random.Random(3), 8)
    before = [h.id for h in await pg_store.search_memories("acme", "tenant", query, 5)]

    exact = await pg_store.set_memory_search("exact")
    assert (exact.path, exact.memories, exact.indexed_dims) == ("exact", 25, ())
    assert [h.id for h in await pg_store.search_memories("acme", "tenant", query, 5)] == before
    for memory in memories[25:]:
        await pg_store.add_memory(memory)

    moved = await pg_store.set_memory_search("pgvector")
    assert (moved.path, moved.memories, moved.indexed_dims) == ("pgvector", 50, (8,))
    hits = await pg_store.search_memories("acme", "tenant", query, 5)
    assert [h.id for h in hits] == _exact(memories, query, 5)


async def test_a_database_with_memories_moves_only_when_told(pgvector: str) -> None:
    url = pgvector + "?memory_search=exact"
    with psycopg.connect(pgvector, autocommit=True) as conn:
        conn.execute("DROP SCHEMA bosun CASCADE")
    store = PostgresStore(url)
    await store.open()
    for memory in _memories(10, 4):
        await store.add_memory(memory)
    await store.close()
    auto = PostgresStore(pgvector)  # memory_search=auto: it has memories, so it stays
    await auto.open()
    try:
        assert await auto.memory_search_path() == "exact"
        assert (await auto.set_memory_search("pgvector")).memories == 10
    finally:
        await auto.close()


@pytest.fixture(params=["sqlite", "postgres-exact", "postgres-pgvector"])
def store_kind(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """(Sync: the PostgreSQL fixtures migrate a template with their own event loop.)"""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('memory')}/bosun.db"
    return f"{request.param}|{request.getfixturevalue('pgvector')}"


@pytest.fixture
async def any_store(store_kind: str) -> AsyncIterator[Store]:
    store: Store
    if store_kind.startswith("sqlite:"):
        store = SqliteStore(store_kind)
        await store.open()
    else:
        kind, url = store_kind.split("|", 1)
        pg = PostgresStore(url)
        await pg.open()
        if kind == "postgres-exact":
            await pg.set_memory_search("exact")
        store = pg
    yield store
    await store.close()


async def test_embeddings_of_another_size_are_refused_clearly(any_store: Store) -> None:
    await any_store.add_memory(NewMemory("a", "acme", "tenant", "a", "{}", [1.0, 0.0], "e"))
    with pytest.raises(MemoryDimensionMismatch, match="holds 2-dimension embeddings"):
        await any_store.add_memory(
            NewMemory("b", "acme", "tenant", "b", "{}", [1.0, 0.0, 0.0], "f")
        )
    with pytest.raises(MemoryDimensionMismatch, match="holds 2-dimension embeddings"):
        await any_store.search_memories("acme", "tenant", [1.0, 0.0, 0.0], 3)
    # Another namespace may use another model; an empty one finds nothing, without error.
    await any_store.add_memory(NewMemory("c", "acme", "other", "c", "{}", [0.0, 0.0, 1.0], "f"))
    assert [h.id for h in await any_store.search_memories("acme", "other", [0.0, 0.0, 1.0], 3)] == [
        "c"
    ]
    assert await any_store.search_memories("acme", "empty", [1.0, 0.0], 3) == []
    assert [h.id for h in await any_store.search_memories("acme", "tenant", [1.0, 0.0], 3)] == ["a"]


def _bosun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bosun", *args], capture_output=True, text=True, timeout=60
    )


def test_bosun_db_memory_search_shows_and_moves_the_path(pgvector: str) -> None:
    shown = _bosun("db", "memory-search", "--database", pgvector)
    assert shown.returncode == 0, shown.stderr
    assert "memory search: pgvector (HNSW, cosine" in shown.stdout
    moved = _bosun("db", "memory-search", "exact", "--database", pgvector, "--json")
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["path"] == "exact"
    upgraded = _bosun("db", "upgrade", "--database", pgvector, "--json")
    assert json.loads(upgraded.stdout)["memory_search"] == "pgvector"  # the server offers it
    wrong = _bosun("db", "memory-search", "hnsw", "--database", pgvector)
    assert wrong.returncode == 2 and "pgvector or exact" in wrong.stderr


def test_bosun_db_memory_search_on_sqlite_says_it_is_exact(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bosun.db"
    assert _bosun("db", "upgrade", "--database", url).returncode == 0
    refused = _bosun("db", "memory-search", "pgvector", "--database", url)
    assert refused.returncode == 2 and "needs a PostgreSQL database" in refused.stderr
