"""Result waiters (`bosun.store.waiters`): many waiters share batched status reads, a run
that finishes here wakes its waiters without any read, and a missed notification is caught
by the timer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bosun.errors import StoreError
from bosun.records import RunRecord
from bosun.store.notify import Finished, LocalNotifier
from bosun.store.waiters import BATCH, ResultWaiters
from tests.helpers.wait import wait_until


def record(run_id: str, status: str = "completed") -> RunRecord:
    return RunRecord(
        id=run_id,
        workflow="w",
        queue="default",
        status=status,  # type: ignore[arg-type]
        input="[]",
        result="1",
        error=None,
        priority=0,
        idempotency_key=None,
        parent_id=None,
        parent_seq=None,
        deadline=None,
        ready_at=None,
        lease_owner=None,
        lease_expires_at=None,
        attempts=1,
        created_at=0.0,
        updated_at=0.0,
        finished_at=0.0,
    )


class FakeRuns:
    """A database of run statuses that counts the batched reads made of it."""

    def __init__(self) -> None:
        self.finished: set[str] = set()
        self.batches: list[list[str]] = []

    async def read_finished(self, run_ids: Sequence[str]) -> list[RunRecord]:
        self.batches.append(list(run_ids))
        return [record(run_id) for run_id in run_ids if run_id in self.finished]


async def test_many_waiters_share_a_few_batched_reads() -> None:
    runs = FakeRuns()
    waiters = ResultWaiters(LocalNotifier(), runs.read_finished)
    ids = [f"r{i}" for i in range(BATCH + 500)]
    futures = [waiters.watch(run_id) for run_id in ids]
    # The first checks find nothing finished; the runs then finish unheard of (no notifier
    # word, as for another SQLite process), and the next checks find them all.
    await wait_until(lambda: runs.batches, 30, "the first batched read")
    runs.finished.update(ids)
    ended = await asyncio.wait_for(asyncio.gather(*futures), 30)
    assert [e.status for e in ended] == ["completed"] * len(ids)
    # Each waiter was read for once or twice, always in shared batches of up to BATCH ids:
    # a handful of queries for thousands of waiters, not one (or more) each.
    assert all(len(batch) <= BATCH for batch in runs.batches)
    assert len(runs.batches) <= 8 and waiters.reads == len(runs.batches)
    assert len({run_id for batch in runs.batches for run_id in batch}) == len(ids)
    for run_id, future in zip(ids, futures, strict=True):
        waiters.drop(run_id, future)


async def test_a_run_finished_here_wakes_its_waiters_without_a_read() -> None:
    runs = FakeRuns()
    notifier = LocalNotifier()
    waiters = ResultWaiters(notifier, runs.read_finished, notified=lambda: True)
    first, second = waiters.watch("r1"), waiters.watch("r1")
    notifier.run_finished("r1", Finished("completed", "42", None))
    assert (await first).result == "42" and (await second).result == "42"
    assert runs.batches == []  # the outcome came with the word
    waiters.drop("r1", first)
    waiters.drop("r1", second)


async def test_a_run_executing_here_is_not_read_until_it_moves_on() -> None:
    """A worker of this process executes the run: its end will be heard, so its checks come
    due without a read; once that worker lets it go (handed back, lost), a check reads it."""
    runs = FakeRuns()
    notifier = LocalNotifier()
    waiters = ResultWaiters(notifier, runs.read_finished)
    notifier.executing("r1")  # taken by a worker here before anyone waits
    early = waiters.watch("r1")
    late = waiters.watch("r2")  # waited for first, then taken by a worker here
    notifier.executing("r2")
    first_due = {run_id: waiters._watched[run_id].due for run_id in ("r1", "r2")}
    await wait_until(
        lambda: all(waiters._watched[r].due > due for r, due in first_due.items()),
        30,
        "a check of each to come due",
    )
    assert runs.batches == [] and not early.done() and not late.done()
    for run_id in ("r1", "r2"):
        notifier.executed(run_id)  # handed back; another process finishes it, unheard of
        runs.finished.add(run_id)
    ended = await asyncio.wait_for(asyncio.gather(early, late), 30)
    assert [e.id for e in ended if isinstance(e, RunRecord)] == ["r1", "r2"]
    assert sorted(r for batch in runs.batches for r in batch) == ["r1", "r2"]


async def test_runs_heard_of_together_are_read_together() -> None:
    """NOTIFY says a run ended elsewhere, not how: those heard of at once share a read."""
    runs = FakeRuns()
    notifier = LocalNotifier()
    waiters = ResultWaiters(notifier, runs.read_finished, notified=lambda: True)
    ids = [f"r{i}" for i in range(50)]
    futures = [waiters.watch(run_id) for run_id in ids]
    runs.finished.update(ids)
    for run_id in ids:
        notifier.run_finished(run_id, None)
    ended = await asyncio.wait_for(asyncio.gather(*futures), 30)
    assert {e.status for e in ended} == {"completed"}
    assert runs.batches == [ids]


async def test_a_missed_notification_is_caught_by_the_timer() -> None:
    runs = FakeRuns()
    waiters = ResultWaiters(LocalNotifier(), runs.read_finished, notified=lambda: True)
    future = waiters.watch("r1")
    runs.finished.add("r1")  # finished, but nobody says so
    ended = await asyncio.wait_for(future, 30)
    assert isinstance(ended, RunRecord) and ended.id == "r1"
    assert runs.batches == [["r1"]]


async def test_a_dropped_waiter_is_not_read_for_and_others_still_are() -> None:
    runs = FakeRuns()
    waiters = ResultWaiters(LocalNotifier(), runs.read_finished)
    gone, kept = waiters.watch("gone"), waiters.watch("kept")
    waiters.drop("gone", gone)
    runs.finished.update({"gone", "kept"})
    assert (await asyncio.wait_for(kept, 30)).status == "completed"
    assert all(batch == ["kept"] for batch in runs.batches)
    assert not gone.done()


async def test_a_failed_read_fails_its_waiters_and_close_fails_the_rest() -> None:
    async def broken(run_ids: Sequence[str]) -> list[RunRecord]:
        raise StoreError("database away")

    waiters = ResultWaiters(LocalNotifier(), broken)
    future = waiters.watch("r1")
    with pytest.raises(StoreError, match="database away"):
        await asyncio.wait_for(future, 30)
    waiters.drop("r1", future)

    runs = FakeRuns()
    waiters = ResultWaiters(LocalNotifier(), runs.read_finished, notified=lambda: True)
    pending = waiters.watch("r2")
    await waiters.close()
    with pytest.raises(StoreError, match="closed"):
        await pending
