"""The local autoscaler's decisions (pure functions) and the drain mode's grace period."""

from __future__ import annotations

import pytest

from bosun.errors import ConfigurationError
from bosun.records import QueueStats
from bosun.worker.autoscale import worker_command
from bosun.worker.scaling import (
    RESTART_BACKOFF_MAX,
    Load,
    ScalePolicy,
    ScaleState,
    desired_workers,
    next_state,
    restart_delay,
)
from bosun.worker.timebox import (
    HANDBACK_WAIT,
    MIN_CLOSING_WAIT,
    closing_wait,
    drain_grace,
    drain_wait,
    worker_grace,
)
from bosun.worker.worker import WorkerOptions

POLICY = ScalePolicy(1, 8, concurrency=4, cooldown=10.0, scale_up_age=30.0)


@pytest.mark.parametrize(
    ("ready", "in_flight", "want"),
    [
        (0, 0, 1),  # idle: the minimum
        (1, 0, 1),
        (4, 0, 1),
        (5, 0, 2),  # ceil(5 / 4)
        (3, 6, 3),  # in-flight work counts: never scale in under running runs
        (0, 12, 3),
        (300, 0, 8),  # capped at the maximum
    ],
)
def test_desired_workers_is_the_load_over_concurrency_clamped(
    ready: int, in_flight: int, want: int
) -> None:
    assert desired_workers(POLICY, Load(ready, in_flight, 1.0), current=1) == want


def test_old_ready_work_adds_one_worker_to_the_current_size() -> None:
    waiting = Load(ready=2, in_flight=8, oldest_ready_age=31.0)  # 3 by count, but work waits
    assert desired_workers(POLICY, waiting, current=3) == 4
    assert desired_workers(POLICY, waiting, current=8) == 8  # not past the maximum
    fresh = Load(ready=2, in_flight=8, oldest_ready_age=29.0)
    assert desired_workers(POLICY, fresh, current=3) == 3


def test_minimum_zero_scales_to_zero_only_when_nothing_is_queued_or_running() -> None:
    policy = ScalePolicy(0, 4, concurrency=16)
    assert desired_workers(policy, Load(), current=2) == 0
    assert desired_workers(policy, Load(ready=1), current=0) == 1
    assert desired_workers(policy, Load(in_flight=1), current=1) == 1


def test_load_sums_the_served_queues_only() -> None:
    stats = [
        QueueStats("default", ready=3, in_flight=2, waiting=9, oldest_ready_age=4.0),
        QueueStats("gpu", ready=100, in_flight=7, waiting=0, oldest_ready_age=99.0),
        QueueStats("mail", ready=1, in_flight=0, waiting=0, oldest_ready_age=12.0),
        QueueStats("idle", ready=0, in_flight=1, waiting=0, oldest_ready_age=50.0),
    ]
    assert Load.of(stats, ["default", "mail", "idle"]) == Load(4, 3, 12.0, runnable=7)
    assert Load.of(stats, ["other"]) == Load(runnable=0)


def test_only_runs_flow_control_admits_call_for_workers() -> None:
    # A queue limited to 2 running runs, with 6 ready: 2 runs' worth of workers, not 6.
    limited = QueueStats("gpu", ready=6, in_flight=0, waiting=0, oldest_ready_age=90.0, runnable=2)
    load = Load.of([limited], ["gpu"])
    assert load == Load(6, 0, 90.0, runnable=2)
    one_each = ScalePolicy(0, 11, concurrency=1, scale_up_age=30.0)
    assert desired_workers(one_each, load, current=0) == 2
    # Both slots taken: the 4 other runs wait for a slot, not for a worker, so their age
    # adds none.
    full = Load(ready=4, in_flight=2, oldest_ready_age=600.0, runnable=2)
    assert desired_workers(one_each, full, current=2) == 2
    # A free slot and old work: one more, as without limits.
    free = Load(ready=4, in_flight=1, oldest_ready_age=600.0, runnable=2)
    assert desired_workers(one_each, free, current=2) == 3


def test_scaling_up_is_immediate_and_resets_the_cooldown() -> None:
    state = ScaleState(2, below_since=100.0)
    assert next_state(POLICY, state, desired=5, now=101.0) == ScaleState(5)
    assert next_state(POLICY, state, desired=2, now=101.0) == ScaleState(2)


