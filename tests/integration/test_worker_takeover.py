"""Runs left by a stopped worker, on both stores: a worker whose process is gone from this
machine has its leases ended at once, through the store, so that its tokens no longer fence
anything; a worker elsewhere, or alive, is never taken for dead; a run waiting on the lease of
a worker that stopped heartbeating is logged once, with when it is taken over."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time

import pytest

import bosun
from bosun.errors import LeaseLost
from bosun.records import ClaimedRun, Outcome, Progress, WorkerRecord
from bosun.store import Store
from bosun.worker.liveness import this_process
from bosun.worker.takeover import Takeovers
from tests.helpers.records import worker_record
from tests.helpers.wait import wait_until
from tests.integration.test_store_contract import TTL, new_run

HERE = this_process()
needs_proc = pytest.mark.skipif(HERE.namespace is None, reason="needs Linux /proc")
LONG = 600.0  # a lease that cannot expire during a test


def dead_pid() -> int:
    """The pid of a process that ran and was reaped (free until the kernel reuses it)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def record(worker_id: str, **fields: object) -> WorkerRecord:
    base: dict[str, object] = {
        "host": socket.gethostname(),
        "pid": dead_pid(),
        "busy": 1,
        "workflows": ("wf",),
        "pid_namespace": HERE.namespace,
        "pid_started": 12345,
    }
    return worker_record(worker_id, ttl=TTL, **{**base, **fields})


async def leased_to(store: Store, owner: str, ttl: float = LONG) -> ClaimedRun:
    run_id, _ = await store.create_run(new_run())
    [claimed] = await store.claim_runs(owner, ["default"], 1, ttl, time.time(), workflows=["wf"])
    assert claimed.run.id == run_id
    return claimed


def watch(store: Store, woken: list[bool] | None = None) -> Takeovers:
    return Takeovers(
        store,
        owner="me",
        queues=["default"],
        workflows=["wf"],
        lease_ttl=TTL,
        here=HERE.namespace,
        wake=lambda: (woken if woken is not None else []).append(True),
    )


def done(result: str) -> Progress:
    return Progress(outcome=Outcome("complete", result=result))


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@needs_proc
async def test_a_dead_worker_of_this_machine_loses_its_leases_at_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bosun.worker")
    dead = record("dead", last_seen=time.time())  # its heartbeat is not even late yet
    await store.announce_worker(dead)
    held = await leased_to(store, "dead")
    other = await leased_to(store, "alive-elsewhere")
    woken: list[bool] = []
    takeovers = watch(store, woken)

    await takeovers.look()
    await takeovers.look()  # once is enough: nothing more is written or logged

    [gone] = lines(caplog, "is gone")
    assert f"worker dead (pid {dead.pid} on this machine) is gone" in gone and "1 run" in gone
    assert woken == [True]
    run = await store.get_run(held.run.id)
    assert run is not None and run.status == "running" and run.lease_owner == "dead"
    assert run.lease_expires_at is not None and run.lease_expires_at <= time.time()
    [row] = [w for w in await store.list_workers() if w.id == "dead"]
    assert row.expires_at <= time.time()  # `bosun workers` shows it gone
    # Fencing: the dead worker's token is void now, before anyone claimed the run.
    with pytest.raises(LeaseLost):
        await store.save_progress(held.lease, done("1"), TTL)
    assert await store.renew_leases("dead", [held.lease], LONG) == [held.lease]
    # Another worker's lease is untouched.
    untouched = await store.get_run(other.run.id)
    assert untouched is not None and untouched.lease_owner == "alive-elsewhere"
    assert (untouched.lease_expires_at or 0) > time.time() + LONG / 2

    claimed = await store.claim_runs("me", ["default"], 5, TTL, time.time(), workflows=["wf"])
    assert [(c.run.id, c.took_over) for c in claimed] == [(held.run.id, True)]
    takeovers.claimed(claimed)
    assert lines(caplog, f"run {held.run.id}: taken over from worker dead, whose process is gone")
    # The new holder's writes go through; the dead worker's still fail.
    await store.save_progress(claimed[0].lease, done("1"), TTL)
    with pytest.raises(LeaseLost):
        await store.save_progress(held.lease, done("2"), TTL)
    finished = await store.get_run(held.run.id)
    assert finished is not None and finished.status == "completed" and finished.result == "1"


@needs_proc
@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(
            {"pid_namespace": "another-boot/" + (HERE.namespace or "").split("/")[-1]},
            id="another boot id",
        ),
        pytest.param(
            {"pid_namespace": (HERE.namespace or "").split("/")[0] + "/pid:[1]"},
            id="another pid namespace",
        ),
        pytest.param({"pid_namespace": None, "pid_started": None}, id="unknown process"),
        pytest.param({"pid": 0}, id="no pid"),
    ],
)
async def test_a_worker_whose_pid_means_another_process_here_is_never_found_dead(
    store: Store, caplog: pytest.LogCaptureFixture, fields: dict[str, object]
) -> None:
    """Its pid is free here, but it was counted in another PID namespace (a container with
    host networking shares the hostname, not the pids) or on another boot."""
    caplog.set_level(logging.INFO, "bosun.worker")
    await store.announce_worker(record("other", **fields))
    held = await leased_to(store, "other")
    await watch(store).look()
    assert not lines(caplog, "is gone")
    run = await store.get_run(held.run.id)
    assert run is not None and (run.lease_expires_at or 0) > time.time() + LONG / 2
    assert await store.renew_leases("other", [held.lease], LONG) == []  # still its lease


