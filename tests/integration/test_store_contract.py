"""The Store contract: what every connector must do, on a real database."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from bosun.errors import InvalidRunState, LeaseLost, RunNotFound
from bosun.records import JournalEntry, NewRun, Outcome, Progress, RunFilter, SessionAppend
from bosun.store import Store

TTL = 30.0


@pytest.fixture(params=["sqlite", "postgresql", "pgbouncer"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database of each kind, in turn; PostgreSQL also through PgBouncer's
    transaction pooling (no session state, no prepared statements, no LISTEN)."""
    fixture = {"sqlite": "db_url", "postgresql": "pg_url", "pgbouncer": "pg_bouncer_url"}
    return str(request.getfixturevalue(fixture[request.param]))


def new_run(**overrides: object) -> NewRun:
    fields: dict[str, object] = {
        "id": uuid.uuid4().hex,
        "workflow": "wf",
        "queue": "default",
        "input": "{}",
    }
    fields.update(overrides)
    return NewRun(**fields)  # type: ignore[arg-type]


async def claim_one(store: Store, owner: str = "w1", ttl: float = TTL, now: float | None = None):
    claimed = await store.claim_runs(owner, ["default"], 1, ttl, now or time.time())
    assert len(claimed) == 1
    return claimed[0]


async def test_create_is_idempotent_by_key(store: Store) -> None:
    first, created = await store.create_run(new_run(idempotency_key="k"))
    again, created_again = await store.create_run(new_run(idempotency_key="k"))
    assert created and not created_again
    assert first == again
    assert len(await store.list_runs(RunFilter())) == 1


async def test_claim_takes_each_ready_run_once(store: Store) -> None:
    ids = {(await store.create_run(new_run()))[0] for _ in range(5)}
    a = await store.claim_runs("a", ["default"], 3, TTL, time.time())
    b = await store.claim_runs("b", ["default"], 10, TTL, time.time())
    assert len(a) == 3 and len(b) == 2
    assert {c.run.id for c in a} | {c.run.id for c in b} == ids
    assert await store.claim_runs("c", ["default"], 10, TTL, time.time()) == []
    assert all(c.run.status == "running" and c.run.attempts == 1 for c in a + b)


async def test_claim_respects_queues_and_priority(store: Store) -> None:
    await store.create_run(new_run(queue="gpu"))
    low, _ = await store.create_run(new_run(priority=0))
    high, _ = await store.create_run(new_run(priority=5))
    claimed = await store.claim_runs("w", ["default"], 1, TTL, time.time())
    assert [c.run.id for c in claimed] == [high]
    rest = await store.claim_runs("w", ["default"], 5, TTL, time.time())
    assert [c.run.id for c in rest] == [low]


async def test_the_journal_reads_whole_or_by_status_in_order(store: Store) -> None:
    run_id, _ = await store.create_run(new_run())
    claimed = await claim_one(store)
    entries = [
        JournalEntry("1", "step", "a", "completed", output="1"),
        JournalEntry("2", "signal", "approve:c1", "waiting"),
        JournalEntry("3", "step", "b", "completed", output="2"),
        JournalEntry("4", "signal", "approve:c2", "waiting"),
    ]
    await store.save_progress(claimed.lease, Progress(journal=entries), TTL)
    assert [e.seq for e in await store.get_journal(run_id)] == ["1", "2", "3", "4"]
    waiting = await store.get_journal(run_id, status="waiting")
    assert [(e.seq, e.name) for e in waiting] == [("2", "approve:c1"), ("4", "approve:c2")]
    assert await store.get_journal(run_id, status="failed") == []


async def test_fencing_a_taken_over_lease_writes_nothing(store: Store) -> None:
    run_id, _ = await store.create_run(new_run())
    old = await claim_one(store, "old", ttl=1)
    new = await claim_one(store, "new", now=time.time() + 2)  # once old's lease has expired
    assert new.lease.token != old.lease.token and new.run.attempts == 2
    step = JournalEntry("1", "step", "charge", "completed", output="1")
    with pytest.raises(LeaseLost):
        await store.save_progress(old.lease, Progress(journal=[step]), TTL)
    with pytest.raises(LeaseLost):
        await store.save_progress(old.lease, Progress(outcome=Outcome("complete", result="1")), TTL)
    assert await store.get_journal(run_id) == []
    assert (await store.get_run(run_id)).status == "running"  # type: ignore[union-attr]
    await store.save_progress(new.lease, Progress(outcome=Outcome("complete", result="2")), TTL)
    record = await store.get_run(run_id)
    assert record is not None and (record.status, record.result) == ("completed", "2")
    with pytest.raises(LeaseLost):  # and never twice
        await store.save_progress(new.lease, Progress(outcome=Outcome("complete", result="3")), TTL)


