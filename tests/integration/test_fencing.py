"""A worker that stalls past its lease loses the run and can write nothing afterwards."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import bosun


def build(
    db_url: str,
    effects: Counter[str],
    stall: threading.Event | None = None,
    charging: threading.Event | None = None,
) -> tuple[bosun.App, bosun.Workflow]:
    """`stall`: `charge` sets `charging`, then blocks its worker's event loop (no heartbeat:
    the lease expires) until `stall` is set."""
    app = bosun.App("fence", database=db_url, lease_ttl=0.5)

    @app.step(name="charge")
    async def charge() -> str:
        effects["charge"] += 1
        if stall is not None and charging is not None:
            charging.set()
            stall.wait(60)  # blocks the event loop: no heartbeat, the lease expires
        return "charged"

    @app.step(name="ship")
    async def ship() -> str:
        effects["ship"] += 1
        return "shipped"

    @app.workflow(name="order")
    async def order(ctx: bosun.Context) -> list[str]:
        return [await charge(), await ship()]

    return app, order


async def test_a_stalled_worker_cannot_write_after_takeover(any_db_url: str) -> None:
    effects: Counter[str] = Counter()
    charging, rescuer_done = threading.Event(), threading.Event()
    # The stalled worker wakes only once the rescuer has taken the run over and finished it.
    stalled, order = build(any_db_url, effects, stall=rescuer_done, charging=charging)
    rescuer_result: list[object] = []

    def rescuer() -> None:
        async def main() -> None:
            app, _ = build(any_db_url, effects)
            async with app, app.worker(poll_interval=0.05, lease_ttl=0.5):
                while True:
                    runs = await app.store.list_runs(bosun.store.records.RunFilter())
                    if runs and runs[0].status == "completed":
                        rescuer_result.append(runs[0].result)
                        return
                    await asyncio.sleep(0.05)

        try:
            if charging.wait(60):  # the stalled worker holds the run: now take it over
                asyncio.run(main())
        finally:
            rescuer_done.set()

    async with stalled:
        async with stalled.worker(lease_ttl=0.5) as worker:
            # Started first: once `charge` stalls, this event loop runs nothing.
            thread = threading.Thread(target=rescuer, daemon=True)
            thread.start()
            handle = await stalled.start(order)
            assert await asyncio.to_thread(rescuer_done.wait, 60)
            for _ in range(100):
                if not worker._active:
                    break
                await asyncio.sleep(0.05)
        record = await handle.status()
        journal = await stalled.store.get_journal(handle.run_id)
    assert record.status == "completed" and rescuer_result == [record.result]
    # The rescuer re-ran the step that was in flight; the stalled worker's late completion of
    # it was refused, and it never got to run `ship`.
    assert effects == {"charge": 2, "ship": 1}
    assert [(e.name, e.status, e.attempt) for e in journal] == [
        ("charge", "completed", 1),
        ("ship", "completed", 1),
    ]
    assert record.attempts == 2
