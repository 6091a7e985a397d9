"""Execution semantics end to end through App and an in-process worker on real SQLite."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta

import pytest
from pydantic import BaseModel

import bosun
from bosun import Retry
from bosun.records import RunFilter, RunRecord
from tests.helpers.wait import wait_until

TIMEOUT = 10


class Quote(BaseModel):
    sku: str
    price: float


async def wait_for_status(handle: bosun.RunHandle[object], status: str) -> None:
    async def reached() -> bool:
        return (await handle.status()).status == status

    await wait_until(reached, 30, f"run {handle.run_id} to become {status}", every=0.02)


@pytest.fixture
def app(any_db_url: str) -> bosun.App:
    return bosun.App("test", database=any_db_url)


async def test_steps_complete_once_across_suspensions(app: bosun.App) -> None:
    calls: Counter[str] = Counter()

    @app.step()
    async def fetch(sku: str) -> Quote:
        calls["fetch"] += 1
        return Quote(sku=sku, price=9.5)

    @app.step()
    def total(quote: Quote, qty: int) -> float:  # sync steps run on a thread
        calls["total"] += 1
        return quote.price * qty

    @app.workflow()
    async def order(ctx: bosun.Context, sku: str, qty: int) -> dict[str, object]:
        quote = await fetch(sku)
        await ctx.sleep(0.05)
        amount = await total(quote, qty)
        await ctx.sleep(timedelta(milliseconds=50))
        assert isinstance(quote, Quote)  # replay hands back the model, not a dict
        return {"sku": quote.sku, "amount": amount}

    async with app, app.worker(concurrency=4):
        result = await (await app.start(order, "A1", qty=2)).result(TIMEOUT)
    assert result == {"sku": "A1", "amount": 19.0}
    assert calls == {"fetch": 1, "total": 1}


async def test_retries_wait_durably_and_keep_one_idempotency_key(app: bosun.App) -> None:
    keys: list[tuple[str, int]] = []

    @app.step(retry=Retry(attempts=3, initial=0.2, jitter=0))
    async def flaky() -> str:
        ctx = bosun.current_context()
        keys.append((ctx.idempotency_key, ctx.attempt))
        if len(keys) < 3:
            raise ConnectionError("try again")
        return "ok"

    @app.workflow()
    async def wf(ctx: bosun.Context) -> str:
        return await flaky()

    async with app, app.worker():
        handle = await app.start(wf)
        assert await handle.result(TIMEOUT) == "ok"
        events = [e.type for e in await app.store.list_events(handle.run_id)]
    # Each wait to retry suspended the run (holding no worker) until its retry was due.
    assert events.count("step.retrying") == 2 and events.count("run.suspended") == 2, events
    assert [attempt for _, attempt in keys] == [1, 2, 3]
    assert len({key for key, _ in keys}) == 1
    assert keys[0][0] == f"{handle.run_id}:1"


async def test_non_retryable_and_exhausted_steps_fail_with_step_failed(app: bosun.App) -> None:
    attempts: Counter[str] = Counter()

    @app.step(retry=Retry(attempts=5, initial=0, non_retryable=(KeyError,)))
    async def lookup() -> None:
        attempts["lookup"] += 1
        raise KeyError("missing")

    @app.step(retry=Retry(attempts=2, initial=0))
    async def always_down() -> None:
        attempts["down"] += 1
        raise ConnectionError("down")

    @app.workflow()
    async def wf(ctx: bosun.Context) -> str:
        try:
            await lookup()
        except bosun.StepFailed as exc:
            assert exc.error_type == "KeyError" and exc.attempts == 1
        await always_down()
        return "unreachable"

    async with app, app.worker():
        handle = await app.start(wf)
        with pytest.raises(bosun.RunFailed, match="always_down") as info:
            await handle.result(TIMEOUT)
    assert attempts == {"lookup": 1, "down": 2}
    assert "ConnectionError" in info.value.error["message"]


async def test_step_timeout_counts_as_a_failed_attempt(app: bosun.App) -> None:
    @app.step(timeout=0.1, retry=Retry(attempts=2, initial=0))
    async def slow() -> None:
        await asyncio.sleep(5)

    @app.workflow()
    async def wf(ctx: bosun.Context) -> None:
        await slow()

    async with app, app.worker():
        handle = await app.start(wf)
        with pytest.raises(bosun.RunFailed, match=r"timed out after 0\.1 s"):
            await handle.result(TIMEOUT)
        journal = await app.store.get_journal(handle.run_id)
    assert journal[0].attempt == 2


async def test_signals_are_buffered_and_timeouts_raise(app: bosun.App) -> None:
    @app.workflow()
    async def wf(ctx: bosun.Context) -> list[object]:
        first = await ctx.wait_for_signal("go")
        try:
            await ctx.wait_for_signal("never", timeout=0.1)
        except bosun.SignalTimeout:
            second = "timed out"
        return [first, second]

    async with app:
        handle = await app.start(wf)
        await handle.signal("go", {"n": 1})  # before any worker looks at the run
        async with app.worker():
            assert await handle.result(TIMEOUT) == [{"n": 1}, "timed out"]


async def test_children_and_gather_fan_out(app: bosun.App) -> None:
    @app.step()
    async def square(x: int) -> int:
        return x * x

    @app.workflow()
    async def child(ctx: bosun.Context, x: int) -> int:
        return await square(x)

    @app.workflow()
    async def parent(ctx: bosun.Context, n: int) -> list[int]:
        children = await ctx.gather(*(ctx.child(child, i) for i in range(n)))
        steps = await ctx.gather(*(square(i) for i in range(n)))
        return [a + b for a, b in zip(children, steps, strict=True)]

    async with app, app.worker(concurrency=8):
        handle = await app.start(parent, 5)
        assert await handle.result(TIMEOUT) == [0, 2, 8, 18, 32]
        kids = await app.store.list_runs(RunFilter(parent_id=handle.run_id))
    assert len(kids) == 5 and {k.status for k in kids} == {"completed"}


async def test_a_failed_child_raises_child_failed(app: bosun.App) -> None:
    @app.workflow()
    async def broken(ctx: bosun.Context) -> None:
        raise ValueError("bad child")

    @app.workflow()
    async def parent(ctx: bosun.Context) -> str:
        try:
            await ctx.child(broken)
        except bosun.ChildFailed as exc:
            return f"caught: {exc}"
        return "no error"

    async with app, app.worker():
        result = await (await app.start(parent)).result(TIMEOUT)
    assert result.startswith("caught:") and "bad child" in result


async def test_cancel_cascades_to_children(app: bosun.App) -> None:
    @app.workflow()
    async def waits(ctx: bosun.Context) -> None:
        await ctx.wait_for_signal("never")

    @app.workflow()
    async def parent(ctx: bosun.Context) -> None:
        await ctx.gather(ctx.child(waits), ctx.child(waits))

    async with app, app.worker():
        handle = await app.start(parent)

        async def both_kids_waiting() -> list[RunRecord] | None:
            kids = await app.store.list_runs(RunFilter(parent_id=handle.run_id))
            return kids if len(kids) == 2 and all(k.status == "suspended" for k in kids) else None

        kids = await wait_until(both_kids_waiting, 30, "both children to wait for their signal")
        cancelled = await handle.cancel()
        assert set(cancelled) == {handle.run_id, *(k.id for k in kids)}
        with pytest.raises(bosun.RunCancelled):
            await handle.result(TIMEOUT)
        for kid in kids:
            assert (await app.get_handle(kid.id).status()).status == "cancelled"


async def test_cancel_stops_a_running_run(app: bosun.App) -> None:
    started = asyncio.Event()

    @app.step()
    async def forever() -> None:
        started.set()
        await asyncio.sleep(60)

    @app.workflow()
    async def wf(ctx: bosun.Context) -> None:
        await forever()

    async with app, app.worker(lease_ttl=0.6) as worker:
        handle = await app.start(wf)
        await asyncio.wait_for(started.wait(), TIMEOUT)
        await handle.cancel()
        # The heartbeat notices the lost lease and stops the task.
        await wait_until(lambda: not worker._active, 30, "the worker to stop the cancelled run")
        assert (await handle.status()).status == "cancelled"


async def test_idempotent_start_returns_the_same_run(app: bosun.App) -> None:
    @app.workflow()
    async def wf(ctx: bosun.Context, x: int) -> int:
        return x

    async with app:
        one = await app.start(wf, 1, idempotency_key="order-1")
        two = await app.start(wf, 1, idempotency_key="order-1")
        assert one.run_id == two.run_id
        with pytest.raises(bosun.IdempotencyConflict, match="other input"):
            await app.start(wf, 2, idempotency_key="order-1")  # not a retry: refused
        async with app.worker():
            assert await two.result(TIMEOUT) == 1


async def test_deadline_fails_a_run_that_runs_late(app: bosun.App) -> None:
    @app.workflow()
    async def wf(ctx: bosun.Context) -> None:
        await ctx.sleep(30)

    async with app, app.worker():
        # Long enough for a busy machine to start the run and journal its sleep first.
        handle = await app.start(wf, deadline=3)
        with pytest.raises(bosun.RunFailed, match="deadline"):
            await handle.result(TIMEOUT)
        run = await app.store.get_run(handle.run_id)
        [sleep] = await app.store.get_journal(handle.run_id)
    # It failed while its 30 s sleep was still pending: the deadline ended it, not the timer.
    assert run is not None and run.finished_at is not None and sleep.wake_at is not None
    assert run.finished_at < sleep.wake_at, (run, sleep)


async def test_unserialisable_step_result_fails_naming_step_and_type(app: bosun.App) -> None:
    @app.step()
    async def connect() -> object:
        return object()

    @app.workflow()
    async def wf(ctx: bosun.Context) -> None:
        await connect()

    async with app, app.worker():
        with pytest.raises(bosun.RunFailed) as info:
            await (await app.start(wf)).result(TIMEOUT)
    message = info.value.error["message"]
    assert (
        "step 'test_unserialisable_step_result_fails_naming_step_and_type.<locals>.connect'"
        in message
        and "object" in message
    )


async def test_deterministic_helpers_and_events_replay_identically(app: bosun.App) -> None:
    seen: list[tuple[object, ...]] = []

    @app.workflow()
    async def wf(ctx: bosun.Context) -> None:
        values = (ctx.now(), ctx.uuid(), ctx.random())
        ctx.emit("started", {"uuid": str(values[1])})
        seen.append(values)
        await ctx.sleep(0.05)
        seen.append((ctx.now(), ctx.uuid(), ctx.random()))

    async with app, app.worker():
        handle = await app.start(wf)
        await handle.result(TIMEOUT)
        events = await app.store.list_events(handle.run_id)
    assert seen[0] == seen[1]  # first execution and replay after the sleep agree
    assert [e.type for e in events if e.type == "started"] == ["started"]


async def test_version_branches_new_runs_only(any_db_url: str) -> None:
    """A run that passed the change point before the deploy keeps the old path; a run that
    reaches it on new code (new runs, or live runs not yet there) takes the new one."""

    def build(with_change: bool) -> tuple[bosun.App, bosun.Workflow[[], str]]:
        app = bosun.App("test", database=any_db_url)

        @app.step(name="old_step")
        async def old_step() -> str:
            return "old"

        @app.step(name="new_step")
        async def new_step() -> str:
            return "new"

        @app.workflow(name="evolving")
        async def wf(ctx: bosun.Context) -> str:
            if with_change and ctx.version("use-new-step") >= 1:
                first = await new_step()
            else:
                first = await old_step()
            await ctx.wait_for_signal("go")
            return first

        return app, wf

    v1, wf1 = build(with_change=False)
    async with v1, v1.worker():
        live = await v1.start(wf1)
        await wait_for_status(live, "suspended")

    v2, wf2 = build(with_change=True)
    async with v2, v2.worker():
        fresh = await v2.start(wf2)
        await v2.get_handle(live.run_id).signal("go")
        await fresh.signal("go")
        assert await v2.get_handle(live.run_id).result(TIMEOUT) == "old"
        assert await fresh.result(TIMEOUT) == "new"
        assert (await v2.get_handle(live.run_id).status()).status == "completed"


async def test_determinism_mismatch_blocks_and_resume_continues(any_db_url: str) -> None:
    def build(second: str) -> tuple[bosun.App, bosun.Workflow[[], str]]:
        app = bosun.App("test", database=any_db_url)

        @app.step(name="a")
        async def a() -> str:
            return "a"

        @app.step(name=second)
        async def b() -> str:
            return second

        @app.workflow(name="wf")
        async def wf(ctx: bosun.Context) -> str:
            done = await a() + await b()
            await ctx.wait_for_signal("go")
            return done + await a()

        return app, wf

    v1, wf1 = build("b")
    async with v1, v1.worker():
        handle = await v1.start(wf1)
        await wait_for_status(handle, "suspended")
    async with v1:  # the signal arrives while no worker runs: the next one sees new code
        await v1.get_handle(handle.run_id).signal("go")

    changed, _ = build("c")
    async with changed, changed.worker():

        async def blocked() -> RunRecord | None:
            status = await changed.get_handle(handle.run_id).status()
            return status if status.status == "blocked" else None

        status = await wait_until(blocked, 30, "the run to block on the changed code")
        assert status.error is not None and "'b'" in status.error["message"]
        assert "'c'" in status.error["message"]

    fixed, _ = build("b")
    async with fixed, fixed.worker():
        await fixed.get_handle(handle.run_id).resume()
        assert await fixed.get_handle(handle.run_id).result(TIMEOUT) == "aba"


async def test_oversized_payloads_fail_with_a_clear_error(any_db_url: str) -> None:
    app = bosun.App("test", database=any_db_url, max_payload_bytes=1000)

    @app.step()
    async def big() -> str:
        return "x" * 5000

    @app.workflow(name="wf")
    async def wf(ctx: bosun.Context, note: str) -> None:
        await big()

    async with app:
        with pytest.raises(bosun.PayloadTooLarge, match="input of workflow 'wf'"):
            await app.start(wf, "y" * 5000)
        assert await app.store.list_runs(RunFilter()) == []  # nothing written
        async with app.worker():
            handle = await app.start(wf, "small")
            with pytest.raises(bosun.RunFailed, match="exceeds the limit of 1000 bytes"):
                await handle.result(TIMEOUT)
            with pytest.raises(bosun.PayloadTooLarge, match="signal 'go'"):
                await handle.signal("go", "z" * 5000)


async def test_a_timer_wakes_its_worker_without_polling(any_db_url: str) -> None:
    """The worker that suspends a run on a timer wakes itself when it is due; with polling
    effectively off, the run could only finish through that wake-up."""
    app = bosun.App("test", database=any_db_url)

    @app.workflow(name="nap")
    async def nap(ctx: bosun.Context) -> str:
        await ctx.sleep(0.2)
        return "rested"

    async with app, app.worker(poll_interval=3600) as worker:
        handle = await app.start(nap)
        await wait_for_status(handle, "suspended")
        assert handle.run_id in worker._timers
        assert await handle.result(TIMEOUT) == "rested"


async def test_large_inputs_and_results_through_direct_dispatch_and_events(app: bosun.App) -> None:
    @app.workflow(name="echo")
    async def echo(ctx: bosun.Context, text: str) -> str:
        ctx.emit("seen", {"size": len(text)})
        return text + "!"

    text = "w" * 100_000
    async with app, app.worker(concurrency=2):
        handle = await app.start(echo, text)  # a local worker with a free slot: direct dispatch
        assert await handle.result(timeout=30) == text + "!"
        record = await handle.status()
        assert json.loads(record.input) == {"text": text}
        types = [e.type for e in await app.store.list_events(handle.run_id)]
        assert types == ["seen", "run.completed"]