async def test_session_messages_are_written_with_the_progress_that_journals_them(
    store: Store,
) -> None:
    """Atomically with the run's write, fenced like it, and once per journal position."""
    run_id, _ = await store.create_run(new_run(tenant="acme", session="s1"))
    old = await claim_one(store, "old", ttl=1)
    texts = ('{"role":"user","content":"hi"}', '{"role":"assistant","content":"hello"}')
    added = SessionAppend("acme", "s1", run_id, "2", texts)
    entry = JournalEntry("2", "step", "session.append", "completed", output="2")
    new = await claim_one(store, "new", now=time.time() + 2)  # old's lease has expired
    with pytest.raises(LeaseLost):
        await store.save_progress(old.lease, Progress([entry], session_appends=[added]), TTL)
    assert await store.session_messages("acme", "s1") == []
    for _ in range(2):  # a write retried after an unknown outcome adds nothing twice
        progress = Progress([entry], events=[("x", "{}")], session_appends=[added])
        await store.save_progress(new.lease, progress, TTL)
    stored = await store.session_messages("acme", "s1")
    assert [(m.run_id, m.message) for m in stored] == [(run_id, t) for t in texts]
    session = await store.get_session("acme", "s1")
    assert session is not None and session.last_seq >= 2


async def test_renew_keeps_leases_and_reports_lost_ones(store: Store) -> None:
    await store.create_run(new_run())
    await store.create_run(new_run())
    mine = await store.claim_runs("w", ["default"], 2, 1, time.time())
    lost = await store.renew_leases("w", [c.lease for c in mine], TTL)
    assert lost == []
    # Past the claim's 1 s lease, within the renewed one: nothing to take.
    assert await store.claim_runs("thief", ["default"], 5, TTL, time.time() + 5) == []
    await store.cancel_run(mine[0].run.id)
    lost = await store.renew_leases("w", [c.lease for c in mine], TTL)
    assert lost == [mine[0].lease]


async def test_suspend_until_a_timer_then_due(store: Store) -> None:
    run_id, _ = await store.create_run(new_run())
    claimed = await claim_one(store)
    wake = time.time() + 60
    entry = JournalEntry("1", "sleep", "sleep", "waiting", wake_at=wake)
    await store.save_progress(
        claimed.lease, Progress([entry], outcome=Outcome("suspend", wake)), TTL
    )
    assert (await store.get_run(run_id)).status == "suspended"  # type: ignore[union-attr]
    assert await store.claim_runs("w", ["default"], 1, TTL, time.time()) == []
    later = await store.claim_runs("w", ["default"], 1, TTL, wake + 1)
    assert [c.run.id for c in later] == [run_id]
    assert later[0].journal["1"].status == "waiting"


async def test_signal_wakes_a_suspended_run_and_is_delivered_once(store: Store) -> None:
    run_id, _ = await store.create_run(new_run())
    claimed = await claim_one(store)
    await store.save_progress(claimed.lease, Progress(outcome=Outcome("suspend", None)), TTL)
    assert await store.claim_runs("w", ["default"], 1, TTL, time.time()) == []
    await store.send_signal(run_id, "approve", json.dumps({"by": "ann"}))
    again = await claim_one(store)
    assert [(s.name, json.loads(s.payload)) for s in again.signals] == [("approve", {"by": "ann"})]
    entry = JournalEntry("1", "signal", "approve", "completed", output=again.signals[0].payload)
    progress = Progress(
        [entry], consumed_signals=[(again.signals[0].id, "1")], outcome=Outcome("suspend", None)
    )
    await store.save_progress(again.lease, progress, TTL)
    await store.send_signal(run_id, "other", "null")
    third = await claim_one(store)
    assert [s.name for s in third.signals] == ["other"]


