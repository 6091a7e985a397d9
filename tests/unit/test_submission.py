"""Submitting runs: one typed options object behind `App.start`'s and `App.start_json`'s
keywords, and the `Submitter` service, driven here without an App or a database (it takes
only a store host, the workflows, the queue limits, the local workers and an observer)."""

from __future__ import annotations

import dataclasses
import inspect
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import bosun
from bosun.engine.definitions import WorkflowDef
from bosun.errors import ConfigurationError, SessionBusy
from bosun.records import ClaimedRun, Lease, NewRun, RunRecord
from bosun.submission import (
    MAX_DEADLINE,
    SubmitKeywords,
    SubmitOptions,
    Submitter,
    deadline_at,
    same_json,
)
from bosun.wire import KEY_SEPARATOR

KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY


def test_options_are_keyword_only_and_frozen() -> None:
    options = SubmitOptions(tenant="acme", session="chat")
    assert (options.priority, options.double_texting, options.queue) == (0, "enqueue", None)
    with pytest.raises(TypeError):
        SubmitOptions("key")  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.tenant = "globex"  # type: ignore[misc]


def test_start_and_start_json_take_the_options_as_keywords() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(SubmitOptions)}
    assert set(SubmitKeywords.__annotations__) == set(fields)
    start = inspect.signature(bosun.App.start).parameters.values()
    keywords = {p.name: p.default for p in start if p.kind is KEYWORD_ONLY}
    # `start` continues the caller's current span instead of taking a traceparent.
    assert keywords == {name: v for name, v in fields.items() if name != "traceparent"}


def test_a_deadline_is_a_time_within_ten_years() -> None:
    assert deadline_at(None) is None
    soon = deadline_at(60)
    assert soon is not None and 50 < soon - time.time() <= 60
    later = deadline_at(timedelta(hours=1))
    assert later is not None and 3590 < later - time.time() <= 3600
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert deadline_at(tomorrow) == tomorrow.timestamp()
    for bad in (float("nan"), float("inf"), MAX_DEADLINE + timedelta(days=1)):
        with pytest.raises(ConfigurationError, match="is not a time within 3660 days"):
            deadline_at(bad)


# -- the Submitter, with fakes ----------------------------------------------------------------


class FakeStore:
    """The few store operations a submission uses, in memory."""

    def __init__(self) -> None:
        self.runs: dict[str, NewRun] = {}
        self.sessions: set[tuple[str, str]] = set()
        self.claimed: list[tuple[str, str]] = []

    async def create_run(self, run: NewRun) -> tuple[str, bool]:
        for existing in self.runs.values():
            if run.idempotency_key and existing.idempotency_key == run.idempotency_key:
                return existing.id, False
        self.runs[run.id] = run
        return run.id, True

    async def create_claimed_run(
        self, run: NewRun, owner: str, lease_ttl: float, *, version: str | None = None
    ) -> ClaimedRun | None:
        self.runs[run.id] = run
        self.claimed.append((run.id, owner))
        lease = Lease(run.id, owner, "token", 0)
        return ClaimedRun(run=_record(run), lease=lease, journal={}, signals=[])

    async def get_run(self, run_id: str) -> RunRecord | None:
        run = self.runs.get(run_id)
        return None if run is None else _record(run)

    async def ensure_session(self, tenant: str, session: str) -> None:
        self.sessions.add((tenant, session))

    async def session_runs(self, tenant: str, session: str) -> list[RunRecord]:
        return [
            _record(r) for r in self.runs.values() if (r.tenant, r.session) == (tenant, session)
        ]


def _record(run: NewRun) -> RunRecord:
    return RunRecord(
        id=run.id,
        workflow=run.workflow,
        queue=run.queue,
        status="queued",
        input=run.input,
        result=None,
        error=None,
        priority=run.priority,
        idempotency_key=run.idempotency_key,
        parent_id=None,
        parent_seq=None,
        deadline=run.deadline,
        ready_at=None,
        lease_owner=None,
        lease_expires_at=None,
        attempts=0,
        created_at=0.0,
        updated_at=0.0,
        finished_at=None,
        tenant=run.tenant,
        session=run.session,
    )


class FakeDatabase:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.opened = 0

    async def open(self) -> None:
        self.opened += 1


class FakeObserver:
    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submission_traceparent(self, given: str | None) -> str | None:
        return given

    def run_submitted(self, workflow: str) -> None:
        self.submitted.append(workflow)

    def run_cancelled(self, run: RunRecord) -> None:
        raise AssertionError("nothing is cancelled here")


class FakeWorker:
    owner, lease_ttl, version = "here:1", 30.0, "v1"

    def __init__(self) -> None:
        self.adopted: list[ClaimedRun | None] = []

    def reserve_slot(self, queue: str) -> bool:
        return queue == "default"

    def adopt(self, claimed: ClaimedRun | None) -> None:
        self.adopted.append(claimed)


