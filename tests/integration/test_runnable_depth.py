"""`runnable`: the runs a pool has work for, once flow control has had its say.

Autoscalers (the chart's KEDA query, `bosun worker --autoscale`) scale on it: a queue limited
to 2 running runs with 6 ready wants 2 runs' worth of workers, not 6. Checked on each store,
through `Store.queue_stats` and through the `queue_depth` view autoscalers read directly.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any

import psycopg

from bosun.records import NewRun
from bosun.store import Store
from bosun.worker.scaling import Load, ScalePolicy, desired_workers

TTL = 30.0
COLUMNS = ("queue", "ready", "in_flight", "waiting", "oldest_ready_age", "runnable")


def run(queue: str, **fields: Any) -> NewRun:
    return NewRun(id=uuid.uuid4().hex, workflow="wf", queue=queue, input="{}", **fields)


def view(url: str) -> dict[str, dict[str, Any]]:
    """The `queue_depth` view, as KEDA's postgresql scaler (or a script on SQLite) reads it."""
    query = f"SELECT {', '.join(COLUMNS)} FROM queue_depth"
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute(query).fetchall()
    else:
        with psycopg.connect(url) as pg:
            rows = pg.execute(query.replace("queue_depth", "bosun.queue_depth")).fetchall()
    return {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in rows}


async def stats(store: Store) -> dict[str, tuple[int, int, int | None]]:
    return {s.queue: (s.ready, s.in_flight, s.runnable) for s in await store.queue_stats()}


async def test_a_queue_limited_to_2_with_6_ready_runs_is_2_runnable(
    store: Store, any_db_url: str
) -> None:
    await store.set_queue_limit("gpu", 2)
    for _ in range(6):
        await store.create_run(run("gpu"))
    await store.create_run(run("default"))
    assert await stats(store) == {"default": (1, 0, 1), "gpu": (6, 0, 2)}
    depth = view(any_db_url)
    assert (depth["gpu"]["ready"], depth["gpu"]["runnable"]) == (6, 2)
    assert depth["default"]["runnable"] == 1

    # The local autoscaler, one run per worker: 2 workers, not 6.
    policy = ScalePolicy(0, 11, concurrency=1)
    load = Load.of(await store.queue_stats(), ["gpu"])
    assert desired_workers(policy, load, current=0) == 2

    # Both slots taken: the other 4 wait for a slot, not a worker.
    claimed = await store.claim_runs("w1", ["gpu"], 6, TTL, time.time())
    assert len(claimed) == 2
    assert (await stats(store))["gpu"] == (4, 2, 2)
    assert view(any_db_url)["gpu"]["runnable"] == 2

    # Lowering the limit below the running runs does not scale in under them.
    await store.set_queue_limit("gpu", 1)
    assert (await stats(store))["gpu"] == (4, 2, 2)
    # Without the limit every ready run can start.
    await store.set_queue_limit("gpu", None)
    assert (await stats(store))["gpu"] == (4, 2, 6)
    assert view(any_db_url)["gpu"]["runnable"] == 6


async def test_a_concurrency_key_admits_as_many_runs_as_it_has_free_slots(
    store: Store, any_db_url: str
) -> None:
    for _ in range(5):
        await store.create_run(run("default", concurrency_key="tenant-a", concurrency_limit=2))
    for _ in range(3):
        await store.create_run(run("default", concurrency_key="tenant-b", concurrency_limit=1))
    await store.create_run(run("default"))
    # 2 of tenant-a, 1 of tenant-b, the unkeyed run.
    assert await stats(store) == {"default": (9, 0, 4)}
    # A claim admits one run per key (the key's oldest); claim until nothing more starts.
    started = 0
    while claimed := await store.claim_runs("w1", ["default"], 9, TTL, time.time()):
        started += len(claimed)
    assert started == 4
    # The 4 started runs hold their keys' slots: nothing else can start.
    assert await stats(store) == {"default": (5, 4, 4)}
    assert view(any_db_url)["default"]["runnable"] == 4


async def test_the_view_lists_known_queues_without_work_at_zero(
    store: Store, any_db_url: str
) -> None:
    await store.set_queue_limit("reports", 3)
    await store.create_run(run("default"))
    depth = view(any_db_url)
    assert set(depth) == {"default", "reports"}
    assert depth["reports"] == {
        "queue": "reports",
        "ready": 0,
        "in_flight": 0,
        "waiting": 0,
        "oldest_ready_age": 0,
        "runnable": 0,
    }
    assert (depth["default"]["ready"], depth["default"]["runnable"]) == (1, 1)