@needs_proc
async def test_a_live_worker_of_this_machine_is_not_found_dead(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bosun.worker")
    # This very process: alive, and started when it says (a heartbeat long late does not
    # make it dead: only its leases expiring move its runs on).
    late = time.time() - 10 * TTL
    await store.announce_worker(
        record(
            "alive",
            pid=os.getpid(),
            pid_started=HERE.started,
            last_seen=late,
            expires_at=late + TTL,
        )
    )
    held = await leased_to(store, "alive")
    await watch(store).look()
    assert not lines(caplog, "is gone")
    run = await store.get_run(held.run.id)
    assert run is not None and (run.lease_expires_at or 0) > time.time() + LONG / 2


@needs_proc
async def test_a_reused_pid_does_not_keep_a_dead_worker_alive(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """The pid runs, but not the process that registered: it started at another time."""
    caplog.set_level(logging.INFO, "bosun.worker")
    assert HERE.started is not None
    pid = os.getpid()
    await store.announce_worker(record("reused", pid=pid, pid_started=HERE.started + 1))
    held = await leased_to(store, "reused")
    await watch(store).look()
    assert lines(caplog, f"worker reused (pid {pid} on this machine) is gone")
    run = await store.get_run(held.run.id)
    assert run is not None and (run.lease_expires_at or 0) <= time.time()


async def test_a_run_waiting_on_a_stalled_worker_is_logged_once_per_lease(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bosun.worker")
    now = time.time()
    # Another machine's worker that last heartbeated 20 s ago (its TTL is 30 s): stalled,
    # but nothing here can tell it died; its runs wait for their leases to expire.
    await store.announce_worker(
        record(
            "stalled",
            host="elsewhere",
            pid_namespace="x/y",
            last_seen=now - 20,
            expires_at=now + 10,
        )
    )
    await store.announce_worker(record("fresh", pid_namespace="x/y"))
    held = await leased_to(store, "stalled")
    await leased_to(store, "fresh")
    unserved_id, _ = await store.create_run(new_run(workflow="not-mine"))
    await store.claim_runs("stalled", ["default"], 1, LONG, time.time(), workflows=["not-mine"])
    takeovers = watch(store)

    await takeovers.look()
    await takeovers.look()

    waiting = lines(caplog, "taking over then")
    assert len(waiting) == 1, waiting  # once per lease, and only for runs this worker runs
    expected = f"run {held.run.id}: lease held by worker stalled (stopped heartbeating"
    assert waiting[0].startswith(expected), waiting
    assert unserved_id not in waiting[0]
    until = time.strftime("%H:%M:%S", time.localtime(held.run.lease_expires_at or 0))
    assert f"until {until}" in waiting[0]

    # The lease runs out (renewed with no time left: the worker's last heartbeat), and the
    # run is taken over; the takeover is logged with whom it came from.
    assert await store.renew_leases("stalled", [held.lease], 0.0) == []
    claimed = await wait_until(
        lambda: store.claim_runs("me", ["default"], 5, TTL, time.time(), workflows=["wf"]),
        30,
        "the stalled worker's run to be claimable",
    )
    assert [(c.run.id, c.took_over) for c in claimed] == [(held.run.id, True)]
    takeovers.claimed(claimed)
    assert lines(caplog, f"run {held.run.id}: taken over from worker stalled, which stopped")


@needs_proc
async def test_a_worker_takes_over_at_once_the_runs_of_a_dead_worker(
    any_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker looks once before its first claim: a run leased for ten minutes to a
    worker whose process is gone completes at once."""
    caplog.set_level(logging.INFO, "bosun.worker")
    app = bosun.App("takeover", database=any_db_url)

    @app.step(name="add")
    async def add(a: int, b: int) -> int:
        return a + b

    @app.workflow(name="wf")
    async def wf(ctx: bosun.Context) -> int:
        return await add(1, 2)

    async with app:
        handle = await app.start(wf)
        dead = record("dead", workflows=("wf",))
        await app.store.announce_worker(dead)
        [claimed] = await app.store.claim_runs(
            "dead", ["default"], 1, LONG, time.time(), workflows=["wf"]
        )
        assert claimed.run.id == handle.run_id
        async with app.worker(lease_ttl=LONG):
            assert await handle.result(timeout=60) == 3
    assert lines(caplog, f"worker dead (pid {dead.pid} on this machine) is gone")
    assert lines(caplog, f"run {handle.run_id}: taken over from worker dead")
