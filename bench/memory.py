"""bosun memory benchmark: `ctx.memory` search on pgvector (HNSW), on exact search in
PostgreSQL, and on SQLite's exact search.

Embeddings are synthetic but clustered like real ones: 1,000 centres drawn at random, each
memory a centre plus noise (`NOISE`), normalised (uniform random vectors would be the HNSW
graph's worst case and nobody's data). Queries are drawn the same way. For each dimension
count (384 and 1536), on a throwaway PostgreSQL database:

1. 100k memories are loaded into the exact path (COPY), split over 1 tenant (the filter keeps
   every row), 10 tenants (it keeps 10%) or 100 tenants (1%, a namespace of 1,000 memories);
   exact search is timed on a few queries;
2. `bosun db memory-search pgvector`'s move is timed (conversion and HNSW build);
3. search p50/p99 on pgvector and recall@10 against the true nearest neighbours (numpy, exact
   float64), for each filter;
4. the same at 10k memories, to show whether p99 grows with the table;
5. inserts through `PostgresStore.add_memory`, one at a time, on each path;
6. SQLite's exact search at 10k memories (its JSON vectors make 100k x 1536 several GB).

    .venv/bin/python bench/memory.py [--quick] [--dims 384,1536] [--out F]

Prints a Markdown table and writes JSON to --out. `--quick` uses 20k/2k memories.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from _common import percentile
from _pg import create_database, drop_database, server_url

from bosun.records import NewMemory
from bosun.store.postgres import PostgresStore
from bosun.store.sqlite import SqliteStore

K = 10
CENTRES = 1000
# Noise per dimension, relative to the centres' (standard normal): a memory's nearest
# neighbours sit near cosine 0.6, as sentence embeddings' do; with far less noise every
# cluster is a ball of near-duplicates, the worst case of any approximate index.
NOISE = 0.8


def embeddings(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    picks = rng.integers(0, len(centres), n)
    noise = rng.standard_normal((n, centres.shape[1])) * NOISE
    vectors = centres[picks] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def tenants_of(n: int, tenants: int) -> np.ndarray:
    return np.arange(n) % tenants


async def load(url: str, vectors: np.ndarray, tenants: int) -> None:
    """COPY the memories in, as the exact path stores them."""
    owner = tenants_of(len(vectors), tenants)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("SET search_path TO bosun")
        async with conn.cursor() as cur:
            copy_sql = (
                "COPY memories (id, tenant, namespace, text, metadata, embedding, dims, model, "
                "created_at) FROM STDIN"
            )
            async with cur.copy(copy_sql) as copy:
                for i, vector in enumerate(vectors):
                    await copy.write_row(
                        (
                            f"m{i}",
                            f"t{owner[i]}",
                            "tenant",
                            f"memory {i}",
                            "{}",
                            vector.tolist(),
                            vectors.shape[1],
                            "bench",
                            float(i),
                        )
                    )
        await conn.execute("ANALYZE bosun.memories")


def truth(vectors: np.ndarray, owner: np.ndarray, query: np.ndarray, tenant: int) -> set[str]:
    mask = owner == tenant
    scores = vectors[mask] @ query
    ids = np.nonzero(mask)[0]
    best = ids[np.argsort(-scores)[:K]]
    return {f"m{i}" for i in best}


async def timed_searches(
    store: Any, vectors: np.ndarray, owner: np.ndarray, queries: np.ndarray, tenants: int
) -> dict[str, float]:
    latencies, recalls = [], []
    for n, query in enumerate(queries):
        tenant = n % tenants
        start = time.perf_counter()
        hits = await store.search_memories(f"t{tenant}", "tenant", query.tolist(), K)
        latencies.append(time.perf_counter() - start)
        expected = truth(vectors, owner, query, tenant)
        recalls.append(len(expected & {h.id for h in hits}) / len(expected))
    return {
        "queries": len(queries),
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
        "recall_at_10": float(np.mean(recalls)),
    }


async def insert_rate(store: Any, rng: np.random.Generator, centres: np.ndarray, n: int) -> float:
    vectors = embeddings(rng, centres, n)
    start = time.perf_counter()
    for vector in vectors:
        await store.add_memory(
            NewMemory(uuid.uuid4().hex, "t0", "inserts", "new", "{}", vector.tolist(), "bench")
        )
    return n / (time.perf_counter() - start)


async def postgres_case(
    server: str, dims: int, size: int, tenants: int, rng: np.random.Generator, quick: bool
) -> dict[str, Any]:
    centres = rng.standard_normal((CENTRES, dims))
    vectors = embeddings(rng, centres, size)
    queries = embeddings(rng, centres, 60 if quick else 200)
    owner = tenants_of(size, tenants)
    url = create_database(server, "bench_memory")
    store = PostgresStore(url + ("&" if "?" in url else "?") + "memory_search=exact")
    result: dict[str, Any] = {"dims": dims, "memories": size, "tenants": tenants}
    try:
        await store.open()
        await load(url, vectors, tenants)
        result["exact"] = await timed_searches(store, vectors, owner, queries[:10], tenants)
        start = time.perf_counter()
        await store.set_memory_search("pgvector")
        result["move_s"] = time.perf_counter() - start
        await timed_searches(store, vectors, owner, queries[:10], tenants)  # warm the cache
        result["pgvector"] = await timed_searches(store, vectors, owner, queries, tenants)
        if tenants == 1 and size >= 10_000:
            result["pgvector_insert_per_s"] = await insert_rate(store, rng, centres, 300)
            await store.set_memory_search("exact")
            result["exact_insert_per_s"] = await insert_rate(store, rng, centres, 300)
    finally:
        await store.close()
        drop_database(server, url)
    return result


async def sqlite_case(dims: int, size: int, rng: np.random.Generator) -> dict[str, Any]:
    centres = rng.standard_normal((CENTRES, dims))
    vectors = embeddings(rng, centres, size)
    queries = embeddings(rng, centres, 10)
    folder = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    store = SqliteStore(f"sqlite:///{folder}/bosun.db")
    try:
        await store.open()
        start = time.perf_counter()
        await asyncio.gather(
            *(
                store.add_memory(NewMemory(f"m{i}", "t0", "tenant", "x", "{}", v.tolist(), "b"))
                for i, v in enumerate(vectors)
            )
        )
        rate = size / (time.perf_counter() - start)
        owner = tenants_of(size, 1)
        return {
            "dims": dims,
            "memories": size,
            "insert_per_s": rate,
            "exact": await timed_searches(store, vectors, owner, queries, 1),
        }
    finally:
        await store.close()
        shutil.rmtree(folder)


def table(results: dict[str, Any]) -> str:
    lines = [
        "| dims | memories | tenants (filter keeps) | exact PG p50 / p99 | move to pgvector | "
        "pgvector p50 / p99 | recall@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["postgres"]:
        ex, pv = r["exact"], r["pgvector"]
        lines.append(
            f"| {r['dims']} | {r['memories']:,} | {r['tenants']} ({100 // r['tenants']}%) | "
            f"{ex['p50_ms']:.1f} / {ex['p99_ms']:.1f} ms | {r['move_s']:.1f} s | "
            f"{pv['p50_ms']:.2f} / {pv['p99_ms']:.2f} ms | {pv['recall_at_10']:.3f} |"
        )
    lines += ["", "| dims | inserts/s pgvector | inserts/s exact PG |", "|---|---|---|"]
    for r in results["postgres"]:
        if "pgvector_insert_per_s" in r:
            lines.append(
                f"| {r['dims']} ({r['memories']:,}) | {r['pgvector_insert_per_s']:.0f} | "
                f"{r['exact_insert_per_s']:.0f} |"
            )
    lines += ["", "| dims | SQLite memories | inserts/s | exact p50 / p99 |", "|---|---|---|---|"]
    for r in results["sqlite"]:
        ex = r["exact"]
        lines.append(
            f"| {r['dims']} | {r['memories']:,} | {r['insert_per_s']:.0f} | "
            f"{ex['p50_ms']:.0f} / {ex['p99_ms']:.0f} ms |"
        )
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dims", default="384,1536")
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--tenants", default="1,10,100", help="tenant counts of the big runs (filters kept)"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    big, small = (20_000, 2_000) if args.quick else (100_000, 10_000)
    server = server_url()
    results: dict[str, Any] = {"postgres": [], "sqlite": []}
    for dims in (int(d) for d in args.dims.split(",")):
        cases = [(big, int(t)) for t in args.tenants.split(",")] + [(small, 1)]
        for size, tenants in cases:
            print(f"postgres: {dims} dims, {size} memories, {tenants} tenants", file=sys.stderr)
            results["postgres"].append(
                await postgres_case(server, dims, size, tenants, rng, args.quick)
            )
        print(f"sqlite: {dims} dims, {small} memories", file=sys.stderr)
        results["sqlite"].append(await sqlite_case(dims, small, rng))
    results["machine"] = {"cpus": os.cpu_count(), "when": time.strftime("%Y-%m-%d")}
    print(table(results))
    if args.out:
        with open(args.out, "w") as file:  # noqa: ASYNC230 (once, at the end)
            json.dump(results, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
