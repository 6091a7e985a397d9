"""A worker claims only runs of the workflows it registered, on both stores: two apps share a
database, a rolling deploy adds a workflow, and a run no live worker can execute waits,
holding nothing, and shows as unserved."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest

import bosun
from bosun.engine.hooks import NullObserver, ObservedExecution
from bosun.records import Outcome
from bosun.store import Store
from bosun.worker.worker import Worker, WorkerOptions
from tests.integration.test_engine import TIMEOUT
from tests.integration.test_store_contract import TTL, new_run
from tests.integration.test_versions import worker


async def test_a_claim_takes_only_the_workflows_it_names(store: Store) -> None:
    other, _ = await store.create_run(new_run(workflow="other"))  # older: first in line
    mine, _ = await store.create_run(new_run(workflow="mine"))
    claimed = await store.claim_runs("w", ["default"], 10, TTL, time.time(), workflows=["mine"])
    assert [c.run.id for c in claimed] == [mine]
    run = await store.get_run(other)
    assert run is not None and (run.status, run.attempts) == ("queued", 0)
    # A claim of any workflow (a tool's) takes it.
    anything = await store.claim_runs("t", ["default"], 10, TTL, time.time())
    assert [c.run.id for c in anything] == [other]


async def test_the_workflow_filter_holds_with_fairness_keys(store: Store) -> None:
    other, _ = await store.create_run(new_run(workflow="other", fairness_key="a"))
    mine, _ = await store.create_run(new_run(workflow="mine", fairness_key="b"))
    claimed = await store.claim_runs("w", ["default"], 10, TTL, time.time(), workflows=["mine"])
    assert [c.run.id for c in claimed] == [mine]
    run = await store.get_run(other)
    assert run is not None and run.status == "queued"


async def test_unserved_work_is_shown_after_the_grace_period(store: Store) -> None:
    now = time.time()
    await store.create_run(new_run(workflow="report"))
    await store.create_run(new_run(workflow="report"))
    await store.create_run(new_run(workflow="support"))
    later = now + 120
    # Within the grace period nothing shows: workers may still be starting.
    assert await store.unserved_work(now, grace=60) == []
    unserved = await store.unserved_work(later, grace=60)
    assert [(u.queue, u.workflow, u.ready) for u in unserved] == [
        ("default", "report", 2),
        ("default", "support", 1),
    ]
    assert all(u.oldest_ready_age >= 119 for u in unserved)

    # A worker serving `support` on the queue; one serving `report` on another queue only;
    # a draining one serving `report` here.
    live = later + TTL
    await store.announce_worker(worker("s", "v1", workflows=("support",), expires_at=live))
    await store.announce_worker(
        worker("g", "v1", queues=("gpu",), workflows=("report",), expires_at=live)
    )
    await store.announce_worker(
        worker("d", "v1", workflows=("report",), draining=True, expires_at=live)
    )
    unserved = await store.unserved_work(later, grace=60)
    assert [(u.queue, u.workflow) for u in unserved] == [("default", "report")]

    # A worker of an earlier release advertises no workflows: it claims any, so serves all.
    await store.announce_worker(worker("old", "v0", workflows=None, expires_at=live))
    assert await store.unserved_work(later, grace=60) == []
    # ...until it is dead.
    await store.announce_worker(worker("old", "v0", workflows=None, expires_at=later - 1))
    assert [u.workflow for u in await store.unserved_work(later, grace=60)] == ["report"]


async def test_the_registry_keeps_each_workers_workflows(store: Store) -> None:
    await store.announce_worker(worker("w1", "v1", workflows=("a", "b")))
    await store.announce_worker(worker("w0", "v0"))
    listed = {w.id: w for w in await store.list_workers()}
    assert listed["w1"].workflows == ("a", "b")
    assert listed["w0"].workflows is None


async def test_queue_depths_of_one_tenant(store: Store) -> None:
    await store.create_run(new_run(tenant="acme"))
    await store.create_run(new_run(tenant="acme", queue="gpu"))
    await store.create_run(new_run(tenant="globex"))
    await store.create_run(new_run(tenant="globex"))
    everyone = {s.queue: s.ready for s in await store.queue_stats()}
    assert everyone == {"default": 3, "gpu": 1}
    acme = {s.queue: s.ready for s in await store.queue_stats(tenant="acme")}
    assert acme == {"default": 1, "gpu": 1}
    assert await store.queue_stats(tenant="nobody") == []
    late = time.time() + 120
    unserved = await store.unserved_work(late, grace=60, tenant="globex")
    assert [(u.queue, u.ready) for u in unserved] == [("default", 2)]


async def test_two_apps_on_one_database_each_run_their_own(any_db_url: str) -> None:
    support = bosun.App("support", database=any_db_url)
    report = bosun.App("report", database=any_db_url)

    @support.workflow()
    async def answer(ctx: bosun.Context, question: str) -> str:
        return f"support:{question}"

    @report.workflow()
    async def publish(ctx: bosun.Context, topic: str) -> str:
        return f"report:{topic}"

    async with support, report:
        # Queued before any worker runs (so neither app's own worker takes them directly),
        # the other app's first: a claim takes the oldest ready runs first.
        reports = [await report.start(publish, f"t{n}") for n in range(5)]
        answers = [await support.start(answer, f"q{n}") for n in range(5)]
        async with support.worker():
            assert [await h.result(timeout=TIMEOUT) for h in answers] == [
                f"support:q{n}" for n in range(5)
            ]
            for handle in reports:
                record = await handle.status()
                assert (record.status, record.attempts) == ("queued", 0)
            async with report.worker():
                assert [await h.result(timeout=TIMEOUT) for h in reports] == [
                    f"report:t{n}" for n in range(5)
                ]
        for handle in answers + reports:
            assert (await handle.status()).attempts == 1  # never handed around


async def test_a_v1_worker_never_takes_a_workflow_only_v2_has(any_db_url: str) -> None:
    v1 = bosun.App("shop", database=any_db_url)
    v2 = bosun.App("shop", database=any_db_url)

    @v1.workflow(name="order")
    async def order_v1(ctx: bosun.Context, n: int) -> int:
        return n

    @v2.workflow(name="order")
    async def order_v2(ctx: bosun.Context, n: int) -> int:
        return n

    @v2.workflow(name="refund")
    async def refund(ctx: bosun.Context, n: int) -> int:
        return -n

    async with v1, v2:
        new_kind = await v2.start(refund, 7)  # submitted by a v2 API process, say
        orders = [await v1.start(order_v1, n) for n in range(3)]
        async with v1.worker(version="v1"):
            # Work queued after it completes on v1: the v1 worker claimed past it.
            assert [await h.result(timeout=TIMEOUT) for h in orders] == [0, 1, 2]
            record = await new_kind.status()
            assert (record.status, record.attempts, record.error) == ("queued", 0, None)
            async with v2.worker(version="v2"):
                assert await new_kind.result(timeout=TIMEOUT) == -7
        assert (await new_kind.status()).attempts == 1


async def test_a_worker_advertises_what_it_serves(any_db_url: str) -> None:
    app = bosun.App("adverts", database=any_db_url)

    @app.workflow(name="publish", queue="reports")
    async def publish(ctx: bosun.Context) -> None:
        return None

    async with app, app.worker(queues=["reports"]) as running:
        advertised = None
        while advertised is None:  # the worker announces itself as it starts
            listed = {w.id: w for w in await app.store.list_workers()}
            advertised = listed.get(running.owner)
            await asyncio.sleep(0.01)
        assert advertised.queues == ("reports",)
        assert advertised.workflows is not None and "publish" in advertised.workflows
        assert dataclasses.asdict(advertised)["draining"] is False


class _Recorder(NullObserver):
    """Keeps what the engine tells the worker's observer about executions."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[tuple[str, Outcome | None]] = []

    def execution_started(self, execution: ObservedExecution) -> None:
        self.started.append(execution.run.id)

    def execution_finished(self, execution: ObservedExecution, outcome: Outcome | None) -> None:
        self.finished.append((execution.run.id, outcome))


