"""Invariants of the discrete-event simulation and of the month it is scaled to."""

from __future__ import annotations

import random
from dataclasses import replace

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
    # The database, and a scheduled invocation a minute that finds nothing: 43,800 a month,
    # one cold (1 s) and the rest warm (0.2 s), each claiming once (0.2 s), at 1 GB.
    lam_prices = prices.aws_lambda
    ticks = 730 * 60
    seconds = ticks * (lam_prices.warm_start_s + 0.2)
    empty = (
        seconds * lam_prices.memory_gb * lam_prices.gb_second_usd + ticks * lam_prices.request_usd
    )
    assert lam.monthly_usd == pytest.approx(prices.shared.database_month_usd + empty, abs=0.05)
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


def _scheduled(**changes: object) -> PoolSpec:
    spec = PoolSpec(slots=4, scaling="scheduled", start_s=1.0, poll_s=60.0, idle_s=0.2)
    return replace(spec, **changes)  # type: ignore[arg-type]


def test_a_scheduled_invocation_serves_what_arrived_since_the_last_tick() -> None:
    # The invocation at 0 finds nothing and exits; the run arriving at 2 waits for the tick
    # at 60 and the 1 s start.
    result = simulate_pool(_scheduled(), [Job(0, 2.0, (10.0,), True)], 0.0, 100.0)
    assert result.waits == {0: 59.0}
    assert result.invocations == 2 and result.cold_starts == 2
    assert result.instance_s == pytest.approx(1.2 + 1.0 + 10.0 + 0.2)


def test_a_burst_larger_than_an_invocation_waits_for_later_ticks() -> None:
    jobs = [Job(i, 2.0, (100.0,), True) for i in range(10)]
    result = simulate_pool(_scheduled(), jobs, 0.0, 200.0)
    # Four runs an invocation: the ticks at 60 and 120 take 4 each; the first invocation,
    # still running, claims the last 2 as its runs end at 161.
    assert sorted(result.waits.values()) == [59.0] * 4 + [119.0] * 4 + [159.0] * 2


def test_a_run_longer_than_the_budget_is_handed_back_and_resumed() -> None:
    spec = _scheduled(slots=1, start_s=0.0, budget_s=100.0, grace_s=10.0, step_s=4.0, replay_s=1.0)
    result = simulate_pool(spec, [Job(0, 0.0, (250.0,), True)], 0.0, 400.0)
    # Cut at 90 + 2 (half a step); 158 + 1 s replay left, resumed at the tick at 120, cut at
    # 212; 67 + 1 left, resumed at 240: 28 s waited twice.
    assert result.handbacks == 2 and result.failed == 0
    assert result.waits == {0: 56.0}
    assert result.slot_s == pytest.approx(250.0 + 2.0)  # the work and the two replays
    plain = simulate_pool(replace(spec, durable=False), [Job(0, 0.0, (250.0,), True)], 0, 400)
    assert plain.failed == 1  # without durable steps it can never finish in one invocation


def test_empty_ticks_cost_a_start_and_a_claim_and_warm_environments_are_reused() -> None:
    cold = simulate_pool(_scheduled(), [], 0.0, 600.0)
    assert cold.invocations == 10 and cold.instance_s == pytest.approx(10 * 1.2)
    warm = simulate_pool(_scheduled(warm_s=600.0, warm_start_s=0.1), [], 0.0, 600.0)
    assert warm.cold_starts == 1 and warm.instance_s == pytest.approx(1.2 + 9 * 0.3)
    billed_tail = simulate_pool(_scheduled(tail_s=2.0), [], 0.0, 600.0)
    assert billed_tail.instance_s == pytest.approx(10 * (1.2 + 2.0))


def test_a_gpu_invocation_loads_the_model_before_its_first_step_only() -> None:
    spec = _scheduled(slots=1, start_s=5.0, load_s=25.0)
    chain = Job(0, 6.0, (4.0, 4.0, 4.0), True)
    result = simulate_pool(spec, [chain], 0.0, 200.0)
    # Tick at 60, ready at 65, loads until 90: the load counts as waiting, once.
    assert result.waits == {0: 59.0 + 25.0}
    assert result.slot_s == pytest.approx(25.0 + 12.0)
