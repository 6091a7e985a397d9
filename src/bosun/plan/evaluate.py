"""Simulate one architecture on a profile and price the month: an `Estimate`."""

from __future__ import annotations

import math
import random

from pydantic import BaseModel

from bosun.plan.arch_serverless import AwsLambda, CloudRunServerless, Modal
from bosun.plan.arch_servers import ComposeVm, KubernetesKeda, ManagedContainers
from bosun.plan.arch_workflow import StepFunctions, TemporalCloud, steps_per_run
from bosun.plan.arrivals import Run, draw_runs, plan_windows
from bosun.plan.model import MONTH_S, Architecture, Setup, Usage, scaled
from bosun.plan.prices import Prices
from bosun.plan.profile import Profile
from bosun.plan.simulate import Job, PoolResult, simulate_pool

MAX_RUNS = 6000  # per simulated day (see arrivals.plan_windows)


def architectures() -> list[Architecture]:
    """The architectures `bosun plan` compares, in a fixed order."""
    return [
        ComposeVm(),
        ManagedContainers(),
        KubernetesKeda(),
        AwsLambda(),
        CloudRunServerless(),
        Modal(),
        TemporalCloud(),
        StepFunctions(),
    ]


class Estimate(BaseModel):
    """One architecture's month for the profile."""

    key: str
    label: str
    family: str
    serverless: bool
    replaces_bosun: bool
    feasible: bool
    problems: list[str]
    monthly_usd: float  # compute + idle + fees
    compute_usd: float
    idle_usd: float
    fees_usd: float
    ops_hours: float
    ops_usd: float
    total_usd: float  # monthly_usd + ops_usd
    p50_wait_s: float
    p95_wait_s: float
    gpu_p50_wait_s: float | None
    runs_per_month: float
    failed_per_month: float
    reruns_per_month: float
    risks: list[str]
    deployable: bool  # `bosun deploy` sets up what was simulated (else: compared only)
    deploy_command: str | None
    deploy_note: str
    deploy_changes: list[str]  # settings to change in what `bosun deploy` writes
    settings: dict[str, float | int | str | bool]


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) by the nearest-rank method; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def simulate_setup(profile: Profile, setup: Setup, seed: int, max_runs: int = MAX_RUNS) -> Usage:
    """Run the profile's windows through the setup's pools; scale the counts to a month."""
    windows = plan_windows(profile, max_runs)
    cpu_parts: list[PoolResult] = []
    gpu_parts: list[PoolResult] = []
    runs = 0.0
    waits: list[float] = []
    gpu_waits: list[float] = []
    first = 0
    for k, window in enumerate(windows):
        drawn = draw_runs(profile, window, random.Random(f"{seed}:{k}"), first)
        first += len(drawn)
        t1 = window.start + window.length
        runs += sum(r.counted for r in drawn)
        cpu = simulate_pool(setup.cpu, _cpu_jobs(profile, setup, drawn), window.start, t1)
        cpu_parts.append(cpu)
        if setup.gpu is not None and profile.gpu.steps:
            gpu = simulate_pool(setup.gpu, _gpu_jobs(profile, drawn), window.start, t1)
            gpu_parts.append(gpu)
            gpu_waits.extend(gpu.waits.values())
            waits.extend(cpu.waits.get(i, 0.0) + w for i, w in gpu.waits.items())
        else:
            waits.extend(cpu.waits.values())
    factor = MONTH_S / sum(w.length for w in windows)
    cpu_total = _sum(cpu_parts)
    gpu_total = _sum(gpu_parts) if gpu_parts else None
    failed = cpu_total.failed + (gpu_total.failed if gpu_total else 0)
    reruns = cpu_total.handbacks + (gpu_total.handbacks if gpu_total else 0)
    return Usage(
        runs=runs * factor,
        failed=failed * factor,
        reruns=reruns * factor,
        waits=waits,
        gpu_waits=gpu_waits,
        cpu=scaled(cpu_total, factor),
        gpu=scaled(gpu_total, factor) if gpu_total else None,
    )


def _cpu_jobs(profile: Profile, setup: Setup, drawn: list[Run]) -> list[Job]:
    """Jobs for the CPU pool: a run whole, or (Step Functions) one piece per step. A run
    longer than an invocation is cut by the simulated invocation itself."""
    jobs: list[Job] = []
    for run in drawn:
        pieces: tuple[float, ...] = (run.duration,)
        if setup.step_pieces:
            n = steps_per_run(profile)
            pieces = (run.duration / n,) * n
        jobs.append(Job(run.index, run.arrive, pieces, run.counted))
    return jobs


def _gpu_jobs(profile: Profile, drawn: list[Run]) -> list[Job]:
    """Each run's GPU steps as one chain, submitted halfway through the run."""
    chain = (profile.gpu.step_s,) * profile.gpu.steps
    return [Job(r.index, r.arrive + r.duration / 2, chain, r.counted) for r in drawn]


def _sum(parts: list[PoolResult]) -> PoolResult:
    total = PoolResult()
    for p in parts:
        total.instance_s += p.instance_s
        total.busy_s += p.busy_s
        total.slot_s += p.slot_s
        total.node_s += p.node_s
        total.pieces += p.pieces
        total.cold_starts += p.cold_starts
        total.invocations += p.invocations
        total.handbacks += p.handbacks
        total.failed += p.failed
    return total


def evaluate(
    arch: Architecture,
    profile: Profile,
    prices: Prices,
    *,
    seed: int = 0,
    app_ref: str = "app.py",
    max_runs: int = MAX_RUNS,
) -> Estimate:
    """Simulate `arch` on `profile` and price the month."""
    setup = arch.setup(profile, prices)
    usage = simulate_setup(profile, setup, seed, max_runs)
    cost = arch.cost(profile, prices, setup, usage)
    hours = arch.ops_hours(profile, prices)
    ops = hours * prices.shared.engineer_hour_usd
    reruns = usage.reruns
    if isinstance(arch, KubernetesKeda):
        reruns += arch.spot_reruns(prices, usage)
    command, note = arch.deploy(app_ref, setup)
    if command is not None and setup.notes:
        note += "; then " + "; ".join(setup.notes)
    problems = list(setup.problems)
    if usage.failed:
        limit = (setup.limit_s or 0) / 60
        problems.append(
            f"{usage.failed:,.0f} runs a month run past the {limit:.0f}-minute budget and fail"
        )
    return Estimate(
        key=arch.key,
        label=arch.label,
        family=arch.family,
        serverless=arch.serverless,
        replaces_bosun=arch.replaces_bosun,
        feasible=not problems,
        problems=problems,
        monthly_usd=round(cost.total, 2),
        compute_usd=round(cost.compute, 2),
        idle_usd=round(cost.idle, 2),
        fees_usd=round(cost.fees, 2),
        ops_hours=hours,
        ops_usd=round(ops, 2),
        total_usd=round(cost.total + ops, 2),
        p50_wait_s=round(percentile(usage.waits, 0.5), 2),
        p95_wait_s=round(percentile(usage.waits, 0.95), 2),
        gpu_p50_wait_s=round(percentile(usage.gpu_waits, 0.5), 2) if usage.gpu else None,
        runs_per_month=round(usage.runs),
        failed_per_month=round(usage.failed, 1),
        reruns_per_month=round(reruns, 1),
        risks=arch.risks(profile, prices, setup, usage),
        deployable=command is not None,
        deploy_command=command,
        deploy_note=note,
        deploy_changes=list(setup.notes) if command is not None else [],
        settings=setup.settings,
    )
