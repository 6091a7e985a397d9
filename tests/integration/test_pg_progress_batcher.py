"""The PostgreSQL group-commit writer: a write submitted at any moment is written.

A writer that has seen an empty queue must no longer count as running when the next submit
looks, or that submit starts no writer and waits forever (runs hung at the tail of a drain
before this was fixed)."""

from __future__ import annotations

import time

from bosun.records import Lease, NewRun, Progress
from bosun.store.postgres import PostgresStore


async def test_no_finished_writer_is_counted_when_the_next_write_arrives(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    try:
        for n in range(4):
            await store.create_run(NewRun(id=f"r{n}", workflow="wf", queue="q", input="{}"))
        claimed = await store.claim_runs("w", ["q"], 4, 30, time.time())
        leases: list[Lease] = [c.lease for c in claimed]
        assert len(leases) == 4
        batcher = store._progress
        for round_ in range(2):
            for lease in leases:
                await store.save_progress(lease, Progress(events=[("tick", str(round_))]), 30)
                # A caller resumes before any done-callback of the writer that served it: the
                # writer must already be out of the count.
                assert not [task for task in batcher._writers if task.done()]
        for lease in leases:
            events = await store.list_events(lease.run_id)
            assert [e.data for e in events] == ["0", "1"]
    finally:
        await store.close()
