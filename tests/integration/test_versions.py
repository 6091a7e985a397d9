"""Version-pinned runs and the worker registry, on both stores: a run stays on the
deployment version it started on while a live worker of that version serves its queue."""

from __future__ import annotations

import dataclasses
import time

import bosun
from bosun.records import WORKER_FORGET_AFTER, Outcome, Progress, RunFilter, WorkerRecord
from bosun.store import Store
from bosun.worker.versioning import code_version
from tests.helpers.records import worker_record
from tests.helpers.wait import wait_until
from tests.integration.test_engine import TIMEOUT, wait_for_status
from tests.integration.test_store_contract import TTL, new_run


def worker(
    worker_id: str, version: str, *, queues: tuple[str, ...] = ("default",), **fields: object
) -> WorkerRecord:
    return worker_record(worker_id, ttl=TTL, version=version, queues=queues, **fields)


async def claim(store: Store, owner: str, *versions: str) -> list[str]:
    claimed = await store.claim_runs(
        owner, ["default"], 10, TTL, time.time(), versions=list(versions)
    )
    return [c.run.id for c in claimed]


async def pinned_waiting_runs(store: Store, owner: str, version: str, n: int = 1) -> list[str]:
    """Runs that started on `version`, suspended, and are ready again (a signal came)."""
    run_ids = [(await store.create_run(new_run()))[0] for _ in range(n)]
    claimed = await store.claim_runs(owner, ["default"], n, TTL, time.time(), versions=[version])
    assert sorted(c.run.id for c in claimed) == sorted(run_ids)
    for c in claimed:
        assert c.run.version == version
        await store.save_progress(c.lease, Progress(outcome=Outcome("suspend", None)), TTL)
        await store.send_signal(c.run.id, "go", "null")
    return run_ids


async def pinned_waiting_run(store: Store, owner: str, version: str) -> str:
    [run_id] = await pinned_waiting_runs(store, owner, version)
    return run_id


async def test_registry_lists_refreshes_and_retires_workers(store: Store) -> None:
    first = worker("w1", "v1", queues=("default", "gpu"), compatible=("v0",))
    await store.announce_worker(first)
    await store.announce_worker(dataclasses.replace(first, busy=3, draining=True))
    await store.announce_worker(worker("w2", "v2"))
    listed = {w.id: w for w in await store.list_workers()}
    assert set(listed) == {"w1", "w2"}
    assert listed["w1"].queues == ("default", "gpu")
    assert listed["w1"].compatible == ("v0",)
    assert (listed["w1"].busy, listed["w1"].draining) == (3, True)
    await store.retire_worker("w1")
    assert [w.id for w in await store.list_workers()] == ["w2"]


async def test_long_dead_workers_are_forgotten(store: Store) -> None:
    long_ago = time.time() - WORKER_FORGET_AFTER - 100
    await store.announce_worker(worker("dead", "v1", last_seen=long_ago, expires_at=long_ago))
    await store.announce_worker(worker("alive", "v1"))
    assert [w.id for w in await store.list_workers()] == ["alive"]


async def test_a_run_is_pinned_to_the_version_that_claimed_it(store: Store) -> None:
    await store.announce_worker(worker("old", "v1"))
    run_id = await pinned_waiting_run(store, "old", "v1")
    assert await claim(store, "new", "v2") == []  # a live v1 worker serves the queue
    assert await claim(store, "old", "v1") == [run_id]
    run = await store.get_run(run_id)
    assert run is not None and run.version == "v1"


async def test_a_compatible_version_takes_over_and_the_run_moves_to_it(store: Store) -> None:
    await store.announce_worker(worker("old", "v1"))
    run_id = await pinned_waiting_run(store, "old", "v1")
    assert await claim(store, "new", "v2", "v1") == [run_id]
    run = await store.get_run(run_id)
    assert run is not None and run.version == "v2"


async def test_runs_move_on_once_their_version_drained(store: Store) -> None:
    await store.announce_worker(worker("old", "v1"))
    run_id = await pinned_waiting_run(store, "old", "v1")
    assert await claim(store, "new", "v2") == []
    await store.announce_worker(worker("old", "v1", draining=True))
    assert await claim(store, "new", "v2") == [run_id]
    run = await store.get_run(run_id)
    assert run is not None and run.version == "v2"


async def test_a_dead_or_retired_worker_holds_no_runs(store: Store) -> None:
    await store.announce_worker(worker("old", "v1"))
    first, second = await pinned_waiting_runs(store, "old", "v1", 2)
    past = time.time() - 1
    await store.announce_worker(worker("old", "v1", last_seen=past - TTL, expires_at=past))
    assert set(await claim(store, "new", "v2")) == {first, second}
    await store.announce_worker(worker("old2", "v1"))
    third = await pinned_waiting_run(store, "old2", "v1")
    await store.retire_worker("old2")
    assert await claim(store, "new", "v2") == [third]


