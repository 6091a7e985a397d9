"""Invariants of the discrete-event simulation and of the month it is scaled to."""

from __future__ import annotations

import random

import pytest

from bosun.plan import Prices, advise, architectures, parse_profile
from bosun.plan.arrivals import draw_runs, plan_windows
from bosun.plan.evaluate import evaluate
from bosun.plan.simulate import Job, PoolSpec, simulate_pool


def _jobs(seed: int, count: int = 400, rate: float = 1.0, mean: float = 5.0) -> list[Job]:
    rng = random.Random(seed)
    t, jobs = 0.0, []
    for i in range(count):
        t += rng.expovariate(rate)
        jobs.append(Job(i, t, (rng.expovariate(1 / mean),), True))
    return jobs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_more_fixed_capacity_never_raises_any_runs_wait(seed: int) -> None:
    jobs = _jobs(seed)
    end = jobs[-1].arrive + 1
    previous: dict[int, float] | None = None
    for instances in (3, 4, 5, 6, 8, 12, 400):
        spec = PoolSpec(slots=1, scaling="fixed", min_instances=instances, max_instances=instances)
        waits = simulate_pool(spec, jobs, 0.0, end).waits
        assert len(waits) == len(jobs)
        if previous is not None:
            assert all(waits[i] <= previous[i] + 1e-9 for i in waits)
        previous = waits
    assert previous is not None and max(previous.values()) == 0  # a server per job: nobody waits


def test_a_higher_serverless_concurrency_limit_never_raises_waits() -> None:
    jobs = _jobs(5, rate=2.0)
    end = jobs[-1].arrive + 1
    totals = []
    for limit in (2, 4, 8, 16, 64):
        spec = PoolSpec(slots=1, scaling="per_request", max_instances=limit, start_s=1, idle_s=60)
        totals.append(sum(simulate_pool(spec, jobs, 0.0, end).waits.values()))
    assert totals == sorted(totals, reverse=True)
    assert totals[-1] < totals[0]


def test_work_is_conserved_and_fixed_capacity_is_billed_all_window() -> None:
    jobs = [Job(i, 10.0 * i, (3.0,), True) for i in range(10)]
    spec = PoolSpec(slots=2, scaling="fixed", min_instances=3, max_instances=3)
    result = simulate_pool(spec, jobs, 0.0, 200.0)
    assert result.slot_s == pytest.approx(30.0)
    assert result.instance_s == pytest.approx(600.0)
    assert result.pieces == 10 and result.cold_starts == 0
    assert set(result.waits.values()) == {0.0}


def test_cold_starts_add_their_delay_and_warm_instances_are_reused() -> None:
    # Two runs a minute apart: the first starts a cold instance, the second finds it warm.
    jobs = [Job(0, 0.0, (5.0,), True), Job(1, 60.0, (5.0,), True)]
    spec = PoolSpec(slots=1, scaling="per_request", start_s=2.0, idle_s=120.0)
    result = simulate_pool(spec, jobs, 0.0, 100.0)
    assert result.waits == {0: 2.0, 1: 0.0}
    assert result.cold_starts == 1
    # Kept warm for 120 s after each run: up from 0 to the window's end.
    assert result.instance_s == pytest.approx(100.0)
    cold = PoolSpec(slots=1, scaling="per_request", start_s=2.0, idle_s=10.0)
    assert simulate_pool(cold, jobs, 0.0, 100.0).waits == {0: 2.0, 1: 2.0}


def test_polling_waits_for_the_next_poll_and_the_pod_start() -> None:
    spec = PoolSpec(slots=1, scaling="polling", poll_s=30.0, start_s=15.0, idle_s=300.0)
    result = simulate_pool(spec, [Job(0, 1.0, (5.0,), True)], 0.0, 100.0)
    # Polls at 0, 30: the pod starts at 30 and is ready at 45; the run arrived at 1.
    assert result.waits == {0: 44.0}


def test_zero_arrivals_cost_only_idle_capacity_and_fixed_fees() -> None:
    profile = parse_profile(
        {"arrivals": {"runs_per_hour": 0}, "runs": {"duration_s": {"p50": 60, "p95": 120}}}
    )
    prices = Prices()
    for arch in architectures():
        e = evaluate(arch, profile, prices)
        assert e.runs_per_month == 0 and e.compute_usd == 0, e.key
        assert e.monthly_usd == pytest.approx(e.idle_usd + e.fees_usd, abs=0.01)
    lam = evaluate(next(a for a in architectures() if a.key == "lambda"), profile, prices)
    assert lam.monthly_usd == prices.shared.database_month_usd  # nothing but the database
    vm = evaluate(architectures()[0], profile, prices)
    assert vm.idle_usd == pytest.approx(2 * 0.0504 * 730, abs=0.01)  # the smallest VM idles


def test_the_same_seed_gives_the_same_advice_and_another_seed_other_arrivals() -> None:
    profile = parse_profile(
        {
            "arrivals": {"pattern": "bursty", "burst_size": 20, "bursts_per_day": 6},
            "runs": {"duration_s": {"p50": 60, "p95": 300}},
        }
    )
    assert advise(profile, seed=7).to_json() == advise(profile, seed=7).to_json()
    window = plan_windows(profile, 6000)[0]
    first = draw_runs(profile, window, random.Random("7:0"))
    other = draw_runs(profile, window, random.Random("8:0"))
    assert [r.arrive for r in first] != [r.arrive for r in other]


def test_busy_profiles_are_sampled_in_windows_that_keep_the_monthly_volume() -> None:
    profile = parse_profile(
        {
            "concurrency": 100,
            "arrivals": {"pattern": "diurnal", "peak_to_mean": 2.0},
            "runs": {"duration_s": {"p50": 30, "p95": 60}},
        }
    )
    windows = plan_windows(profile, 2000)
    assert len(windows) == 4  # a diurnal day is sampled at four phases
    e = evaluate(architectures()[3], profile, Prices(), max_runs=2000)
    monthly = profile.rate_per_hour * 730
    assert e.runs_per_month == pytest.approx(monthly, rel=0.1)


def test_very_short_frequent_runs_are_sampled_in_windows_of_bounded_size() -> None:
    # Measured from a database of millisecond runs and charted at 300 at once: millions of
    # runs an hour. A ten-minute window would hold 1.2 million of them.
    profile = parse_profile(
        {"concurrency": 300, "runs": {"duration_s": {"p50": 0.001, "p95": 0.18}}}
    )
    rate = profile.rate_per_hour / 3600
    assert rate * 600 > 100_000
    for window in plan_windows(profile, 600):
        assert rate * window.length <= 5 * 600 + 1
    e = evaluate(architectures()[0], profile, Prices(), max_runs=600)
    assert e.runs_per_month == pytest.approx(profile.rate_per_hour * 730, rel=0.1)
