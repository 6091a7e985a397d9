"""Managed workflow services, which replace bosun's runtime: Temporal Cloud, Step Functions.

Both keep the workflow's state for you and charge per operation; neither runs your code:
Temporal's workers run on your containers, Step Functions' steps on Lambda. Workflows
must be rewritten for them, so there is no `bosun deploy` command.
"""

from __future__ import annotations

import math

from bosun.plan.arch_servers import ManagedContainers
from bosun.plan.model import Architecture, Cost, Setup, Usage
from bosun.plan.prices import Prices
from bosun.plan.profile import Profile
from bosun.plan.simulate import PoolSpec

REPLACES = "a managed workflow service replaces bosun: no bosun deploy command"
MIN_MEMORY_GB = 0.128  # Lambda's smallest function
REWRITE = "replaces bosun: workflows are rewritten for its SDK or state-machine language"


def _operations(profile: Profile) -> float:
    """Steps, LLM calls and GPU steps a run makes: each one an activity or a state."""
    return profile.runs.steps + profile.runs.llm_calls + profile.gpu.steps


class TemporalCloud(Architecture):
    """Temporal Cloud per-action pricing plus always-on worker containers you run."""

    key = "temporal-cloud"
    label = "Temporal Cloud (workers on managed containers)"
    family = "managed-workflow"
    replaces_bosun = True

    def __init__(self) -> None:
        self._workers = ManagedContainers()

    def setup(self, profile: Profile, prices: Prices) -> Setup:
        setup = self._workers.setup(profile, prices)
        limit = prices.temporal.payload_kb_limit
        if profile.runs.state_kb > limit:
            too_big = (
                f"state of {profile.runs.state_kb:.0f} KB exceeds the {limit:.0f} KB payload limit"
            )
            problems = (*setup.problems, too_big)
            return Setup(cpu=setup.cpu, gpu=setup.gpu, settings=setup.settings, problems=problems)
        return setup

    def cost(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> Cost:
        t = prices.temporal
        workers = self._workers.cost(profile, prices, setup, usage)
        workers = Cost(workers.compute, workers.idle, 0.0)  # Temporal keeps the state: no database
        actions = usage.runs * (t.actions_per_run + t.actions_per_step * _operations(profile))
        return workers + Cost(0, 0, max(t.plan_month_usd, actions * t.action_usd))

    def ops_hours(self, profile: Profile, prices: Prices) -> float:
        return prices.ops_hours.temporal

    def risks(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> list[str]:
        return [REWRITE, "worker containers are still yours to size and run"]

    def deploy(self, app_ref: str, setup: Setup) -> tuple[str | None, str]:
        return None, REPLACES


class StepFunctions(Architecture):
    """Step Functions Standard: one state transition per step, each step a Lambda task."""

    key = "step-functions"
    label = "AWS Step Functions (steps on Lambda)"
    family = "managed-workflow"
    serverless = True
    replaces_bosun = True

    def setup(self, profile: Profile, prices: Prices) -> Setup:
        lam = prices.aws_lambda
        sf = prices.step_functions
        problems: tuple[str, ...] = ()
        if profile.runs.longest_step > lam.max_seconds:
            problems += (
                f"a {profile.runs.longest_step:.0f} s step exceeds a Lambda task's "
                f"{lam.max_seconds:.0f} s limit",
            )
        if profile.runs.state_kb > sf.state_kb_limit:
            problems += (
                f"state of {profile.runs.state_kb:.0f} KB exceeds the {sf.state_kb_limit:.0f} KB "
                "limit on data passed between states",
            )
        if profile.gpu.steps:
            problems += ("Lambda tasks have no GPUs",)
        pool = PoolSpec(
            slots=1,
            scaling="per_request",
            max_instances=lam.concurrency_limit,
            start_s=lam.cold_start_s,
            idle_s=lam.keep_warm_s,
        )
        # One step per task: a process and one run, and a vCPU share for its CPU.
        runs = profile.runs
        memory = round(max(MIN_MEMORY_GB, runs.function_memory_gb, runs.cpu * lam.gb_per_vcpu), 3)
        return Setup(cpu=pool, step_pieces=True, settings={"memory_gb": memory}, problems=problems)

    def cost(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> Cost:
        sf = prices.step_functions
        lam = prices.aws_lambda
        gb_s = setup.settings["memory_gb"] * lam.gb_second_usd
        compute = Cost(
            usage.cpu.slot_s * gb_s,
            usage.cpu.cold_starts * lam.cold_start_s * gb_s,
            usage.cpu.pieces * lam.request_usd,
        )
        steps = max(1, _operations(profile))
        transitions = usage.runs * (sf.transitions_per_run + sf.transitions_per_step * steps)
        return compute + Cost(0, 0, transitions * sf.transition_usd)

    def ops_hours(self, profile: Profile, prices: Prices) -> float:
        return prices.ops_hours.step_functions

    def risks(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> list[str]:
        risks = [REWRITE, "each step's Lambda bills the seconds it waits on an LLM"]
        if profile.runs.state_kb > 0.5 * prices.step_functions.state_kb_limit:
            risks.append("state is over half the 256 KB limit between states: keep it in S3")
        return risks

    def deploy(self, app_ref: str, setup: Setup) -> tuple[str | None, str]:
        return None, REPLACES


def steps_per_run(profile: Profile) -> int:
    """Pieces a Step Functions run is split into."""
    return max(1, math.ceil(_operations(profile)))
