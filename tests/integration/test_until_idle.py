"""An `until_idle` worker exits only when nothing is ready: a run that finishes while a claim
is in flight may wake another (a parent whose child ended) that the claim could not see, and
the worker must claim again rather than exit with that run ready."""

from __future__ import annotations

import asyncio
from typing import Any

import bosun
from bosun.worker.worker import Worker, WorkerOptions


async def test_a_run_woken_during_the_last_claim_is_claimed_before_exit(any_db_url: str) -> None:
    app = bosun.App("idle", database=any_db_url)

    @app.workflow()
    async def child(ctx: bosun.Context) -> str:
        return "child done"

    @app.workflow()
    async def parent(ctx: bosun.Context) -> str:
        return "parent got " + await ctx.child(child)

    async with app:
        handle = await app.start(parent)
        worker = Worker(app, WorkerOptions(queues=("default",), until_idle=True))
        claim = app.store.claim_runs

        async def slow_claim(*args: Any, **kwargs: Any) -> Any:
            """A claim whose answer arrives only after the runs in flight at its start have
            finished: the child's end (which wakes the parent) lands while it is in flight."""
            claimed = await claim(*args, **kwargs)
            running = [held.task for held in worker._active.values()]
            if running:
                await asyncio.wait(running)
            return claimed

        app.store.claim_runs = slow_claim  # type: ignore[method-assign]
        await asyncio.wait_for(worker.run(), 60)
        assert (await handle.status()).status == "completed"
        assert await handle.result(timeout=1) == "parent got child done"
        assert worker.summary.line().startswith("2 completed")