async def test_a_wake_up_during_execution_is_not_lost(store: Store) -> None:
    run_id, _ = await store.create_run(new_run())
    claimed = await claim_one(store)
    await store.send_signal(run_id, "late", "1")  # arrives while the worker still runs it
    await store.save_progress(claimed.lease, Progress(outcome=Outcome("suspend", None)), TTL)
    again = await claim_one(store)
    assert [s.name for s in again.signals] == ["late"]


async def test_signal_errors(store: Store) -> None:
    with pytest.raises(RunNotFound):
        await store.send_signal("nope", "x", "null")
    run_id, _ = await store.create_run(new_run())
    claimed = await claim_one(store)
    await store.save_progress(claimed.lease, Progress(outcome=Outcome("complete", result="1")), TTL)
    with pytest.raises(InvalidRunState, match="completed"):
        await store.send_signal(run_id, "x", "null")


async def test_child_completion_settles_the_parent_and_wakes_it(store: Store) -> None:
    parent_id, _ = await store.create_run(new_run())
    parent = await claim_one(store)
    child = new_run(parent_id=parent_id, parent_seq="1")
    entry = JournalEntry("1", "child", "wf", "waiting", child_id=child.id)
    await store.save_progress(
        parent.lease, Progress([entry], children=[child], outcome=Outcome("suspend", None)), TTL
    )
    claimed_child = await claim_one(store)
    assert claimed_child.run.id == child.id
    await store.save_progress(
        claimed_child.lease, Progress(outcome=Outcome("complete", result='"done"')), TTL
    )
    woken = await claim_one(store)
    assert woken.run.id == parent_id
    assert (woken.journal["1"].status, woken.journal["1"].output) == ("completed", '"done"')


async def test_cancel_cascades_to_descendants_only(store: Store) -> None:
    root, _ = await store.create_run(new_run())
    child, _ = await store.create_run(new_run(parent_id=root, parent_seq="1"))
    grandchild, _ = await store.create_run(new_run(parent_id=child, parent_seq="1"))
    other, _ = await store.create_run(new_run())
    cancelled = await store.cancel_run(root)
    assert set(cancelled) == {root, child, grandchild}
    assert (await store.get_run(other)).status == "queued"  # type: ignore[union-attr]
    with pytest.raises(InvalidRunState):
        await store.cancel_run(root)
    with pytest.raises(RunNotFound):
        await store.cancel_run("missing")


async def test_cancelling_a_child_fails_the_parents_wait(store: Store) -> None:
    parent_id, _ = await store.create_run(new_run())
    parent = await claim_one(store)
    child = new_run(parent_id=parent_id, parent_seq="1")
    entry = JournalEntry("1", "child", "wf", "waiting", child_id=child.id)
    await store.save_progress(
        parent.lease, Progress([entry], children=[child], outcome=Outcome("suspend", None)), TTL
    )
    await store.cancel_run(child.id)
    woken = await store.claim_runs("w", ["default"], 5, TTL, time.time())
    assert [c.run.id for c in woken] == [parent_id]
    assert woken[0].journal["1"].status == "failed"
    assert woken[0].journal["1"].error["status"] == "cancelled"  # type: ignore[index]


async def test_block_and_resume(store: Store) -> None:
    run_id, _ = await store.create_run(new_run())
    with pytest.raises(InvalidRunState, match="only blocked"):
        await store.resume_run(run_id)
    claimed = await claim_one(store)
    error = {"type": "DeterminismError", "message": "expected a, found b"}
    await store.save_progress(claimed.lease, Progress(outcome=Outcome("block", error=error)), TTL)
    record = await store.get_run(run_id)
    assert record is not None and record.status == "blocked" and record.error == error
    await store.resume_run(run_id)
    resumed = await claim_one(store)
    assert resumed.run.id == run_id and resumed.run.error is None


async def test_release_hands_runs_back_at_once(store: Store) -> None:
    run_id, _ = await store.create_run(new_run())
    await claim_one(store, "draining")
    assert await store.release_leases("draining", [run_id]) == 1
    other = await claim_one(store, "other")
    assert other.run.id == run_id


