"""A worker's slots hold runs whose code is running, not runs whose outcome is being written:
the next run's claim overlaps the last one's commit. On both stores."""

from __future__ import annotations

import asyncio
from typing import Any

import bosun
from bosun.records import Lease, Progress

TIMEOUT = 10


async def test_a_run_writing_its_outcome_holds_no_slot(any_db_url: str) -> None:
    app = bosun.App("slots", database=any_db_url)
    started: list[str] = []

    @app.step()
    async def mark(name: str) -> str:
        started.append(name)
        return name

    @app.workflow()
    async def job(ctx: bosun.Context, name: str) -> str:
        return await mark(name)

    async with app:
        first = await app.start(job, name="a")
        second = await app.start(job, name="b")
        save = app.store.save_progress
        release = asyncio.Event()
        held: list[str] = []

        async def slow_outcome_of_a(lease: Lease, progress: Progress, ttl: float) -> Any:
            if lease.run_id == first.run_id and progress.outcome is not None:
                held.append(lease.run_id)
                await release.wait()
            return await save(lease, progress, ttl)

        app.store.save_progress = slow_outcome_of_a  # type: ignore[method-assign]
        async with app.worker(concurrency=1):
            try:
                for _ in range(TIMEOUT * 50):
                    if "b" in started:
                        break
                    await asyncio.sleep(0.02)
                # b ran on the only slot while a's outcome was still being written.
                assert held == [first.run_id] and started == ["a", "b"], (held, started)
                assert (await first.status()).status == "running"
            finally:
                release.set()
            assert await first.result(timeout=TIMEOUT) == "a"
            assert await second.result(timeout=TIMEOUT) == "b"
