"""Flow control enforced through the store: queue limits, per-key concurrency, fairness,
priorities — with several workers racing."""

from __future__ import annotations

import asyncio
import itertools
import time
from contextlib import AsyncExitStack

import bosun
from bosun.records import Outcome, Progress
from bosun.store import Store
from tests.integration.test_store_contract import TTL, new_run


async def claim(store: Store, owner: str, n: int = 10) -> list[str]:
    return [c.run.id for c in await store.claim_runs(owner, ["default"], n, TTL, time.time())]


async def test_queue_limit_caps_running_runs_across_claimers(store: Store) -> None:
    await store.set_queue_limit("default", 2)
    for _ in range(5):
        await store.create_run(new_run())
    first = await store.claim_runs("a", ["default"], 10, TTL, time.time())
    assert len(first) == 2
    assert await claim(store, "b") == []
    lease = first[0].lease
    await store.save_progress(lease, Progress(outcome=Outcome("complete", result="1")), TTL)
    assert len(await claim(store, "b")) == 1
    await store.save_progress(
        first[1].lease, Progress(outcome=Outcome("suspend", None)), TTL
    )  # a suspended run frees its slot
    assert len(await claim(store, "c")) == 1
    await store.set_queue_limit("default", None)
    assert len(await claim(store, "c")) == 1


async def test_concurrency_key_runs_one_at_a_time_in_order(store: Store) -> None:
    keyed = [
        (await store.create_run(new_run(concurrency_key="s1", concurrency_limit=1)))[0]
        for _ in range(3)
    ]
    free, _ = await store.create_run(new_run())
    other, _ = await store.create_run(new_run(concurrency_key="s2", concurrency_limit=1))
    got = await store.claim_runs("w", ["default"], 10, TTL, time.time())
    assert {c.run.id for c in got} == {keyed[0], free, other}
    first = next(c for c in got if c.run.id == keyed[0])
    # Suspended, it still holds its key: the next run of the session must wait.
    await store.save_progress(first.lease, Progress(outcome=Outcome("suspend", None)), TTL)
    assert await claim(store, "w") == []
    await store.send_signal(keyed[0], "go", "null")
    again = await store.claim_runs("w", ["default"], 10, TTL, time.time())
    assert [c.run.id for c in again] == [keyed[0]]
    await store.save_progress(
        again[0].lease, Progress(outcome=Outcome("complete", result="1")), TTL
    )
    assert await claim(store, "w") == [keyed[1]]


async def test_fairness_key_round_robins_between_tenants(store: Store) -> None:
    for i in range(20):
        await store.create_run(new_run(fairness_key="tenant-a", input=f'"a{i}"'))
    for i in range(2):
        await store.create_run(new_run(fairness_key="tenant-b", input=f'"b{i}"'))
    got = await store.claim_runs("w", ["default"], 4, TTL, time.time())
    tenants = sorted(c.run.input[1] for c in got)
    assert tenants == ["a", "a", "b", "b"]


async def test_fair_claims_serve_every_key_once_before_any_twice(store: Store) -> None:
    """A worker's claims (of its workflows) take turns across keys: a burst from one tenant,
    older than everyone else's runs, still gets one turn per round, and the rotation carries
    on from one claim to the next."""
    key_of = {}
    for _ in range(40):
        key_of[(await store.create_run(new_run(fairness_key="burst")))[0]] = "burst"
    tenants = [f"t{n:02d}" for n in range(12)]
    for _ in range(3):
        for tenant in tenants:
            key_of[(await store.create_run(new_run(fairness_key=tenant)))[0]] = tenant
    served = dict.fromkeys([*tenants, "burst"], 0)
    for _ in range(3 * len(served) // 5):
        got = await store.claim_runs("w", ["default"], 5, TTL, time.time(), workflows=["wf"])
        assert len(got) == 5
        for claimed in got:
            served[key_of[claimed.run.id]] += 1
        # After every claim, no key has had a second turn more than any other.
        assert max(served.values()) - min(served.values()) <= 1, served
    assert min(served.values()) >= 2, served


async def test_fair_claims_order_priority_first(store: Store) -> None:
    low = [(await store.create_run(new_run(fairness_key=f"k{n}")))[0] for n in range(3)]
    high, _ = await store.create_run(new_run(fairness_key="k9", priority=5))
    first = await store.claim_runs("w", ["default"], 1, TTL, time.time(), workflows=["wf"])
    assert [c.run.id for c in first] == [high]
    then = await store.claim_runs("w", ["default"], 1, TTL, time.time(), workflows=["wf"])
    assert [c.run.id for c in then] == low[:1]


class Observed:
    """What the racing workers did, recorded from inside their steps."""

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[float, float]]] = {}
        self.limited_now = 0
        self.limited_peak = 0
        self.order: list[int] = []


def build_app(url: str, seen: Observed) -> tuple[bosun.App, dict[str, bosun.Workflow]]:  # type: ignore[type-arg]
    app = bosun.App("flow", database=url)
    app.queue_limit("limited", 2)

    @app.step(name="work")
    async def work(chat_id: str) -> None:
        start = time.monotonic()
        await asyncio.sleep(0.03)
        seen.spans.setdefault(chat_id, []).append((start, time.monotonic()))

    @app.workflow(name="chat", concurrency_key="chat_id")
    async def chat(ctx: bosun.Context, chat_id: str) -> None:
        await work(chat_id)

    @app.step(name="heavy")
    async def heavy() -> None:
        seen.limited_now += 1
        seen.limited_peak = max(seen.limited_peak, seen.limited_now)
        await asyncio.sleep(0.03)
        seen.limited_now -= 1

    @app.workflow(name="gpu_job", queue="limited")
    async def gpu_job(ctx: bosun.Context) -> None:
        await heavy()

    @app.step(name="note")
    async def note(n: int) -> None:
        seen.order.append(n)

    @app.workflow(name="ordered", queue="single")
    async def ordered(ctx: bosun.Context, n: int) -> None:
        await note(n)

    return app, {"chat": chat, "gpu_job": gpu_job, "ordered": ordered}


async def test_workers_racing_never_overshoot(any_db_url: str) -> None:
    """4 worker Apps on one database; per-session runs never overlap, the limited queue
    never has more than 2 running, and priorities order a single-slot queue."""
    seen = Observed()
    apps = [build_app(any_db_url, seen) for _ in range(4)]
    submitter, wfs = apps[0]
    async with AsyncExitStack() as stack:
        for app, _ in apps:
            await stack.enter_async_context(app)
        handles = []
        for i in range(24):
            handles.append(await submitter.start(wfs["chat"], f"s{i % 3}"))
            handles.append(await submitter.start(wfs["gpu_job"]))
        ordered = [
            await submitter.start(wfs["ordered"], n, priority=priority)
            for n, priority in enumerate([0, 0, 5, 9, 1])
        ]
        for app, _ in apps:
            await stack.enter_async_context(
                app.worker(queues=["default", "limited"], concurrency=8, poll_interval=0.02)
            )
        await asyncio.gather(*(h.result(30) for h in handles))
        async with submitter.worker(queues=["single"], concurrency=1, poll_interval=0.02):
            await asyncio.gather(*(h.result(30) for h in ordered))
    for session, intervals in seen.spans.items():
        intervals.sort()
        assert len(intervals) == 8, session
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert start >= end, f"session {session} ran two runs at once"
    assert seen.limited_peak == 2
    assert seen.order == [3, 2, 4, 0, 1]  # priority, then submission order
