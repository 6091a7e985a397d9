"""Rank the architectures for a profile and recommend one, with reasons.

The ranking puts first what `bosun deploy` can set up, runs the profile and meets its p95
wait target, cheapest total first, where the total is the monthly bill plus the engineer
hours to run it (a cluster with no platform team is not cheap). Architectures bosun cannot
deploy (a managed workflow service, an always-on container service, a GPU variant no
deploy target writes yet) are ranked apart, for comparison only, and never recommended.
Infeasible architectures come last, with why.
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
    best = ranked[0] if ranked[0].feasible and ranked[0].deployable else None
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
        deploy_note=best.deploy_note if best else _nothing(ranked),
    )


def _nothing(ranked: list[Estimate]) -> str:
    if any(e.feasible for e in ranked):
        return "nothing bosun deploy sets up can run this profile as described"
    return "nothing can run this profile as described"


def _rank_key(e: Estimate, target: float) -> tuple[int, float]:
    if not e.feasible:
        return 3, e.monthly_usd
    if not e.deployable:
        return 2, e.total_usd
    return (0 if e.p95_wait_s <= target else 1), e.total_usd


def _money(x: float) -> str:
    return f"${x:,.0f}"


def _reasons(best: Estimate | None, ranked: list[Estimate], profile: Profile) -> list[str]:
    target = profile.targets.p95_wait_s
    feasible = [e for e in ranked if e.feasible]
    deployable = [e for e in feasible if e.deployable]
    if best is None:
        why = "no architecture bosun deploys can run this profile:"
        return [why if feasible else "no architecture can run this profile:", *_ruled_out(ranked)]
    reasons = [
        f"{best.label}: {_money(best.monthly_usd)} a month plus about {best.ops_hours:.0f} "
        f"engineer hours ({_money(best.ops_usd)}), the lowest total of the "
        f"{len(deployable)} architectures bosun deploys that can run this workload",
        f"p95 queue wait {best.p95_wait_s:.1f} s "
        + (
            f"(target {target:.0f} s)"
            if best.p95_wait_s <= target
            else f"misses the {target:.0f} s target, as every architecture bosun deploys does"
        ),
    ]
    cheapest = min(deployable, key=lambda e: e.monthly_usd)
    if cheapest.key != best.key:
        why = "its engineer hours make" if cheapest.p95_wait_s <= target else "its queue wait makes"
        reasons.append(
            f"{cheapest.label} has the lowest bill ({_money(cheapest.monthly_usd)}) but "
            f"{why} it the worse choice overall"
        )
    runner = next((e for e in ranked[1:] if e.feasible and e.deployable), None)
    if runner is not None:
        reasons.append(f"next best: {runner.label} at {_money(runner.total_usd)} in total")
    apart = [e for e in feasible if not e.deployable and e.total_usd < best.total_usd]
    for e in apart:
        if e.key == "lambda-plain":
            continue
        reasons.append(
            f"{e.label} would total {_money(e.total_usd)}, but bosun cannot deploy it, so it "
            f"is compared only: {e.deploy_note}"
        )
    reasons += _bosun_effects(best, ranked)
    return reasons + _ruled_out(ranked)


def _bosun_effects(best: Estimate, ranked: list[Estimate]) -> list[str]:
    plain = next((e for e in ranked if e.key == "lambda-plain"), None)
    if best.serverless and best.reruns_per_month and plain is not None:
        return [
            f"bosun's drain mode carries long runs across invocations "
            f"({best.reruns_per_month:,.0f} hand-backs a month); without durable steps "
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