async def test_events_are_ordered_and_paged(store: Store) -> None:
    run_id, _ = await store.create_run(new_run())
    claimed = await claim_one(store)
    events = [("progress", json.dumps(i)) for i in range(3)]
    await store.save_progress(claimed.lease, Progress(events=events), TTL)
    got = await store.list_events(run_id)
    assert [json.loads(e.data) for e in got] == [0, 1, 2]
    assert [e.seq for e in got] == [1, 2, 3]
    assert [json.loads(e.data) for e in await store.list_events(run_id, after=got[0].seq)] == [1, 2]
    assert [e.seq for e in await store.list_events(run_id, after=1, limit=1)] == [2]


async def test_event_positions_are_per_run_and_gap_free_across_writers(store: Store) -> None:
    """Worker writes, signals, cancellation: every writer takes the run's next position."""
    run_id, _ = await store.create_run(new_run())
    other, _ = await store.create_run(new_run())
    claimed = await claim_one(store)
    assert claimed.run.id == run_id
    writes = [
        store.save_progress(claimed.lease, Progress(events=[("tick", json.dumps(i))]), TTL)
        for i in range(10)
    ] + [store.send_signal(run_id, f"s{i}", "null") for i in range(10)]
    await asyncio.gather(*writes)
    await store.send_signal(other, "x", "null")
    await store.cancel_run(run_id)
    got = await store.list_events(run_id)
    assert [e.seq for e in got] == list(range(1, 22))
    assert sorted(json.loads(e.data) for e in got if e.type == "tick") == list(range(10))
    assert sum(e.type == "signal.received" for e in got) == 10
    assert got[-1].type == "run.cancelled"
    assert [(e.seq, e.type) for e in await store.list_events(other)] == [(1, "signal.received")]


async def test_resume_is_an_event(store: Store) -> None:
    run_id, _ = await store.create_run(new_run())
    claimed = await claim_one(store)
    await store.save_progress(claimed.lease, Progress(outcome=Outcome("block", error={})), TTL)
    await store.resume_run(run_id)
    assert [e.type for e in await store.list_events(run_id)] == ["run.resumed"]


async def test_event_notifications_reach_local_waiters(store: Store) -> None:
    run_id, _ = await store.create_run(new_run())
    waiter = store.notifier.events_future(run_id)
    await store.send_signal(run_id, "go", "null")
    await asyncio.wait_for(waiter, 5)


async def test_tenant_session_and_time_filters(store: Store) -> None:
    a1, _ = await store.create_run(new_run(tenant="a", session="chat-1"))
    a2, _ = await store.create_run(new_run(tenant="a"))
    b1, _ = await store.create_run(new_run(tenant="b", session="chat-1"))
    record = await store.get_run(a1)
    assert record is not None and (record.tenant, record.session) == ("a", "chat-1")
    assert {r.id for r in await store.list_runs(RunFilter(tenant="a"))} == {a1, a2}
    assert [r.id for r in await store.list_runs(RunFilter(tenant="b", session="chat-1"))] == [b1]
    assert [r.id for r in await store.list_runs(RunFilter(tenant="a", session="chat-1"))] == [a1]
    later = time.time() + 60
    assert await store.list_runs(RunFilter(created_after=later)) == []
    assert len(await store.list_runs(RunFilter(created_before=later))) == 3


async def test_children_inherit_the_tenant(store: Store) -> None:
    parent, _ = await store.create_run(new_run(tenant="acme"))
    claimed = await claim_one(store)
    child = new_run(parent_id=parent, parent_seq="1", tenant="acme")
    await store.save_progress(claimed.lease, Progress(children=[child]), TTL)
    record = await store.get_run(child.id)
    assert record is not None and record.tenant == "acme"


async def test_api_keys_are_stored_listed_and_revoked(store: Store) -> None:
    from bosun.records import ApiKeyRecord

    key = ApiKeyRecord("k1", "acme", "ci", "ab" * 32, ("read", "submit"), time.time())
    await store.create_api_key(key)
    await store.create_api_key(ApiKeyRecord("k2", "other", "", "cd" * 32, ("admin",), time.time()))
    assert await store.get_api_key("k1") == key
    assert await store.get_api_key("nope") is None
    assert [k.id for k in await store.list_api_keys("acme")] == ["k1"]
    assert [k.id for k in await store.list_api_keys()] == ["k1", "k2"]
    assert await store.revoke_api_key("k1")
    assert not await store.revoke_api_key("k1")
    revoked = await store.get_api_key("k1")
    assert revoked is not None and revoked.revoked_at is not None


