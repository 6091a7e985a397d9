"""Rank the architectures for a profile and recommend one, with reasons.

The ranking puts first what can run the profile and meets its p95 wait target, cheapest
total first, where the total is the monthly bill plus the engineer hours to run it (a
cluster with no platform team is not cheap). Infeasible architectures come last, with why.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bosun.plan.arch_serverless import AwsLambda
from bosun.plan.evaluate import MAX_RUNS, Estimate, architectures, evaluate
from bosun.plan.prices import PRICED_ON, Prices
from bosun.plan.profile import Profile


class Advice(BaseModel):
    """The planner's answer for one profile."""

    profile: dict[str, Any]
    workload: dict[str, float | int]  # derived: runs an hour, mean and peak concurrency
    seed: int
    priced_on: str
    ranked: list[Estimate]
    recommendation: Estimate | None
    reasons: list[str]
    deploy_command: str | None
    deploy_note: str

    def to_json(self) -> str:
        """The advice as JSON text (what `bosun plan --json` prints)."""
        return self.model_dump_json(indent=2)


def advise(
    profile: Profile,
    *,
    seed: int = 0,
    prices: Prices | None = None,
    app_ref: str = "app.py",
    max_runs: int = MAX_RUNS,
) -> Advice:
    """Simulate every architecture on `profile` and recommend one.

    Args:
        profile: the workload.
        seed: the simulation's seed; the same seed gives the same advice.
        prices: prices and limits (default: the documented defaults).
        app_ref: the app reference printed in the `bosun deploy` command.
        max_runs: runs simulated per day at most (busier days are sampled in windows).
    """
    prices = prices or Prices()
    estimates = [
        evaluate(a, profile, prices, seed=seed, app_ref=app_ref, max_runs=max_runs)
        for a in architectures()
    ]
    drained = next(e for e in estimates if e.key == "lambda")
    if drained.reruns_per_month:
        # Show what bosun's durable steps change: the same Lambda without them.
        plain = AwsLambda(durable=False)
        estimates.append(
            evaluate(plain, profile, prices, seed=seed, app_ref=app_ref, max_runs=max_runs)
        )
    target = profile.targets.p95_wait_s
    ranked = sorted(estimates, key=lambda e: _rank_key(e, target))
    best = ranked[0] if ranked[0].feasible else None
    return Advice(
        profile=profile.model_dump(mode="json"),
        workload={
            "runs_per_hour": round(profile.rate_per_hour, 2),
            "mean_concurrency": round(profile.mean_concurrency, 2),
            "peak_concurrency": profile.peak_concurrency,
        },
        seed=seed,
        priced_on=PRICED_ON,
        ranked=ranked,
        recommendation=best,
        reasons=_reasons(best, ranked, profile),
        deploy_command=best.deploy_command if best else None,
        deploy_note=best.deploy_note if best else "nothing can run this profile as described",
    )


def _rank_key(e: Estimate, target: float) -> tuple[int, float]:
    if not e.feasible:
        return 2, e.monthly_usd
    return (0 if e.p95_wait_s <= target else 1), e.total_usd


def _money(x: float) -> str:
    return f"${x:,.0f}"


def _reasons(best: Estimate | None, ranked: list[Estimate], profile: Profile) -> list[str]:
    target = profile.targets.p95_wait_s
    feasible = [e for e in ranked if e.feasible]
    if best is None:
        return ["no architecture can run this profile:", *_ruled_out(ranked)]
    reasons = [
        f"{best.label}: {_money(best.monthly_usd)} a month plus about {best.ops_hours:.0f} "
        f"engineer hours ({_money(best.ops_usd)}), the lowest total of the "
        f"{len(feasible)} architectures that can run this workload",
        f"p95 queue wait {best.p95_wait_s:.1f} s "
        + (
            f"(target {target:.0f} s)"
            if best.p95_wait_s <= target
            else f"misses the {target:.0f} s target, as every architecture does"
        ),
    ]
    cheapest = min(feasible, key=lambda e: e.monthly_usd)
    if cheapest.key != best.key:
        why = "its engineer hours" if cheapest.p95_wait_s <= target else "its queue wait"
        reasons.append(
            f"{cheapest.label} has the lowest bill ({_money(cheapest.monthly_usd)}) but "
            f"{why} make it the worse choice overall"
        )
    runner = next((e for e in ranked[1:] if e.feasible), None)
    if runner is not None:
        reasons.append(f"next best: {runner.label} at {_money(runner.total_usd)} in total")
    reasons += _bosun_effects(best, ranked)
    return reasons + _ruled_out(ranked)


def _bosun_effects(best: Estimate, ranked: list[Estimate]) -> list[str]:
    plain = next((e for e in ranked if e.key == "lambda-plain"), None)
    if best.serverless and best.reruns_per_month and plain is not None:
        return [
            f"bosun's drain mode carries long runs across invocations "
            f"({best.reruns_per_month:,.0f} re-invocations a month); without durable steps "
            f"{plain.failed_per_month:,.0f} runs a month would fail on plain Lambda"
        ]
    if best.key == "kubernetes-keda":
        return [
            "bosun's journal makes spot worker nodes safe: a reclaim re-runs only the steps "
            "in flight"
        ]
    return []


def _ruled_out(ranked: list[Estimate]) -> list[str]:
    return [f"ruled out {e.label}: {'; '.join(e.problems)}" for e in ranked if not e.feasible]