async def test_a_run_claimed_by_a_worker_without_its_workflow_is_handed_back_by_the_engine(
    any_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims filter by workflow, so only a store bug hands a worker a run it cannot execute:
    the engine gives it back, written and observed as a drain's hand-back; it never fails."""
    app = bosun.App("routing", database=any_db_url)

    @app.workflow()
    async def known(ctx: bosun.Context) -> str:
        return "ok"

    async with app:
        ghost, _ = await app.store.create_run(new_run(workflow="ghost"))
        recorder = _Recorder()
        monkeypatch.setattr(app.observability, "run_observer", lambda *_: recorder)
        claim = app.store.claim_runs
        claims = 0

        async def claim_ignoring_the_filter_once(*args: Any, **kwargs: Any) -> Any:
            nonlocal claims
            claims += 1
            if claims == 1:  # the store bug: the first claim takes any workflow
                del kwargs["workflows"]
            return await claim(*args, **kwargs)

        monkeypatch.setattr(app.store, "claim_runs", claim_ignoring_the_filter_once)
        worker = Worker(app, WorkerOptions(until_idle=True, schedules=False))
        await asyncio.wait_for(worker.run(), TIMEOUT)

        assert recorder.started == [ghost]
        assert recorder.finished == [(ghost, Outcome("release"))]
        assert worker.summary.handed_back == 1 and worker.summary.failed == 0
        record = await app.store.get_run(ghost)
        assert record is not None
        assert (record.status, record.lease_owner, record.error) == ("queued", None, None)
        # A hand-back records no lifecycle event, as a draining worker's does not.
        assert [e.type for e in await app.store.list_events(ghost)] == []
        # Ready at once for a worker that has its workflow (here: a claim of any workflow).
        again = await claim("other", ["default"], 1, TTL, time.time())
        assert [c.run.id for c in again] == [ghost]