@dataclasses.dataclass
class World:
    submitter: Submitter
    database: FakeDatabase
    observer: FakeObserver
    definition: WorkflowDef
    queue_limits: dict[str, int]
    workers: list[FakeWorker]


@pytest.fixture
def world() -> World:
    app = bosun.App("t", database="sqlite:////nonexistent/never-opened.db")

    @app.workflow(name="greet")
    async def greet(ctx: bosun.Context, name: str = "world") -> str:
        return name

    database, observer = FakeDatabase(), FakeObserver()
    queue_limits: dict[str, int] = {}
    workers: list[FakeWorker] = []
    submitter = Submitter(
        database,  # type: ignore[arg-type]
        app.registry,
        queue_limits=queue_limits,
        local_workers=workers,
        observer=lambda: observer,
        max_payload_bytes=1000,
    )
    definition = app.registry.workflow("greet")
    return World(submitter, database, observer, definition, queue_limits, workers)


def _payload(definition: WorkflowDef, **inputs: Any) -> str:
    return definition.encode_input((), inputs)


async def test_the_options_make_the_new_run(world: World) -> None:
    options = SubmitOptions(
        idempotency_key="k-1",
        queue="batch",
        priority=5,
        deadline=60,
        tenant="acme",
        session="chat",
        webhook="https://hooks.example.com/done",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    submitted = await world.submitter.submit(world.definition, _payload(world.definition), options)
    assert submitted.created and submitted.workflow == "greet"
    run = world.database.store.runs[submitted.run_id]
    assert (run.queue, run.priority, run.tenant, run.session) == ("batch", 5, "acme", "chat")
    assert run.idempotency_key == "user:acme:k-1"
    assert run.concurrency_key == f"session:acme{KEY_SEPARATOR}chat" and run.concurrency_limit == 1
    assert run.deadline is not None and run.deadline > time.time()
    assert run.webhook_url == options.webhook and run.traceparent == options.traceparent
    assert world.database.store.sessions == {("acme", "chat")}
    assert world.observer.submitted == ["greet"]


async def test_a_key_used_before_returns_its_run(world: World) -> None:
    options = SubmitOptions(idempotency_key="same", tenant="acme")
    first = await world.submitter.submit(world.definition, _payload(world.definition), options)
    again = await world.submitter.submit(world.definition, _payload(world.definition), options)
    assert (again.run_id, again.created) == (first.run_id, False)
    assert world.observer.submitted == ["greet"]  # a resubmission is not counted


async def test_double_texting_policies_are_checked(world: World) -> None:
    payload = _payload(world.definition)
    bad = SubmitOptions(session="chat", double_texting="later")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="double_texting must be one of reject, "):
        await world.submitter.submit(world.definition, payload, bad)
    await world.submitter.submit(world.definition, payload, SubmitOptions(session="chat"))
    busy = SubmitOptions(session="chat", double_texting="reject")
    with pytest.raises(SessionBusy, match="session 'chat' has an unfinished run"):
        await world.submitter.submit(world.definition, payload, busy)


async def test_a_free_local_worker_takes_the_run_unless_its_queue_is_limited(
    world: World,
) -> None:
    worker = FakeWorker()
    world.workers.append(worker)
    payload = _payload(world.definition)
    direct = await world.submitter.submit(world.definition, payload, SubmitOptions())
    assert world.database.store.claimed == [(direct.run_id, "here:1")]
    assert len(worker.adopted) == 1
    world.queue_limits["default"] = 2
    queued = await world.submitter.submit(world.definition, payload, SubmitOptions())
    assert queued.created and world.database.store.claimed == [(direct.run_id, "here:1")]


async def test_inputs_over_the_limit_are_refused_before_the_store_is_opened(
    world: World,
) -> None:
    payload = _payload(world.definition, name="x" * 2000)
    with pytest.raises(bosun.PayloadTooLarge):
        await world.submitter.submit(world.definition, payload, SubmitOptions())
    assert world.database.opened == 0


def test_inputs_are_the_same_whatever_their_objects_key_order() -> None:
    assert same_json('{"a": 1, "b": [1, 2]}', '{"b": [1, 2], "a": 1}')
    assert not same_json('{"a": 1}', '{"a": 2}')
    assert not same_json('{"a": [1, 2]}', '{"a": [2, 1]}')  # lists keep their order
    assert not same_json("not json", '{"a": 1}')
    assert not same_json('{"a": true}', '{"a": 1}')  # Python's True == 1; JSON's are not
    assert not same_json('{"a": [false]}', '{"a": [0]}')
    assert not same_json('{"a": {"b": 1}}', '{"a": [["b", 1]]}')
    assert same_json('{"a": [1.0, {"b": null}]}', '{"a": [1, {"b": null}]}')  # one number
