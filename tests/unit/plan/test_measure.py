"""Fitting a profile from a store's workload sample: the arithmetic, without a database
(tests/integration/test_plan_from_db.py runs the same against real stores)."""

from __future__ import annotations

import random

import pytest

from bosun.errors import ConfigurationError
from bosun.plan.measure import bursts_of, daily_shape, fit_profile, peak_concurrency
from bosun.store.workload import WorkloadRun, WorkloadSample

NOW = 1_800_000_000.0  # a whole hour: 500000 * 3600


def _run(created: float, seconds: float = 10.0, waiting: float = 0.0) -> WorkloadRun:
    return WorkloadRun(
        queue="default",
        status="completed",
        attempts=1,
        created_at=created,
        started_at=created + 1,
        finished_at=created + 1 + seconds + waiting,
        steps=3,
        llm_calls=2,
        waiting_s=waiting,
        longest_step_s=seconds / 2,
        state_bytes=2048,
    )


def _sample(runs: list[WorkloadRun]) -> WorkloadSample:
    hourly: dict[int, int] = {}
    for r in runs:
        hourly[int(r.created_at // 3600)] = hourly.get(int(r.created_at // 3600), 0) + 1
    return WorkloadSample(
        hourly=sorted(hourly.items()),
        first_created=min(r.created_at for r in runs),
        runs=sorted(runs, key=lambda r: -r.created_at),
        queues=["default"],
    )


def test_steady_arrivals_fit_a_steady_profile() -> None:
    rng = random.Random(1)
    start = NOW - 3 * 86400
    runs = [_run(start + rng.uniform(0, 3 * 86400), waiting=5.0) for _ in range(360)]
    profile = fit_profile(_sample(runs), days=7, now=NOW)
    assert profile.arrivals.pattern == "steady"
    assert profile.arrivals.runs_per_hour == pytest.approx(360 / 72, rel=0.02)
    assert profile.runs.duration_s.p50 == pytest.approx(10.0)  # the 5 s wait is not work
    assert (profile.runs.steps, profile.runs.llm_calls, profile.runs.state_kb) == (3, 2, 2.0)
    assert profile.measured is not None and profile.measured["runs"] == 360


def test_a_daily_wave_fits_a_diurnal_profile_with_its_peak_hour() -> None:
    runs = []
    first_hour = int((NOW - 4 * 86400) // 3600)
    for h in range(4 * 24):
        hour_of_day = (first_hour + h) % 24
        count = 30 if 13 <= hour_of_day <= 16 else 2
        runs += [_run((first_hour + h) * 3600 + 3600 * (i + 0.5) / count) for i in range(count)]
    profile = fit_profile(_sample(runs), days=7, now=NOW)
    assert profile.arrivals.pattern == "diurnal"
    assert 13 <= profile.arrivals.peak_hour <= 16
    assert profile.arrivals.peak_to_mean == 2.0  # capped at the model's range


def test_clustered_arrivals_fit_bursts() -> None:
    runs = []
    for day in range(2):
        for k in range(3):
            at = NOW - 2 * 86400 + day * 86400 + k * 20000
            runs += [_run(at + i * 2) for i in range(15)]
    profile = fit_profile(_sample(runs), days=7, now=NOW)
    arrivals = profile.arrivals
    assert arrivals.pattern == "bursty"
    assert (arrivals.burst_size, arrivals.burst_spread_s) == (15, 28.0)
    assert arrivals.bursts_per_day == pytest.approx(3.0, rel=0.01)


def test_helpers_and_an_empty_window() -> None:
    assert [len(b) for b in bursts_of([0, 1, 2, 500, 1000, 1001, 1002, 1003])] == [3, 4]
    assert daily_shape([(0, 5)], span_h=10) is None  # under two days: no daily shape
    overlapping = [_run(0, 10), _run(5, 10), _run(30, 10)]
    assert peak_concurrency(overlapping) == 2
    empty = WorkloadSample(hourly=[], first_created=None, runs=[], queues=[])
    with pytest.raises(ConfigurationError, match="no finished runs in the last 7 days"):
        fit_profile(empty, days=7, now=NOW)


def test_a_run_every_30_seconds_is_steady_and_one_small_vm_not_a_burst_of_2880() -> None:
    from bosun.plan import advise

    runs = [_run(NOW - 86400 + 30 * i) for i in range(2880)]
    profile = fit_profile(_sample(runs), days=1, now=NOW)
    assert profile.arrivals.pattern == "steady"
    assert profile.arrivals.runs_per_hour == pytest.approx(120)
    assert bursts_of(sorted(r.created_at for r in runs), 86400) == []
    assert profile.measured is not None and profile.measured["peak_concurrency"] == 1
    assert profile.peak_concurrency == 1  # fixed pools are sized from the measured peak
    compose = next(e for e in advise(profile, max_runs=600).ranked if e.key == "compose-vm")
    # The smallest VM, 2 vCPU, all month: $73.58 (it was $3,532 as a burst of 2,880).
    assert compose.settings["vm_vcpu"] == 2
    assert compose.monthly_usd == pytest.approx(2 * 0.0504 * 730, abs=0.01)


def test_bursts_well_above_a_steady_background_are_bursts() -> None:
    runs = [_run(NOW - 2 * 86400 + 600 * i) for i in range(288)]  # every 10 minutes
    for k in range(8):  # 4 a day, of 20 runs 1.5 s apart, between background runs
        at = NOW - 2 * 86400 + k * 21600 + 300
        runs += [_run(at + 1.5 * i) for i in range(20)]
    profile = fit_profile(_sample(runs), days=2, now=NOW)
    arrivals = profile.arrivals
    assert arrivals.pattern == "bursty"
    assert arrivals.burst_size == 20 and arrivals.bursts_per_day == pytest.approx(4, rel=0.01)
    assert arrivals.runs_per_hour == pytest.approx(448 / 48, rel=0.01)


def test_a_steady_poisson_stream_is_not_mistaken_for_bursts() -> None:
    rng = random.Random(3)
    t, runs = NOW - 86400, []
    while t < NOW:
        runs.append(_run(t))
        t += rng.expovariate(1 / 20)  # every 20 s on average
    profile = fit_profile(_sample(runs), days=1, now=NOW)
    assert profile.arrivals.pattern == "steady"


def test_confidence_is_low_over_minutes_medium_under_two_days_high_after() -> None:
    minutes = fit_profile(_sample([_run(NOW - 600 + 50 * i) for i in range(12)]), days=7, now=NOW)
    assert minutes.measured is not None
    assert (minutes.measured["confidence"], minutes.measured["confidence_why"]) == (
        "low",
        "measured over 10 minutes",
    )
    few = fit_profile(_sample([_run(NOW - 7200 + 600 * i) for i in range(12)]), days=7, now=NOW)
    assert few.measured is not None and few.measured["confidence"] == "low"
    assert few.measured["confidence_why"] == "only 12 finished runs"
    day = fit_profile(_sample([_run(NOW - 86400 + 60 * i) for i in range(1440)]), days=7, now=NOW)
    assert day.measured is not None and day.measured["confidence"] == "medium"
    week = [_run(NOW - 7 * 86400 + 600 * i) for i in range(7 * 144)]
    high = fit_profile(_sample(week), days=7, now=NOW)
    assert high.measured is not None and high.measured["confidence"] == "high"


def test_a_span_under_two_minutes_is_said_in_words() -> None:
    moment = fit_profile(_sample([_run(NOW - 20 + 5 * i) for i in range(4)]), days=7, now=NOW)
    assert moment.measured is not None
    assert moment.measured["confidence_why"] == "measured over less than a minute"
    minute = fit_profile(_sample([_run(NOW - 70 + 20 * i) for i in range(4)]), days=7, now=NOW)
    assert minute.measured is not None
    assert minute.measured["confidence_why"] == "measured over 1 minute"