async def test_list_filters_and_cursor(store: Store) -> None:
    for i in range(5):
        await store.create_run(new_run(workflow="a" if i % 2 else "b"))
    page = await store.list_runs(RunFilter(limit=2))
    rest = await store.list_runs(RunFilter(limit=10, before=(page[-1].created_at, page[-1].id)))
    assert len(page) == 2 and len(rest) == 3
    assert not {r.id for r in page} & {r.id for r in rest}
    assert {r.workflow for r in await store.list_runs(RunFilter(workflow="a"))} == {"a"}


async def test_sql_looking_strings_are_stored_verbatim(store: Store) -> None:
    nasty = "'); DROP TABLE runs; --"
    text = json.dumps(nasty)
    run_id, _ = await store.create_run(
        new_run(
            workflow=nasty,
            queue=nasty,
            input=text,
            idempotency_key=nasty,
            concurrency_key=nasty,
            concurrency_limit=1,
            fairness_key=nasty,
        )
    )
    record = await store.get_run(run_id)
    assert record is not None
    assert (record.workflow, record.queue, record.idempotency_key) == (nasty, nasty, nasty)
    assert json.loads(record.input) == nasty
    await store.send_signal(run_id, nasty, text)
    claimed = await store.claim_runs(nasty, [nasty], 1, TTL, time.time())
    assert [s.name for s in claimed[0].signals] == [nasty]
    entry = JournalEntry(nasty, "step", nasty, "completed", output=text, error={"message": nasty})
    await store.save_progress(
        claimed[0].lease,
        Progress([entry], events=[(nasty, text)], outcome=Outcome("complete", result=text)),
        TTL,
    )
    journal = await store.get_journal(run_id)
    assert (journal[0].seq, journal[0].name, journal[0].error) == (nasty, nasty, {"message": nasty})
    stored = [(e.type, e.data) for e in await store.list_events(run_id)]
    assert stored == [
        ("signal.received", json.dumps({"name": nasty}, separators=(",", ":"))),
        (nasty, text),
    ]
    assert [r.id for r in await store.list_runs(RunFilter(workflow=nasty))] == [run_id]
    await store.set_queue_limit(nasty, 3)
    assert {q.queue for q in await store.queue_stats()} <= {nasty}


async def test_queue_depth_counts_ready_in_flight_and_waiting(store: Store) -> None:
    for _ in range(3):
        await store.create_run(new_run())
    await store.create_run(new_run(queue="gpu"))
    first = await claim_one(store)
    second = await claim_one(store)
    wake = time.time() + 3600
    await store.save_progress(second.lease, Progress(outcome=Outcome("suspend", wake)), TTL)
    await asyncio.sleep(0.05)
    stats = {s.queue: s for s in await store.queue_stats()}
    assert (stats["default"].ready, stats["default"].in_flight, stats["default"].waiting) == (
        1,
        1,
        1,
    )
    assert stats["default"].oldest_ready_age >= 0.05
    assert (stats["gpu"].ready, stats["gpu"].in_flight) == (1, 0)
    await store.save_progress(first.lease, Progress(outcome=Outcome("complete", result="1")), TTL)
    stats = {s.queue: s for s in await store.queue_stats()}
    assert stats["default"].in_flight == 0


async def test_prune_deletes_old_finished_runs_and_their_records(store: Store) -> None:
    old, _ = await store.create_run(new_run())
    claimed = await claim_one(store)
    entry = JournalEntry("1", "step", "s", "completed", output="1")
    await store.save_progress(
        claimed.lease,
        Progress([entry], events=[("e", "1")], outcome=Outcome("complete", result="1")),
        TTL,
    )
    live, _ = await store.create_run(new_run())
    await store.send_signal(live, "go", "null")
    cutoff = time.time() + 1  # everything finished so far counts as old
    recent, _ = await store.create_run(new_run())
    assert await store.prune_runs(cutoff, batch=10) == 1
    assert await store.get_run(old) is None
    assert await store.get_journal(old) == [] and await store.list_events(old) == []
    assert await store.get_run(live) is not None and await store.get_run(recent) is not None
    assert await store.prune_runs(cutoff, batch=10) == 0


