"""Idempotency keys on both stores: submitters, event triggers and schedules each keep to their
own namespace, tenants to theirs, a key never finds another workflow's run, and keys stored
before the namespaces existed keep finding their runs after the migration."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

import bosun
from bosun.idempotency import event_key, schedule_key, shown_key, user_key
from bosun.records import RunFilter
from bosun.schedules import Scheduler, new_schedule, run_key
from bosun.store.sqlfiles import Migration, load_migrations
from bosun.wire import run_view

pytestmark = pytest.mark.timeout(60)

T0 = int(datetime(2024, 1, 1, 10, 0, tzinfo=UTC).timestamp())


def build_app(url: str) -> bosun.App:
    app = bosun.App("keys", database=url)

    @app.workflow(name="on_mail", on_event="email.received")
    async def on_mail(ctx: bosun.Context, email: Any) -> Any:
        return email

    @app.workflow(name="on_order", on_event=["order", "order:paid"])
    async def on_order(ctx: bosun.Context, order: Any) -> Any:
        return order

    @app.workflow(name="refund")
    async def refund(ctx: bosun.Context, order: str = "") -> str:
        return order

    @app.workflow(name="charge")
    async def charge(ctx: bosun.Context, order: str = "") -> str:
        return order

    @app.workflow(name="report")
    async def report(ctx: bosun.Context) -> None:
        return None

    return app


@pytest.fixture
async def app(any_db_url: str) -> AsyncIterator[bosun.App]:
    app = build_app(any_db_url)
    await app.open()
    yield app
    await app.close()


async def test_a_submitted_key_cannot_take_an_events_run(app: bosun.App) -> None:
    squatter = await app.start("refund", idempotency_key="event:email.received:E-2:on_mail")
    started = await app.trigger("email.received", {"subject": "hi"}, event_id="E-2")
    [(workflow, handle, created)] = started
    assert (workflow, created) == ("on_mail", True)
    assert handle.run_id != squatter.run_id
    # Posting the event again finds the event's run, not the submitted one.
    [(_, again, created_again)] = await app.trigger("email.received", {}, event_id="E-2")
    assert (again.run_id, created_again) == (handle.run_id, False)


async def test_a_submitted_key_cannot_take_a_schedules_tick(app: bosun.App) -> None:
    squatter = await app.start("refund", idempotency_key=run_key("nightly", T0))
    await app.store.add_schedule(
        new_schedule("nightly", workflow="report", cron="0 10 * * *", now=T0 - 1)
    )
    [fired] = await Scheduler(app).fire_due(now=T0)
    assert fired != squatter.run_id
    record = await app.store.get_run(fired)
    assert record is not None and record.workflow == "report"


async def test_event_names_and_ids_with_colons_do_not_collide(app: bosun.App) -> None:
    [(_, first, created)] = await app.trigger("order", {"n": 1}, event_id="paid:1")
    [(_, second, created_too)] = await app.trigger("order:paid", {"n": 2}, event_id="1")
    assert created and created_too
    assert first.run_id != second.run_id


async def test_a_key_used_for_another_workflow_is_refused(app: bosun.App) -> None:
    first = await app.start("refund", "A-17", idempotency_key="order-A-17")
    with pytest.raises(bosun.IdempotencyConflict) as refused:
        await app.start("charge", "A-17", idempotency_key="order-A-17")
    message = str(refused.value)
    assert "'order-A-17'" in message and "'refund'" in message and first.run_id in message
    again = await app.start("refund", "A-17", idempotency_key="order-A-17")
    assert (again.run_id, again.created) == (first.run_id, False)
    record = await app.store.get_run(first.run_id)
    assert record is not None and run_view(record)["idempotency_key"] == "order-A-17"


async def test_a_key_used_with_other_input_is_refused(app: bosun.App) -> None:
    first = await app.start("refund", "A-17", idempotency_key="refund-1")
    with pytest.raises(bosun.IdempotencyConflict) as refused:
        await app.start("refund", "B-99", idempotency_key="refund-1")
    message = str(refused.value)
    assert "'refund-1'" in message and "other input" in message and first.run_id in message
    again = await app.start("refund", "A-17", idempotency_key="refund-1")  # a true retry
    assert (again.run_id, again.created) == (first.run_id, False)
    runs = await app.store.list_runs(RunFilter())
    assert [r.id for r in runs] == [first.run_id]  # nothing was started for the refused one


async def test_an_events_redelivery_with_other_data_keeps_its_first_run(app: bosun.App) -> None:
    [(_, first, created)] = await app.trigger("email.received", {"n": 1}, event_id="E-9")
    [(_, again, created_again)] = await app.trigger("email.received", {"n": 2}, event_id="E-9")
    assert created and not created_again and again.run_id == first.run_id


async def test_tenants_keys_never_meet(app: bosun.App) -> None:
    a = await app.start("refund", idempotency_key="k", tenant="a")
    b = await app.start("refund", idempotency_key="k", tenant="b")
    default = await app.start("refund", idempotency_key="k")
    # A tenant name with the separator in it is escaped, not confused with a longer key.
    colon = await app.start("refund", idempotency_key="c", tenant="a:b")
    longer = await app.start("refund", idempotency_key="b:c", tenant="a")
    ids = [h.run_id for h in (a, b, default, colon, longer)]
    assert len(set(ids)) == 5 and all(h.created for h in (a, b, default, colon, longer))
    [(_, event_a, _)] = await app.trigger("email.received", {}, event_id="E-1", tenant="a")
    [(_, event_b, created)] = await app.trigger("email.received", {}, event_id="E-1", tenant="b")
    assert created and event_a.run_id != event_b.run_id


# -- keys stored before the namespaces ----------------------------------------------------------

OLD_KEYS = {
    # run id: (tenant, workflow, key as stored before)
    "r-user": ("default", "refund", "order-42"),
    "r-user-acme": ("acme", "refund", "acme\x1forder-42"),
    "r-event": ("default", "on_mail", "event:email.received:E-1:on_mail"),
    "r-event-acme": ("acme", "on_mail", "acme\x1fevent:email.received:E-1:on_mail"),
    "r-event-colons": ("default", "on_mail", "event:email.received:id:with:colons:on_mail"),
    "r-schedule": ("default", "report", "schedule:nightly:2024-03-31T01:00:00Z"),
    "r-schedule-odd": ("default", "report", "schedule:a:b%c:2024-03-31T01:00:00Z"),
    # A submitted key of the new shape, and the key it becomes: rewritten in place, the
    # unique index would refuse one of them.
    "r-looks-new": ("default", "refund", "user:default:x"),
    "r-x": ("default", "refund", "x"),
    # Looks like an event's key, but not for its own workflow: a submitter's.
    "r-fake-event": ("default", "refund", "event:email.received:E-9:on_mail"),
}
NEW_KEYS = {
    "r-user": user_key("default", "order-42"),
    "r-user-acme": user_key("acme", "order-42"),
    "r-event": event_key("default", "email.received", "on_mail", "E-1"),
    "r-event-acme": event_key("acme", "email.received", "on_mail", "E-1"),
    "r-event-colons": event_key("default", "email.received", "on_mail", "id:with:colons"),
    "r-schedule": schedule_key("nightly", "2024-03-31T01:00:00Z"),
    "r-schedule-odd": schedule_key("a:b%c", "2024-03-31T01:00:00Z"),
    "r-looks-new": user_key("default", "user:default:x"),
    "r-x": user_key("default", "x"),
    "r-fake-event": user_key("default", "event:email.received:E-9:on_mail"),
}


def _before_mine(dialect: str) -> list[Migration]:
    """The dialect's migrations up to the one that gave keys their namespaces."""
    migrations = load_migrations(dialect)
    index = next(i for i, m in enumerate(migrations) if m.name == "idempotency_scopes")
    return migrations[:index]


