"""Shared rate limits on both stores: bucket arithmetic, fencing, journaling, and no overshoot
when several workers race for the same limit."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import bosun
from bosun import RateLimit
from bosun.errors import LeaseLost
from bosun.records import JournalEntry, Lease, NewRun
from bosun.store import Store

TIMEOUT = 15


def approx(value: float) -> Any:
    return pytest.approx(value, abs=1e-6)


async def buckets(store: Store, name: str) -> tuple[float | None, float | None]:
    state = await store.get_rate_buckets(name)
    assert state is not None
    return state.requests, state.tokens


# -- the buckets, with a fake clock -------------------------------------------------------------


async def test_bucket_math_with_a_fake_clock(store: Store) -> None:
    limit = RateLimit(requests=2, tokens=100, per=10)
    assert await store.get_rate_buckets("m") is None

    # A new limit starts full; a grant takes one request and the estimate.
    assert await store.reserve_rate("m", limit, 1, 60, now=1000.0) == 0
    assert await buckets(store, "m") == (approx(1), approx(40))

    # Too few tokens: nothing is taken, and the wait is the refill time of the shortfall.
    assert await store.reserve_rate("m", limit, 1, 60, now=1000.0) == approx(2.0)
    assert await buckets(store, "m") == (approx(1), approx(40))

    # Two seconds refill 20 tokens (100 per 10 s) and 0.4 requests (2 per 10 s).
    assert await store.reserve_rate("m", limit, 1, 60, now=1002.0) == 0
    assert await buckets(store, "m") == (approx(0.4), approx(0))

    # The call used 90 tokens, not 60: the excess is a debt.
    await store.settle_rate("m", limit, 60 - 90, now=1002.0)
    assert await buckets(store, "m") == (approx(0.4), approx(-30))

    # Waiting is for the slower bucket: 0.6 requests take 3 s, 40 tokens take 4 s.
    assert await store.reserve_rate("m", limit, 1, 10, now=1002.0) == approx(4.0)
    assert await store.reserve_rate("m", limit, 1, 10, now=1006.0) == 0
    assert await buckets(store, "m") == (approx(0.2), approx(0))

    # A clock behind the last update refills nothing (workers' clocks differ a little).
    assert await store.reserve_rate("m", limit, 1, 0, now=1005.0) == approx(4.0)

    # Settling an overestimate gives tokens back, never beyond the capacity.
    await store.settle_rate("m", limit, 500, now=1006.0)
    assert await buckets(store, "m") == (approx(0.2), approx(100))

    # Refill stops at the capacity.
    assert await store.reserve_rate("m", limit, 1, 100, now=2000.0) == 0
    assert await buckets(store, "m") == (approx(1), approx(0))

    # The code is the source of truth: a changed limit applies at once, and a dimension that
    # was not limited before starts full.
    tighter = RateLimit(requests=1, per=10)
    assert await store.reserve_rate("m", tighter, 1, 10_000, now=2000.0) == 0
    assert await buckets(store, "m") == (approx(0), None)
    wider = RateLimit(requests=1, tokens=50, per=10)
    assert await store.reserve_rate("m", wider, 1, 50, now=2010.0) == 0
    assert await buckets(store, "m") == (approx(0), approx(0))


async def test_names_are_independent(store: Store) -> None:
    limit = RateLimit(requests=1, per=60)
    assert await store.reserve_rate("a", limit, 1, 0, now=10.0) == 0
    assert await store.reserve_rate("b", limit, 1, 0, now=10.0) == 0
    assert await store.reserve_rate("a", limit, 1, 0, now=10.0) == approx(60.0)


async def test_a_grant_is_fenced_by_the_lease_and_journaled_with_it(store: Store) -> None:
    run = NewRun(id=uuid.uuid4().hex, workflow="wf", queue="default", input="{}")
    claimed = await store.create_claimed_run(run, "w1", 30.0)
    assert claimed is not None
    limit = RateLimit(requests=5, tokens=100, per=60)
    entry = JournalEntry("1", "reserve", "m", "completed", output='{"name": "m", "tokens": 30}')
    assert await store.reserve_rate("m", limit, 1, 30, lease=claimed.lease, entry=entry) == 0
    assert [(e.seq, e.kind, e.status) for e in await store.get_journal(run.id)] == [
        ("1", "reserve", "completed")
    ]

    # A worker that lost its lease takes nothing and writes nothing.
    stale = Lease(run.id, "w1", "not-the-token", claimed.lease.wake_seq)
    before = await store.get_rate_buckets("m")
    other = JournalEntry("2", "reserve", "m", "completed", output="{}")
    with pytest.raises(LeaseLost):
        await store.reserve_rate("m", limit, 1, 30, lease=stale, entry=other)
    with pytest.raises(LeaseLost):
        await store.settle_rate("m", limit, 30, lease=stale, entry=other)
    after = await store.get_rate_buckets("m")
    assert before is not None and after is not None
    assert (after.requests, after.tokens) == (before.requests, before.tokens)
    assert len(await store.get_journal(run.id)) == 1


# -- workflows ----------------------------------------------------------------------------------


@pytest.fixture
def app(any_db_url: str) -> bosun.App:
    return bosun.App("test", database=any_db_url)


async def test_replay_does_not_reserve_or_settle_twice(app: bosun.App) -> None:
    app.rate_limit("gpt", RateLimit(requests=10, tokens=1000, per=3600))
    calls: list[str] = []

    @app.step()
    async def call_llm(prompt: str) -> int:
        calls.append(prompt)
        return 40  # tokens really used

    @app.workflow()
    async def ask(ctx: bosun.Context, prompt: str) -> dict[str, int]:
        reservation = await ctx.reserve("gpt", tokens=100)
        await ctx.sleep(0.05)  # suspend: the next replay meets the journaled grant
        used = await call_llm(prompt)
        await ctx.settle(reservation, tokens=used)
        await ctx.sleep(0.05)
        return {"reserved": reservation.tokens, "used": used}

    async with app:
        counts = {"reserve_rate": 0, "settle_rate": 0}
        for method in counts:
            original = getattr(app.store, method)
            setattr(app.store, method, _counting(original, counts, method))
        async with app.worker(concurrency=2):
            result = await (await app.start(ask, "hello")).result(TIMEOUT)
        assert result == {"reserved": 100, "used": 40}
        assert calls == ["hello"]
        assert counts == {"reserve_rate": 1, "settle_rate": 1}
        requests, tokens = await buckets(app.store, "gpt")
        # 1 request and 100 - 60 tokens taken; the refill in a second is below 0.3 tokens.
        assert requests == pytest.approx(9, abs=0.01)
        assert tokens == pytest.approx(960, abs=1)


def _counting(
    method: Callable[..., Awaitable[Any]], counts: dict[str, int], name: str
) -> Callable[..., Awaitable[Any]]:
    async def counted(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        return await method(*args, **kwargs)

    return counted


async def test_a_reservation_that_can_never_fit_fails_at_once(app: bosun.App) -> None:
    app.rate_limit("gpt", RateLimit(tokens=1000, per=60))

    @app.workflow()
    async def too_big(ctx: bosun.Context) -> None:
        await ctx.reserve("gpt", tokens=5000)

    @app.workflow()
    async def unknown(ctx: bosun.Context) -> None:
        await ctx.reserve("claude", tokens=1)

    async with app, app.worker(concurrency=2):
        with pytest.raises(bosun.RunFailed, match="could never be granted"):
            await (await app.start(too_big)).result(TIMEOUT)
        with pytest.raises(bosun.RunFailed, match="no rate limit named 'claude'"):
            await (await app.start(unknown)).result(TIMEOUT)


# -- four workers racing ------------------------------------------------------------------------
# A token bucket lets its capacity through at once, then its refill rate: between any two
# grants at times a <= b, at most `capacity * (1 + (b - a) / per)` of each kind are granted
# (so up to twice the limit in a window of length `per` that starts with a full bucket).
# Lost updates between racing workers break that envelope.

RACE = RateLimit(requests=5, tokens=300, per=1.0)
ESTIMATES = [100, 40] * 8  # 16 runs, 1120 tokens: about 2.7 s at 300 tokens per second


def racing_app(url: str) -> tuple[bosun.App, bosun.Workflow[[int], dict[str, Any]]]:
    app = bosun.App("race", database=url)
    app.rate_limit("gpt", RACE)

    @app.step()
    async def record_grant() -> float:
        return time.time()

    @app.workflow()
    async def call(ctx: bosun.Context, estimate: int) -> dict[str, Any]:
        reservation = await ctx.reserve("gpt", tokens=estimate)
        at = await record_grant()
        await ctx.settle(reservation, tokens=estimate)
        return {"at": at, "tokens": estimate, "run": ctx.run_id}

    return app, call


def assert_within_envelope(grants: list[tuple[float, int]], slack: float) -> None:
    """`grants` are (time, tokens) with times late by at most `slack` seconds."""
    assert RACE.requests is not None and RACE.tokens is not None
    grants = sorted(grants)
    for i, (start, _) in enumerate(grants):
        requests = tokens = 0.0
        for end, used in grants[i:]:
            requests += 1
            tokens += used
            span = end - start + slack
            assert requests <= RACE.requests * (1 + span / RACE.per) + 1e-6, (i, requests, span)
            assert tokens <= RACE.tokens * (1 + span / RACE.per) + 1e-6, (i, tokens, span)
    # And the limit did throttle: all of it cannot pass in less than the refill time.
    total = sum(used for _, used in grants)
    assert grants[-1][0] - grants[0][0] >= (total - RACE.tokens) / RACE.tokens * RACE.per - slack


@pytest.mark.timeout(60)
async def test_four_workers_never_overshoot(any_db_url: str) -> None:
    submitter, call = racing_app(any_db_url)
    workers = [racing_app(any_db_url)[0] for _ in range(4)]
    async with submitter:
        handles = [await submitter.start(call, estimate) for estimate in ESTIMATES]
        for app in workers:
            await app.open()
        try:
            async with (
                workers[0].worker(concurrency=2),
                workers[1].worker(concurrency=2),
                workers[2].worker(concurrency=2),
                workers[3].worker(concurrency=2),
            ):
                results = [await h.result(TIMEOUT) for h in handles]
        finally:
            for app in workers:
                await app.close()
        granted_at = {}  # the grant's time on the buckets' clock, journaled with the grant
        waited = 0  # grants that came on a later attempt: the run was suspended, throttled
        for result in results:
            journal = await submitter.store.get_journal(result["run"])
            [entry] = [e for e in journal if e.kind == "reserve"]
            assert entry.status == "completed" and entry.finished_at is not None
            granted_at[result["run"]] = entry.finished_at
            waited += entry.attempt > 1

    assert waited, "no run was throttled: the test exercised nothing"
    # Exact, on the buckets' clock; and the workflows went on only once granted.
    assert_within_envelope([(granted_at[r["run"]], r["tokens"]) for r in results], 0.0)
    assert all(r["at"] >= granted_at[r["run"]] for r in results), (results, granted_at)