async def test_large_payloads_round_trip(store: Store) -> None:
    """Over the SQLite offload size (16 KiB by default) and PostgreSQL's TOAST threshold."""
    big = json.dumps({"text": "z" * 200_000})
    run_id, _ = await store.create_run(new_run(input=big))
    claimed = await claim_one(store)
    assert claimed.run.input == big
    child = new_run(parent_id=run_id, parent_seq="1", input=big)
    entry = JournalEntry("1", "child", "wf", "waiting", child_id=child.id)
    await store.save_progress(claimed.lease, Progress([entry], children=[child]), TTL)
    await store.save_progress(claimed.lease, Progress(outcome=Outcome("complete", result=big)), TTL)
    record = await store.get_run(run_id)
    assert record is not None and (record.input, record.result) == (big, big)
    kid = await store.get_run(child.id)
    assert kid is not None and kid.input == big


async def test_sessions_hold_ordered_messages_state_and_metadata(store: Store) -> None:
    created = await store.ensure_session("acme", "chat-1", '{"user": "ann"}')
    assert (created.metadata, created.state, created.last_seq) == ('{"user": "ann"}', "{}", 0)
    again = await store.ensure_session("acme", "chat-1")  # no metadata: leaves it alone
    assert again.metadata == '{"user": "ann"}'
    assert await store.append_messages("acme", "chat-1", ['"a"', '"b"']) == 2
    last = await store.append_messages("acme", "chat-1", ['"c"'], run_id="r1", source="5")
    assert last == 3
    # The same write retried (same run and source) adds nothing.
    await store.append_messages("acme", "chat-1", ['"c"'], run_id="r1", source="5")
    messages = await store.session_messages("acme", "chat-1")
    assert [m.message for m in messages] == ['"a"', '"b"', '"c"']
    assert [m.message for m in await store.session_messages("acme", "chat-1", after=1)] == [
        '"b"',
        '"c"',
    ]
    assert await store.session_messages("other", "chat-1") == []  # tenants are apart
    updated = await store.update_session("acme", "chat-1", state='{"step": 2}', metadata=None)
    assert updated is not None and updated.state == '{"step": 2}'
    assert await store.update_session("acme", "nope", state="{}", metadata=None) is None
    await store.append_messages("acme", "chat-2", ['"x"'])  # created on first append
    listed = await store.list_sessions("acme")
    assert [s.id for s in listed] == ["chat-2", "chat-1"]
    assert [
        s.id for s in await store.list_sessions("acme", before=(listed[0].updated_at, "chat-2"))
    ] == ["chat-1"]
    assert await store.drop_run_messages("acme", "chat-1", "r1") == 1
    assert [m.message for m in await store.session_messages("acme", "chat-1")] == ['"a"', '"b"']
    assert await store.delete_session("acme", "chat-1")
    assert await store.get_session("acme", "chat-1") is None
    assert await store.session_messages("acme", "chat-1") == []
    run_id, _ = await store.create_run(new_run(tenant="acme", session="chat-2"))
    assert [r.id for r in await store.session_runs("acme", "chat-2")] == [run_id]


async def test_deleting_a_session_forgets_its_memories_but_not_the_tenants(store: Store) -> None:
    from bosun.records import NewMemory

    await store.ensure_session("acme", "s1")
    for memory_id, namespace in (("m1", "session:s1"), ("m2", "session:s2"), ("m3", "tenant")):
        await store.add_memory(
            NewMemory(memory_id, "acme", namespace, memory_id, "{}", [1.0, 0.0], "e")
        )
    assert await store.delete_session("acme", "s1")

    async def texts(namespace: str) -> list[str]:
        return [h.text for h in await store.search_memories("acme", namespace, [1.0, 0.0], 5)]

    assert await texts("session:s1") == []
    assert await texts("session:s2") == ["m2"]
    assert await texts("tenant") == ["m3"]