def test_scaling_down_waits_for_the_cooldown_of_continuously_lower_load() -> None:
    state = ScaleState(5)
    state = next_state(POLICY, state, desired=1, now=100.0)
    assert state == ScaleState(5, below_since=100.0)
    state = next_state(POLICY, state, desired=2, now=105.0)  # still below: the clock runs on
    assert state == ScaleState(5, below_since=100.0)
    state = next_state(POLICY, state, desired=1, now=109.9)
    assert state.target == 5
    assert next_state(POLICY, state, desired=2, now=110.0) == ScaleState(2)


def test_a_burst_during_the_cooldown_restarts_it() -> None:
    state = next_state(POLICY, ScaleState(4), desired=1, now=0.0)
    state = next_state(POLICY, state, desired=4, now=8.0)  # load back: stay, forget the dip
    assert state == ScaleState(4)
    state = next_state(POLICY, state, desired=1, now=9.0)
    assert next_state(POLICY, state, desired=1, now=18.0).target == 4
    assert next_state(POLICY, state, desired=1, now=19.0).target == 1


def test_restart_delay_backs_off_and_is_capped() -> None:
    delays = [restart_delay(n) for n in range(12)]
    assert delays[:4] == [0.0, 0.5, 1.0, 2.0]
    assert delays == sorted(delays)
    assert delays[-1] == RESTART_BACKOFF_MAX


@pytest.mark.parametrize("spec", ["4", "a:b", "1-4", "", "1:4:5"])
def test_a_bad_range_says_how_to_write_one(spec: str) -> None:
    with pytest.raises(ConfigurationError, match="MIN:MAX"):
        ScalePolicy.parse_range(spec)


@pytest.mark.parametrize(("low", "high"), [(3, 2), (-1, 2), (0, 0)])
def test_an_impossible_range_is_refused(low: int, high: int) -> None:
    with pytest.raises(ConfigurationError, match="0 <= MIN <= MAX"):
        ScalePolicy(low, high)


def test_parse_range() -> None:
    assert ScalePolicy.parse_range("0:12") == (0, 12)


def test_children_get_the_supervisors_worker_options() -> None:
    options = WorkerOptions(
        queues=("a", "b"),
        concurrency=3,
        lease_ttl=7.0,
        poll_interval=0.5,
        grace=9.0,
        schedules=False,
        version="v2",
        compatible_versions=("v1",),
    )
    command = worker_command("app.py", options, ["--log-format", "json"])
    assert command[1:7] == ["-m", "bosun", "worker", "app.py", "--log-format", "json"]
    assert command[7:] == [
        "--queue",
        "a",
        "--queue",
        "b",
        "--concurrency=3",
        "--grace=9.0",
        "--lease-ttl=7.0",
        "--poll-interval=0.5",
        "--no-schedules",
        "--version=v2",
        "--compatible-with=v1",
    ]


# -- drain mode ---------------------------------------------------------------------------


def test_drain_grace_defaults_to_a_quarter_of_a_short_budget_and_30_s_of_a_long_one() -> None:
    assert drain_grace(2.0) == 0.5
    assert drain_grace(60.0) == 15.0
    assert drain_grace(900.0) == 30.0
    assert drain_grace(900.0, 120.0) == 120.0


def test_a_grace_that_does_not_fit_the_budget_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="shorter than --max-seconds"):
        drain_grace(10.0, 10.0)
    with pytest.raises(ConfigurationError, match="must be positive"):
        drain_grace(0.0)


def test_worker_grace_without_a_budget() -> None:
    assert worker_grace(None, None) == 30.0
    assert worker_grace(5.0, None) == 5.0
    assert worker_grace(None, 8.0) == 2.0


async def test_a_stopping_workers_waits_end_with_its_budget() -> None:
    """The drain never runs past the budget's end; each later step of the exit gets what is
    left of HANDBACK_WAIT past it, never less than MIN_CLOSING_WAIT; without a budget, the
    configured waits."""
    import asyncio

    now = asyncio.get_running_loop().time()
    assert drain_wait(None, 30.0) == 30.0 and closing_wait(None, 10.0) == 10.0
    assert 9.0 < drain_wait(now + 10.0, 30.0) <= 10.0  # the budget ends first
    assert drain_wait(now + 60.0, 30.0) == 30.0  # the grace does
    assert drain_wait(now - 1.0, 30.0) == 0.0  # the stop came after the end
    assert HANDBACK_WAIT - 0.5 < closing_wait(now, 10.0) <= HANDBACK_WAIT
    assert closing_wait(now - 60.0, 10.0) == MIN_CLOSING_WAIT
