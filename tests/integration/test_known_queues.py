"""Every known queue has a row in the queue stats, of zeros when it has no work, on both
stores: a queue served by a worker, a limited queue, a queue the caller's app declares, and
a queue whose last run finished within `QUEUE_FORGET_AFTER`. A tenant's view names the
queues of its own runs only; workers, limits and the app's queues are everyone's."""

from __future__ import annotations

import sqlite3
import time

import psycopg

from bosun.records import QUEUE_FORGET_AFTER, Outcome, Progress, QueueStats
from bosun.store import Store
from tests.integration.test_store_contract import TTL, new_run
from tests.integration.test_versions import worker


def counts(stats: list[QueueStats]) -> dict[str, tuple[int, int, int]]:
    return {s.queue: (s.ready, s.in_flight, s.waiting) for s in stats}


async def finish(store: Store, queue: str, tenant: str) -> str:
    run_id, _ = await store.create_run(new_run(queue=queue, tenant=tenant))
    [claimed] = await store.claim_runs("w", [queue], 1, TTL, time.time())
    await store.save_progress(claimed.lease, Progress(outcome=Outcome("complete", result="1")), TTL)
    return str(run_id)


def finished_long_ago(url: str, run_id: str) -> None:
    """Make a finished run look as if it had finished before the queue is forgotten."""
    before = time.time() - QUEUE_FORGET_AFTER - 60
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (before, run_id))
    else:
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute("UPDATE bosun.runs SET finished_at = %s WHERE id = %s", (before, run_id))


async def test_known_queues_without_work_show_zeros(store: Store) -> None:
    await store.announce_worker(worker("w1", "v1", queues=("gpu", "default")))
    await store.set_queue_limit("batch", 2)
    await finish(store, "reports", tenant="acme")
    await store.create_run(new_run(queue="default", tenant="globex"))
    zero = (0, 0, 0)

    everyone = await store.queue_stats(known={"declared"})
    assert [s.queue for s in everyone] == ["batch", "declared", "default", "gpu", "reports"]
    assert counts(everyone) == {
        "batch": zero,
        "declared": zero,
        "default": (1, 0, 0),
        "gpu": zero,
        "reports": zero,
    }
    assert all(s.oldest_ready_age == 0 for s in everyone if s.queue != "default")
    # acme sees its finished queue; globex's run in `default` is not counted for it.
    acme = counts(await store.queue_stats(tenant="acme", known=["declared"]))
    assert acme == {q: zero for q in ("batch", "declared", "default", "gpu", "reports")}
    # acme's queue is not globex's business: its runs alone made it known.
    globex = counts(await store.queue_stats(tenant="globex"))
    assert globex == {"batch": zero, "default": (1, 0, 0), "gpu": zero}


async def test_a_queue_is_forgotten_a_while_after_its_last_run_finished(
    store: Store, any_db_url: str
) -> None:
    done = await finish(store, "reports", tenant="acme")
    assert counts(await store.queue_stats()) == {"reports": (0, 0, 0)}
    finished_long_ago(any_db_url, done)
    assert await store.queue_stats() == []
    # Unless something else still knows it.
    assert counts(await store.queue_stats(known=["reports"])) == {"reports": (0, 0, 0)}
