"""Schedules: cron expressions in a time zone that start runs.

Declare one in code with `@app.workflow(schedule="*/5 * * * *", timezone="Europe/Paris")`
(upserted whenever a worker starts: code is the source of truth for these), or add one at run
time with `bosun schedules add` (kept in the database only).

Every worker runs a `Scheduler`. About once a second it reads the schedules whose next tick is
due, decides which ticks to start and which tick comes next, and hands that to
`Store.fire_schedule`: a compare-and-set on the schedule's `next_tick` and the inserts of the
runs, in one transaction. Each run's idempotency key is `schedule:<name>:<tick>` (the tick in
UTC, ISO 8601), so a tick starts exactly one run however many workers race for it.

Ticks missed while everything was down (or while no worker knew the workflow):

- `"skip"` (the default): start only the latest due tick, and only if it is at most
  `LATE_GRACE` seconds late; older ticks are dropped.
- `"catch_up"`: start the latest `max_catch_up` due ticks, oldest first; older ones are dropped.

Ticks that fall while a schedule is paused are never started.

A run's inputs are the schedule's `input` (named inputs; none for schedules declared in code)
and, if the workflow has a parameter named `scheduled_at`, the tick as an aware `datetime` in
the schedule's time zone. A workflow declared with a schedule must need no other input.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, get_args

from bosun import serde
from bosun.engine.definitions import WorkflowDef
from bosun.errors import ConfigurationError, InvalidSchedule, ScheduleNotFound, StoreError
from bosun.hosts import StoreHost, Workflows
from bosun.idempotency import schedule_key
from bosun.ids import check_identifier, new_id
from bosun.records import (
    Firing,
    MissedPolicy,
    NewRun,
    NewSchedule,
    ScheduleRecord,
    ScheduleSource,
)

if TYPE_CHECKING:
    from bosun.cron import Cron
    from bosun.store import ScheduleStore

log = logging.getLogger("bosun.schedules")


class ScheduledWorkflows(Workflows, Protocol):
    """The registered workflows, with the schedules declared on them."""

    @property
    def schedules(self) -> Mapping[str, Declared]: ...


class ScheduleHost(StoreHost, Protocol):
    """What a `Scheduler` needs of an App."""

    @property
    def registry(self) -> ScheduledWorkflows: ...


LATE_GRACE = 60.0
"""Seconds a tick may be late and still start under `missed="skip"`."""
DEFAULT_MAX_CATCH_UP = 3
"""Missed ticks started at most under `missed="catch_up"`, unless told otherwise."""
MISSED_POLICIES: tuple[MissedPolicy, ...] = get_args(MissedPolicy)
SCHEDULED_AT = "scheduled_at"


# -- declaring and validating -----------------------------------------------------------------


def parse_cron(expression: str, timezone: str) -> Cron:
    """`Cron(expression, timezone)`, imported when first needed: a worker of an app without
    schedules never parses one, and cronsim with zoneinfo costs a cold start 4 ms."""
    from bosun.cron import Cron

    return Cron(expression, timezone)


@dataclass(frozen=True)
class Declared:
    """A schedule declared with `@app.workflow(schedule=…)`; named after its workflow."""

    cron: Cron
    missed: MissedPolicy = "skip"
    max_catch_up: int = DEFAULT_MAX_CATCH_UP


def _check_policy(missed: str, max_catch_up: int) -> MissedPolicy:
    if missed not in MISSED_POLICIES:
        raise InvalidSchedule(
            f"missed-tick policy {missed!r}: choose one of {', '.join(MISSED_POLICIES)}"
        )
    if max_catch_up < 1:
        raise InvalidSchedule(f"max_catch_up must be at least 1, not {max_catch_up}")
    return missed


def declare(
    definition: WorkflowDef, expression: str, timezone: str, missed: str, max_catch_up: int
) -> Declared:
    """Validate the schedule options of `@app.workflow`; raise `InvalidSchedule`."""
    try:
        cron = parse_cron(expression, timezone)
        policy = _check_policy(missed, max_catch_up)
    except InvalidSchedule as exc:
        raise InvalidSchedule(f"workflow {definition.name!r}: {exc}") from None
    required = [
        p.name
        for p in definition.signature.parameters.values()
        if p.default is inspect.Parameter.empty and p.name != SCHEDULED_AT
    ]
    if required:
        raise InvalidSchedule(
            f"workflow {definition.name!r} has a schedule, so its runs start without inputs, "
            f"but it requires {', '.join(map(repr, required))}: give them defaults (a "
            f"parameter named {SCHEDULED_AT!r} receives the tick's time)"
        )
    return Declared(cron, policy, max_catch_up)


def new_schedule(
    name: str,
    *,
    workflow: str,
    cron: str,
    timezone: str = "UTC",
    input: Any = None,
    queue: str | None = None,
    missed: str = "skip",
    max_catch_up: int = DEFAULT_MAX_CATCH_UP,
    source: ScheduleSource = "cli",
    now: float | None = None,
) -> NewSchedule:
    """A validated schedule whose first tick is the first after `now`; `InvalidSchedule`.

    `input` is a dict of named workflow inputs (or JSON text of one).
    """
    if not name or name != name.strip() or any(c.isspace() for c in name) or len(name) > 200:
        raise InvalidSchedule(f"schedule name {name!r}: use 1 to 200 characters, no spaces")
    if not workflow:
        raise InvalidSchedule("a schedule needs a workflow name")
    parsed = parse_cron(cron, timezone)
    policy = _check_policy(missed, max_catch_up)
    try:
        data = serde.loads(input, "input") if isinstance(input, str) else input
        data = {} if data is None else data
        if queue:
            check_identifier(queue, "queue")
    except json.JSONDecodeError as exc:
        raise InvalidSchedule(f"schedule {name!r}: input is not valid JSON ({exc})") from None
    except ConfigurationError as exc:
        raise InvalidSchedule(f"schedule {name!r}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidSchedule(
            f"schedule {name!r}: input must be a JSON object of named inputs, "
            f"not {type(data).__name__}"
        )
    try:
        text = serde.dumps(data, f"schedule {name!r}", root="input")
    except ConfigurationError as exc:
        raise InvalidSchedule(str(exc)) from None
    return NewSchedule(
        name=name,
        workflow=workflow,
        cron=cron,
        timezone=timezone,
        input=text,
        queue=queue or None,
        missed=policy,
        max_catch_up=max_catch_up,
        next_tick=parsed.next_after(time.time() if now is None else now),
        source=source,
    )


# -- operations -------------------------------------------------------------------------------


async def resume_schedule(
    store: ScheduleStore, name: str, now: float | None = None
) -> ScheduleRecord:
    """Resume a paused schedule from its first tick after `now` (ticks missed while it was
    paused are not started). A schedule that is not paused is left as it is."""
    record = await store.get_schedule(name)
    if record is None:
        raise ScheduleNotFound(f"no schedule named {name!r}")
    if not record.paused:
        return record
    cron = parse_cron(record.cron, record.timezone)
    next_tick = cron.next_after(time.time() if now is None else now)
    return await store.set_schedule_paused(name, False, next_tick)


def run_key(name: str, tick: int) -> str:
    """The idempotency key of the run a schedule starts for `tick` (see `bosun.idempotency`)."""
    return schedule_key(name, iso(tick))


def iso(tick: float) -> str:
    """A UNIX time as UTC ISO 8601 with a Z."""
    return datetime.fromtimestamp(tick, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def due_ticks(
    cron: Cron, next_tick: int, now: float, missed: MissedPolicy, max_catch_up: int
) -> list[int]:
    """The ticks in [next_tick, now] to start under the missed-tick policy, oldest first.

    The stored `next_tick` counts as a tick even if the expression no longer matches it
    (time zone rules can change under a schedule).
    """
    limit = max_catch_up if missed == "catch_up" else 1
    ticks = cron.ticks_between(next_tick + 1, now, limit)
    if len(ticks) < limit and next_tick <= now:
        ticks.insert(0, next_tick)
    if missed == "skip":
        ticks = [t for t in ticks if now - t <= LATE_GRACE]
    return ticks


# -- the scheduler ----------------------------------------------------------------------------


class Scheduler:
    """Starts the runs of an App's due schedules. Any number may share one database.

    Args:
        app: the App whose workflows (and declared schedules) this scheduler serves; a
            schedule of a workflow the App does not know is left to a worker that knows it.
        interval: seconds between passes.
        batch: schedules handled per pass at most.
    """

    def __init__(self, app: ScheduleHost, *, interval: float = 1.0, batch: int = 100) -> None:
        self.app = app
        self.interval = interval
        self.batch = batch
        self._declared = False
        self._broken: set[tuple[str, str, str]] = set()

    async def declare(self, now: float | None = None) -> None:
        """Upsert the App's declared schedules; drop those its workflows no longer declare."""
        now = time.time() if now is None else now
        registry = self.app.registry
        schedules = [
            NewSchedule(
                name=workflow,
                workflow=workflow,
                cron=d.cron.expression,
                timezone=d.cron.timezone,
                input="{}",
                queue=None,
                missed=d.missed,
                max_catch_up=d.max_catch_up,
                next_tick=d.cron.next_after(now),
                source="code",
            )
            for workflow, d in sorted(registry.schedules.items())
        ]
        await self.app.store.declare_schedules(sorted(registry.workflows), schedules)
        self._declared = True

    async def fire_due(self, now: float | None = None) -> list[str]:
        """Start the runs of every due schedule this App knows; return the new runs' ids."""
        now = time.time() if now is None else now
        workflows = sorted(self.app.registry.workflows)
        if not workflows:
            return []
        started: list[str] = []
        for record in await self.app.store.due_schedules(workflows, now, self.batch):
            planned = self.plan(record, now)
            if planned is None:
                continue
            firing, dropped = planned
            created = await self.app.store.fire_schedule(firing, now)
            if created is None:
                continue  # another scheduler handled this tick first
            if dropped:
                log.warning(
                    "schedule %s: ticks missed since %s were dropped (missed=%r, max_catch_up=%d)",
                    record.name,
                    iso(record.next_tick),
                    record.missed,
                    record.max_catch_up,
                )
            if created:
                log.info("schedule %s: started run(s) %s", record.name, ", ".join(created))
            started.extend(created)
        return started

    async def tick(self, now: float | None = None) -> list[str]:
        """One pass: declare the App's schedules (until that succeeds once), then fire the
        due ones. Store errors are logged, not raised: the next pass tries again."""
        try:
            if not self._declared:
                await self.declare(now)
            return await self.fire_due(now)
        except StoreError as exc:
            log.warning("scheduler pass failed, retrying: %s", exc)
            return []

    async def run(self) -> None:
        """Pass every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except Exception:  # a bad schedule must not stop the others for good
                log.exception("scheduler pass failed")

    def plan(self, record: ScheduleRecord, now: float) -> tuple[Firing, bool] | None:
        """Which ticks of a due schedule to start and its next tick, and whether the
        missed-tick policy dropped some; None if this worker cannot read the schedule."""
        try:
            cron = parse_cron(record.cron, record.timezone)
        except InvalidSchedule as exc:  # e.g. a time zone this machine's tz database lacks
            key = (record.name, record.cron, record.timezone)
            if key not in self._broken:
                self._broken.add(key)
                log.error("schedule %s cannot be fired by this worker: %s", record.name, exc)
            return None
        ticks = due_ticks(cron, record.next_tick, now, record.missed, record.max_catch_up)
        definition = self.app.registry.workflow(record.workflow)
        error = None
        try:
            runs = [self._new_run(record, definition, cron, tick) for tick in ticks]
        except ConfigurationError as exc:
            runs, error = [], f"{type(exc).__name__}: {exc}"
            log.error("schedule %s: no run started: %s", record.name, exc)
        firing = Firing(
            name=record.name,
            expected_tick=record.next_tick,
            next_tick=cron.next_after(now),
            runs=runs,
            last_tick=ticks[-1] if ticks else None,
            error=error,
        )
        return firing, not ticks or ticks[0] != record.next_tick

    @staticmethod
    def _new_run(record: ScheduleRecord, definition: WorkflowDef, cron: Cron, tick: int) -> NewRun:
        data = json.loads(record.input)
        if SCHEDULED_AT in definition.param_hints:
            data = {**data, SCHEDULED_AT: cron.local(tick)}
        return NewRun(
            id=new_id(),
            workflow=definition.name,
            queue=record.queue or definition.queue,
            input=definition.encode_json_input(data),
            idempotency_key=run_key(record.name, tick),
        )