def _old_sqlite(url: str) -> None:
    import bosun.store.sqlite.io as io

    path = url.removeprefix("sqlite:///")
    conn = io.connect(io.SqliteConfig(path))
    io.migrate(conn, _before_mine("sqlite"), path)
    rows = [
        (rid, wf, key, tenant, time.time(), time.time())
        for rid, (tenant, wf, key) in OLD_KEYS.items()
    ]
    conn.executemany(
        "INSERT INTO runs (id, workflow, queue, status, input, idempotency_key, tenant, "
        "created_at, updated_at) VALUES (?, ?, 'default', 'completed', '{}', ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.close()


def _old_postgresql(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA bosun CASCADE")
        with conn.transaction():
            conn.execute("CREATE SCHEMA bosun")
            conn.execute("SET LOCAL search_path TO bosun")
            conn.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at double precision NOT NULL)"
            )
            for migration in _before_mine("postgresql"):
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                    (migration.version, migration.name, time.time()),
                )
            for rid, (tenant, wf, key) in OLD_KEYS.items():
                conn.execute(
                    "INSERT INTO runs (id, workflow, queue, status, input, idempotency_key, "
                    "tenant, created_at, updated_at) "
                    "VALUES (%s, %s, 'default', 'completed', '{}', %s, %s, %s, %s)",
                    (rid, wf, key, tenant, time.time(), time.time()),
                )


async def test_keys_stored_before_the_namespaces_keep_finding_their_runs(any_db_url: str) -> None:
    if any_db_url.startswith("sqlite"):
        _old_sqlite(any_db_url)
    else:
        _old_postgresql(any_db_url)
    app = build_app(any_db_url)
    await app.open()  # applies the rest of the migrations
    try:
        for rid, key in NEW_KEYS.items():
            record = await app.store.get_run(rid)
            assert record is not None and record.idempotency_key == key, rid

        async def found(handle: bosun.RunHandle[Any]) -> tuple[str, bool]:
            return handle.run_id, handle.created

        assert await found(await app.start("refund", idempotency_key="order-42")) == (
            "r-user",
            False,
        )
        assert await found(
            await app.start("refund", idempotency_key="order-42", tenant="acme")
        ) == ("r-user-acme", False)
        assert await found(await app.start("refund", idempotency_key="x")) == ("r-x", False)
        for tenant, event_id, rid in [
            ("default", "E-1", "r-event"),
            ("acme", "E-1", "r-event-acme"),
            ("default", "id:with:colons", "r-event-colons"),
        ]:
            [(_, handle, created)] = await app.trigger(
                "email.received", {}, event_id=event_id, tenant=tenant
            )
            assert (handle.run_id, created) == (rid, False)
        # The event that a submitted key squatted on starts its workflow now.
        [(_, handle, created)] = await app.trigger("email.received", {}, event_id="E-9")
        assert created and handle.run_id != "r-fake-event"
        tick = int(datetime(2024, 3, 31, 1, 0, tzinfo=UTC).timestamp())
        assert run_key("nightly", tick) == NEW_KEYS["r-schedule"]
        record = await app.store.get_run("r-user-acme")
        assert record is not None and shown_key(record.idempotency_key) == "order-42"
    finally:
        await app.close()
