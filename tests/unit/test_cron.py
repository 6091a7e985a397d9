"""Cron expressions in time zones, across daylight-saving changes, and the missed-tick policy."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bosun.cron import Cron
from bosun.engine.definitions import WorkflowDef
from bosun.errors import ConfigurationError, InvalidSchedule
from bosun.schedules import LATE_GRACE, declare, due_ticks, new_schedule, run_key

pytestmark = pytest.mark.timeout(30)


def at(tz: str, *fields: int, fold: int = 0) -> float:
    return datetime(*fields, tzinfo=ZoneInfo(tz), fold=fold).timestamp()  # type: ignore[misc]


def local(cron: Cron, ticks: list[int]) -> list[str]:
    return [cron.local(t).isoformat() for t in ticks]


def forward(cron: Cron, after: float, count: int) -> list[int]:
    ticks: list[int] = []
    for _ in range(count):
        after = cron.next_after(after)
        ticks.append(int(after))
    return ticks


def test_next_tick_in_utc_and_in_a_time_zone() -> None:
    every5 = Cron("*/5 * * * *")
    start = at("UTC", 2024, 1, 1, 10, 2, 30)
    assert local(every5, forward(every5, start, 2)) == [
        "2024-01-01T10:05:00+00:00",
        "2024-01-01T10:10:00+00:00",
    ]
    assert every5.next_after(at("UTC", 2024, 1, 1, 10, 5)) == at("UTC", 2024, 1, 1, 10, 10)
    nine = Cron("0 9 * * MON-FRI", "America/New_York")
    friday_evening = at("America/New_York", 2024, 1, 5, 18)
    assert local(nine, forward(nine, friday_evening, 2)) == [
        "2024-01-08T09:00:00-05:00",
        "2024-01-09T09:00:00-05:00",
    ]
    assert Cron("@daily", "Asia/Tokyo").next_after(start) == at("Asia/Tokyo", 2024, 1, 2)


def test_fixed_time_in_the_skipped_hour_runs_once_when_the_clock_jumps() -> None:
    # Paris, 2024-03-31: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that night.
    cron = Cron("30 2 * * *", "Europe/Paris")
    assert local(cron, forward(cron, at("Europe/Paris", 2024, 3, 30, 12), 2)) == [
        "2024-03-31T03:00:00+02:00",
        "2024-04-01T02:30:00+02:00",
    ]


def test_fixed_time_in_the_repeated_hour_runs_once() -> None:
    # Paris, 2024-10-27: 03:00 CEST becomes 02:00 CET; 02:30 happens twice, the job once.
    cron = Cron("30 2 * * *", "Europe/Paris")
    ticks = forward(cron, at("Europe/Paris", 2024, 10, 26, 12), 2)
    assert local(cron, ticks) == ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"]
    # Asked from inside the second 02:xx, the first 02:45 is in the past: tomorrow's is next.
    second_pass = at("Europe/Paris", 2024, 10, 27, 2, 30, fold=1)
    assert cron.local(Cron("45 2 * * *", "Europe/Paris").next_after(second_pass)).isoformat() == (
        "2024-10-28T02:45:00+01:00"
    )


def test_wildcard_hours_follow_the_clock_on_both_sides_of_a_change() -> None:
    cron = Cron("*/30 * * * *", "Europe/Paris")
    spring = forward(cron, at("Europe/Paris", 2024, 3, 31, 1, 15), 3)
    assert local(cron, spring) == [
        "2024-03-31T01:30:00+01:00",
        "2024-03-31T03:00:00+02:00",
        "2024-03-31T03:30:00+02:00",
    ]
    autumn = forward(cron, at("Europe/Paris", 2024, 10, 27, 1, 45), 4)
    assert local(cron, autumn) == [
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:30:00+02:00",
        "2024-10-27T02:00:00+01:00",
        "2024-10-27T02:30:00+01:00",
    ]
    assert all(b - a == 1800 for a, b in itertools.pairwise(autumn))


@pytest.mark.parametrize(
    ("expression", "tz", "start"),
    [
        ("30 2 * * *", "Europe/Paris", (2024, 3, 25)),
        ("30 2 * * *", "Europe/Paris", (2024, 10, 21)),
        ("*/20 * * * *", "Europe/Paris", (2024, 10, 26, 20)),
        ("0 1-3 * * *", "America/New_York", (2024, 11, 1)),
        ("15 2 * * SUN", "America/New_York", (2024, 3, 1)),
        ("0,30 * * * *", "Australia/Lord_Howe", (2024, 4, 6, 20)),  # a 30-minute DST shift
        ("@hourly", "UTC", (2024, 2, 28)),
    ],
)
def test_walking_back_finds_the_ticks_walking_forward_finds(
    expression: str, tz: str, start: tuple[int, ...]
) -> None:
    cron = Cron(expression, tz)
    ticks = forward(cron, at(tz, *start) - 1, 40)
    assert ticks == sorted(set(ticks))
    assert cron.ticks_between(ticks[0], ticks[-1], 40) == ticks
    assert cron.ticks_between(ticks[0], ticks[-1] + 0.5, 5) == ticks[-5:]
    assert cron.ticks_between(ticks[3] + 1, ticks[9] - 1, 40) == ticks[4:9]


@pytest.mark.parametrize(
    ("expression", "tz", "message"),
    [
        ("61 * * * *", "UTC", "Bad minute"),
        ("* * * *", "UTC", "needs 5 fields"),
        ("0 0 * * * *", "UTC", "needs 5 fields"),
        ("@fortnightly", "UTC", "needs 5 fields"),
        ("0 0 30 2 *", "UTC", "Bad day-of-month"),
        ("* * * * *", "Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
        ("* * * * *", "../etc/passwd", "unknown time zone"),
    ],
)
def test_bad_expressions_and_zones_say_what_is_wrong(
    expression: str, tz: str, message: str
) -> None:
    with pytest.raises(InvalidSchedule, match=message):
        Cron(expression, tz)
    assert issubclass(InvalidSchedule, ConfigurationError)


def test_skip_starts_only_a_latest_tick_that_is_barely_late() -> None:
    cron = Cron("*/5 * * * *")
    first = int(at("UTC", 2024, 1, 1, 10))
    hour_later = first + 3600
    assert due_ticks(cron, first, hour_later + 10, "skip", 3) == [hour_later]
    assert due_ticks(cron, first, hour_later + LATE_GRACE + 1, "skip", 3) == []
    assert due_ticks(cron, first, first, "skip", 3) == [first]


def test_the_stored_next_tick_counts_even_off_the_expression() -> None:
    cron = Cron("0 * * * *")
    odd = int(at("UTC", 2024, 1, 1, 10, 17))  # e.g. the zone's rules changed under it
    assert due_ticks(cron, odd, odd + 5, "skip", 3) == [odd]
    assert due_ticks(cron, odd, odd + 3600, "catch_up", 3) == [odd, odd + 43 * 60]
    assert due_ticks(cron, odd, odd + 3600, "catch_up", 1) == [odd + 43 * 60]


def test_catch_up_starts_the_latest_ticks_up_to_the_bound() -> None:
    cron = Cron("*/5 * * * *")
    first = int(at("UTC", 2024, 1, 1, 10))
    later = first + 3600 + 299
    assert due_ticks(cron, first, later, "catch_up", 3) == [
        first + 3000,
        first + 3300,
        first + 3600,
    ]
    assert due_ticks(cron, first, first + 600, "catch_up", 10) == [first, first + 300, first + 600]


async def _nightly(ctx: object, scheduled_at: datetime, topic: str = "news") -> None: ...
async def _needs_input(ctx: object, order_id: str) -> None: ...


def test_declared_workflows_must_start_without_inputs() -> None:
    ok = WorkflowDef.build(_nightly, "nightly", "default")
    declared = declare(ok, "0 3 * * *", "Europe/Paris", "catch_up", 5)
    assert (declared.cron.fields, declared.missed, declared.max_catch_up) == (
        "0 3 * * *",
        "catch_up",
        5,
    )
    needy = WorkflowDef.build(_needs_input, "needy", "default")
    with pytest.raises(InvalidSchedule, match="requires 'order_id': give them defaults"):
        declare(needy, "0 3 * * *", "UTC", "skip", 3)
    with pytest.raises(InvalidSchedule, match="workflow 'nightly': bad cron"):
        declare(ok, "0 25 * * *", "UTC", "skip", 3)
    with pytest.raises(InvalidSchedule, match="choose one of skip, catch_up"):
        declare(ok, "0 3 * * *", "UTC", "sometimes", 3)
    with pytest.raises(InvalidSchedule, match="at least 1"):
        declare(ok, "0 3 * * *", "UTC", "catch_up", 0)


def test_new_schedule_validates_and_computes_the_first_tick() -> None:
    now = at("UTC", 2024, 1, 1, 10, 2)
    schedule = new_schedule(
        "reports", workflow="report", cron="*/5 * * * *", input={"topic": "x"}, now=now
    )
    assert schedule.next_tick == at("UTC", 2024, 1, 1, 10, 5)
    assert (schedule.input, schedule.source, schedule.queue) == ('{"topic":"x"}', "cli", None)
    for bad_name in ("", "two words", " padded", "x" * 201):
        with pytest.raises(InvalidSchedule, match="schedule name"):
            new_schedule(bad_name, workflow="report", cron="* * * * *")
    with pytest.raises(InvalidSchedule, match="JSON object"):
        new_schedule("r", workflow="report", cron="* * * * *", input=[1, 2])
    with pytest.raises(InvalidSchedule, match="not valid JSON"):
        new_schedule("r", workflow="report", cron="* * * * *", input="{nope")


def test_run_keys_name_the_schedule_and_the_tick_in_utc() -> None:
    tick = int(datetime(2024, 3, 31, 1, 0, tzinfo=UTC).timestamp())
    assert run_key("nightly", tick) == "schedule:nightly:2024-03-31T01:00:00Z"