async def test_only_workers_serving_the_runs_queue_hold_it(store: Store) -> None:
    await store.announce_worker(worker("gpu-pool", "v1", queues=("gpu",)))
    run_id = await pinned_waiting_run(store, "old", "v1")
    assert await claim(store, "new", "v2") == [run_id]


async def test_unpinned_runs_go_anywhere_and_unversioned_claims_ignore_pins(store: Store) -> None:
    await store.announce_worker(worker("old", "v1"))
    fresh, _ = await store.create_run(new_run())
    assert await claim(store, "new", "v2") == [fresh]
    pinned = await pinned_waiting_run(store, "old", "v1")
    assert await claim(store, "tool") == [pinned]
    run = await store.get_run(pinned)
    assert run is not None and run.version == "v1"  # an unversioned claim keeps the pin


async def test_runs_can_be_listed_by_version(store: Store) -> None:
    await store.announce_worker(worker("old", "v1"))
    pinned = await pinned_waiting_run(store, "old", "v1")
    await store.create_run(new_run())
    assert [r.id for r in await store.list_runs(RunFilter(version="v1"))] == [pinned]


# -- a rolling deploy with real workers ------------------------------------------------------


def deployment(db_url: str, label: str) -> tuple[bosun.App, bosun.Workflow[[], str]]:
    """One version of an app whose workflow answers with the code that finished it."""
    app = bosun.App("rolling", database=db_url)

    @app.workflow(name="ticket")
    async def ticket(ctx: bosun.Context) -> str:
        await ctx.wait_for_signal("go")
        return label

    return app, ticket


async def test_a_rolling_deploy_keeps_runs_on_their_version_until_it_drains(
    any_db_url: str,
) -> None:
    old_app, old_wf = deployment(any_db_url, "old code")
    new_app, _ = deployment(any_db_url, "new code")
    async with old_app, new_app:
        async with old_app.worker(version="v1", poll_interval=0.05) as old_worker:
            started = [await old_app.start(old_wf) for _ in range(6)]
            for handle in started:
                await wait_for_status(handle, "suspended")
            async with new_app.worker(version="v2", poll_interval=0.05) as new_worker:
                # Both run; the v1 runs' signals are taken by the v1 worker only.
                for handle in started:
                    await handle.signal("go")
                for handle in started:
                    assert await handle.result(TIMEOUT) == "old code"
                waiting = await old_app.start(old_wf)
                await wait_for_status(waiting, "suspended")
                assert (await old_app.store.get_run(waiting.run_id)).version == "v1"  # type: ignore[union-attr]

                # The v2 worker announces itself from its own task: on a busy machine the
                # v1 worker can finish all of the above first.
                async def both_listed() -> dict[str, WorkerRecord]:
                    listed = {w.id: w for w in await old_app.store.list_workers()}
                    return listed if {old_worker.owner, new_worker.owner} <= set(listed) else {}

                workers = await wait_until(both_listed, TIMEOUT, "both workers to be listed")
                assert workers[old_worker.owner].version == "v1"
                assert workers[new_worker.owner].version == "v2"
            # v2 stopped; the run still belongs to v1, whose worker finishes it.
        # Now the v1 worker drained and left: the run moves to v2 when signalled.
        async with new_app.worker(version="v2", poll_interval=0.05):
            await new_app.get_handle(waiting.run_id).signal("go")
            assert await new_app.get_handle(waiting.run_id).result(TIMEOUT) == "new code"
        moved = await new_app.store.get_run(waiting.run_id)
        assert moved is not None and moved.version == "v2"
        assert await new_app.store.list_workers() == []  # both retired on exit


async def test_the_default_version_is_a_hash_of_the_code(any_db_url: str) -> None:
    first, _ = deployment(any_db_url, "a")
    same, _ = deployment(any_db_url, "a")
    changed, _ = deployment(any_db_url, "b")

    def version_of(app: bosun.App) -> str:
        return code_version(app.registry.workflows, app.registry.steps)

    assert version_of(first) == version_of(same)
    assert version_of(first).startswith("code-")
    # The label is a closure variable, not code: same source, same version. A different
    # workflow body is a different version.
    assert version_of(changed) == version_of(first)
    other = bosun.App("other", database=any_db_url)

    @other.workflow(name="ticket")
    async def ticket(ctx: bosun.Context) -> str:
        return "something else"

    assert version_of(other) != version_of(first)
