"""Serverless architectures: AWS Lambda, Cloud Run jobs, Modal, as `bosun deploy` ships them.

Each is a timer starting drain-mode invocations (`bosun worker --until-idle --max-seconds
N`, or the Lambda handler): every `schedule_s` one invocation starts, claims up to its
worker concurrency of runs, and runs until nothing is ready and nothing runs, or until its
budget ends; then it hands back what it holds, so a run longer than the platform's limit
continues in a later invocation (replaying its journal) instead of failing. Without bosun's
durable steps (`durable=False`) a run cut at an invocation's end starts over, and one
longer than a budget never finishes. The simulation is `scheduled` (bosun.plan.simulate);
the schedule, memory, CPU and concurrency are the deploy artifacts' own values (prices'
docstrings say which; tests/unit/plan/test_artifacts.py holds them equal).
"""

from __future__ import annotations

import math

from bosun.plan.deploy import deploy_command
from bosun.plan.model import (
    UNTIL_IDLE_S,
    Architecture,
    Cost,
    Setup,
    Usage,
    drain_grace,
    mean_step_s,
    runs_that_fit,
    split_capacity,
)
from bosun.plan.prices import Prices
from bosun.plan.profile import Profile
from bosun.plan.simulate import PoolSpec

GPU_QUEUE = "gpu"
DEFAULT_CONCURRENCY = 16  # bosun worker's and `bosun deploy modal`'s default --concurrency


def _drain_problems(profile: Profile, budget: float, name: str) -> tuple[str, ...]:
    longest = profile.runs.longest_step
    if longest > budget:
        return (
            f"a {longest:.0f} s step cannot finish inside one {budget:.0f} s {name} invocation, "
            "even with drain mode (split the step)",
        )
    return ()


def _capacity_problems(
    profile: Profile, slots: int, budget: float, schedule_s: float, name: str, most: int
) -> tuple[str, ...]:
    """A schedule starting one invocation every `schedule_s`, each living at most `budget`,
    has at most budget / schedule_s invocations at once: below the mean load, the queue
    grows without end."""
    invocations = min(most, max(1, int(budget // schedule_s)))
    capacity = invocations * slots
    if profile.mean_concurrency > capacity:
        return (
            f"one {name} invocation every {schedule_s:.0f} s, each at most {budget:.0f} s with "
            f"{slots} runs, runs at most {capacity} at once; this workload keeps "
            f"{profile.mean_concurrency:.0f} running on average",
        )
    return ()


def _running(profile: Profile, slots: int) -> int:
    """Invocations a steady state keeps full: the simulation starts with them running."""
    return math.floor(profile.mean_concurrency / slots)


def _fit(
    profile: Profile, prices: Prices, vcpu: float, gib: float, most: int, what: str, knob: str
) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
    """Slots an invocation of `vcpu`/`gib` runs: the artifact's `most`, or fewer where the
    profile's runs do not fit, with the setting to change (`knob`) as a note."""
    fit = runs_that_fit(profile, vcpu, gib, prices)
    if fit < 1:
        problem = (
            f"one run does not fit {what} ({vcpu:.2f} vCPU, {gib:g} GiB) at "
            f"{prices.vm.target_utilization:.0%} utilization",
        )
        return 1, problem, ()
    if fit >= most:
        return most, (), ()
    note = f"{knob.format(n=fit)}: {what} holds {fit} of these runs, not {most}"
    return fit, (), (note,)


def _limit_risks(setup: Setup, usage: Usage, name: str) -> list[str]:
    limit = setup.limit_s or 0
    if not usage.reruns and not usage.failed:
        return []
    if setup.durable:
        return [
            f"runs longer than one {name} invocation's {limit / 60:.0f}-minute budget "
            f"continue in a later one ({usage.reruns:,.0f} hand-backs a month); without "
            "bosun's durable steps they would fail"
        ]
    return [f"{usage.failed:,.0f} runs a month outlast the {limit / 60:.0f}-minute budget and fail"]


def _schedule_risk(schedule_s: float, name: str) -> str:
    return (
        f"a run arriving while no invocation has room waits for the next scheduled "
        f"{name} invocation (every {schedule_s:.0f} s)"
    )


def _gpu_cost(usage: Usage, hour_usd: float) -> Cost:
    if usage.gpu is None:
        return Cost(0, 0, 0)
    billed = usage.gpu.instance_s * hour_usd / 3600
    return split_capacity(billed, usage.gpu.slot_s / max(usage.gpu.instance_s, 1e-9))


class AwsLambda(Architecture):
    """AWS Lambda: the SAM template's function, invoked every minute, drains the queues."""

    family = "serverless"
    serverless = True

    def __init__(self, *, durable: bool = True) -> None:
        self.durable = durable
        self.key = "lambda" if durable else "lambda-plain"
        self.label = "AWS Lambda (bosun drain mode)" if durable else "AWS Lambda, no durable steps"

    def setup(self, profile: Profile, prices: Prices) -> Setup:
        lam = prices.aws_lambda
        max_seconds = int(lam.max_seconds - lam.drain_margin_s)
        vcpu = lam.memory_gb * 1024 / (lam.gb_per_vcpu * 1000)  # 1,769 MB per vCPU
        slots, problems, notes = _fit(
            profile,
            prices,
            vcpu,
            lam.memory_gb,
            lam.worker_concurrency,
            f"the template's {lam.memory_gb * 1024:.0f} MB function",
            "set BOSUN_CONCURRENCY={n} in the template's Environment",
        )
        grace = drain_grace(max_seconds)
        pool = PoolSpec(
            slots=slots,
            scaling="scheduled",
            max_instances=lam.concurrency_limit,
            initial=_running(profile, slots),
            start_s=lam.cold_start_s,
            poll_s=lam.schedule_s,
            idle_s=UNTIL_IDLE_S,
            budget_s=max_seconds,
            grace_s=grace,
            step_s=mean_step_s(profile),
            replay_s=lam.replay_s,
            durable=self.durable,
            warm_s=lam.keep_warm_s,
            warm_start_s=lam.warm_start_s,
        )
        problems += _drain_problems(profile, max_seconds, "Lambda")
        problems += _capacity_problems(
            profile, slots, max_seconds, lam.schedule_s, "Lambda", lam.concurrency_limit
        )
        if profile.gpu.steps:
            problems += ("Lambda has no GPUs",)
        return Setup(
            cpu=pool,
            limit_s=max_seconds,
            durable=self.durable,
            replay_s=lam.replay_s,
            settings={
                "memory_gb": lam.memory_gb,
                "max_seconds": max_seconds,
                "worker_concurrency": slots,
                "schedule_s": lam.schedule_s,
            },
            problems=problems,
            notes=notes,
        )

    def cost(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> Cost:
        lam = prices.aws_lambda
        # Every second of every invocation, INIT included, at the function's memory.
        billed = usage.cpu.instance_s * setup.settings["memory_gb"] * lam.gb_second_usd
        used = usage.cpu.slot_s / max(usage.cpu.instance_s * setup.cpu.slots, 1e-9)
        fees = usage.cpu.invocations * lam.request_usd + prices.shared.database_month_usd
        return split_capacity(billed, used) + Cost(0, 0, fees)

    def ops_hours(self, profile: Profile, prices: Prices) -> float:
        return prices.ops_hours.serverless

    def risks(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> list[str]:
        lam = prices.aws_lambda
        risks = _limit_risks(setup, usage, "Lambda")
        risks.append(_schedule_risk(lam.schedule_s, "Lambda"))
        risks.append("billed for every second an invocation waits on an LLM")
        return risks

    def deploy(self, app_ref: str, setup: Setup) -> tuple[str | None, str]:
        if not self.durable:
            return None, "plain Lambda without bosun: shown for comparison"
        seconds = setup.settings["max_seconds"]
        return deploy_command("lambda", app_ref, max_seconds=seconds), (
            "a Lambda function (SAM template) that runs the drain-mode worker every minute"
        )


class CloudRunServerless(Architecture):
    """Cloud Run jobs: a scheduled execution runs the drain-mode worker in one task."""

    key = "cloud-run"
    label = "Cloud Run jobs (bosun drain mode)"
    family = "serverless"
    serverless = True

    def setup(self, profile: Profile, prices: Prices) -> Setup:
        cr = prices.cloud_run
        margin = prices.aws_lambda.drain_margin_s
        budget = int(min(cr.budget_s, cr.max_seconds - margin))
        slots, problems, notes = _fit(
            profile,
            prices,
            cr.instance_vcpu,
            cr.instance_gib,
            cr.concurrency,
            f"the job's task ({cr.instance_vcpu:g} vCPU, {cr.instance_gib:g} GiB)",
            "add --concurrency {n} to the job's worker args",
        )
        pool = PoolSpec(
            slots=slots,
            scaling="scheduled",
            initial=_running(profile, slots),
            start_s=cr.cold_start_s,
            poll_s=cr.schedule_s,
            idle_s=UNTIL_IDLE_S,
            budget_s=budget,
            grace_s=cr.grace_s,
            step_s=mean_step_s(profile),
            replay_s=prices.aws_lambda.replay_s,
        )
        problems += _drain_problems(profile, budget, "Cloud Run")
        problems += _capacity_problems(
            profile, slots, budget, cr.schedule_s, "Cloud Run", cr.max_executions
        )
        gpu = None
        settings: dict[str, float | int | str | bool] = {
            "max_seconds": budget,
            "worker_concurrency": slots,
            "schedule_s": cr.schedule_s,
        }
        if profile.gpu.steps:
            if prices.gpu.hour_usd("cloud-run", profile.gpu.type) is None:
                problems += (f"Cloud Run offers no {profile.gpu.type} GPU",)
            gpu_budget = int(cr.gpu_max_seconds - margin)
            gpu = PoolSpec(
                slots=1,
                scaling="scheduled",
                start_s=prices.gpu.container_start_s,
                load_s=profile.gpu.model_load_s,
                poll_s=cr.schedule_s,
                idle_s=UNTIL_IDLE_S,
                budget_s=gpu_budget,
                grace_s=cr.grace_s,
                step_s=profile.gpu.step_s,
                replay_s=prices.aws_lambda.replay_s,
            )
            settings["gpu_max_seconds"] = gpu_budget
        return Setup(
            cpu=pool,
            gpu=gpu,
            limit_s=budget,
            replay_s=prices.aws_lambda.replay_s,
            settings=settings,
            problems=problems,
            notes=notes,
        )

    def cost(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> Cost:
        cr = prices.cloud_run
        per_s = cr.instance_vcpu * cr.vcpu_second_usd + cr.instance_gib * cr.gib_second_usd
        used = usage.cpu.slot_s / max(usage.cpu.instance_s * setup.cpu.slots, 1e-9)
        cost = split_capacity(usage.cpu.instance_s * per_s, used)
        cost = cost + Cost(0, 0, prices.shared.database_month_usd)
        gpu_hour = prices.gpu.hour_usd("cloud-run", profile.gpu.type) or 0.0
        host = cr.gpu_instance_vcpu * cr.vcpu_second_usd + cr.gpu_instance_gib * cr.gib_second_usd
        return cost + _gpu_cost(usage, gpu_hour + host * 3600)

    def ops_hours(self, profile: Profile, prices: Prices) -> float:
        return prices.ops_hours.serverless

    def risks(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> list[str]:
        risks = _limit_risks(setup, usage, "Cloud Run")
        risks.append(_schedule_risk(prices.cloud_run.schedule_s, "Cloud Run job"))
        if profile.gpu.steps:
            risks.append(
                f"each GPU task loads the model ({profile.gpu.model_load_s:.0f} s) before its "
                "first GPU step, and GPU tasks stop at one hour"
            )
        return risks

    def deploy(self, app_ref: str, setup: Setup) -> tuple[str | None, str]:
        if setup.gpu is not None:
            return None, (
                "`bosun deploy cloud-run` makes no GPU job yet: a task with an "
                "nvidia.com/gpu limit serving only the gpu queue"
            )
        seconds = setup.settings["max_seconds"]
        schedule = setup.settings["schedule_s"]
        cron = "* * * * *" if schedule == 60 else f"every {schedule:.0f} s"
        return deploy_command("cloud-run", app_ref, max_seconds=seconds), (
            "a Cloud Run job; start an execution with a Cloud Scheduler trigger, "
            f'--schedule "{cron}" (docs/serverless.md)'
        )


class Modal(Architecture):
    """Modal: scheduled functions run the drain-mode worker; a GPU function the GPU queue."""

    key = "modal"
    label = "Modal (bosun drain mode, serverless GPUs)"
    family = "serverless"
    serverless = True

    def setup(self, profile: Profile, prices: Prices) -> Setup:
        m = prices.modal
        budget = int(m.max_seconds - prices.aws_lambda.drain_margin_s)
        grace = drain_grace(budget)
        # `bosun deploy modal --concurrency N` sets the slots: no change to make by hand.
        slots, problems, _ = _fit(
            profile,
            prices,
            2 * m.cpu,
            m.memory_gb,
            m.worker_concurrency,
            f"the app's function ({m.cpu:g} physical cores, {m.memory_gb:g} GiB)",
            "",
        )
        pool = PoolSpec(
            slots=slots,
            scaling="scheduled",
            initial=_running(profile, slots),
            start_s=m.cold_start_s,
            poll_s=m.schedule_s,
            idle_s=UNTIL_IDLE_S,
            budget_s=budget,
            grace_s=grace,
            step_s=mean_step_s(profile),
            replay_s=prices.aws_lambda.replay_s,
            warm_s=m.scaledown_s,
            warm_start_s=0.0,
            tail_s=m.scaledown_s,
        )
        gpu = None
        if profile.gpu.steps:
            if prices.gpu.hour_usd("modal", profile.gpu.type) is None:
                problems += (f"Modal offers no {profile.gpu.type} GPU",)
            gpu = PoolSpec(
                slots=m.gpu_concurrency,
                scaling="scheduled",
                start_s=prices.gpu.container_start_s,
                load_s=profile.gpu.model_load_s,
                poll_s=m.schedule_s,
                idle_s=UNTIL_IDLE_S,
                budget_s=budget,
                grace_s=grace,
                step_s=profile.gpu.step_s,
                replay_s=prices.aws_lambda.replay_s,
                warm_s=m.scaledown_s,
                tail_s=m.scaledown_s,
            )
        return Setup(
            cpu=pool,
            gpu=gpu,
            limit_s=budget,
            replay_s=prices.aws_lambda.replay_s,
            settings={
                "cores": m.cpu,
                "memory_gb": m.memory_gb,
                "max_seconds": budget,
                "worker_concurrency": slots,
                "schedule_s": m.schedule_s,
                "gpu_type": profile.gpu.type if profile.gpu.steps else "",
            },
            problems=problems
            + _drain_problems(profile, budget, "Modal")
            + _capacity_problems(profile, slots, budget, m.schedule_s, "Modal", m.max_containers),
        )

    def cost(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> Cost:
        m = prices.modal
        per_s = (m.cpu * m.core_second_usd + m.memory_gb * m.gib_second_usd) * m.region_multiplier
        used = usage.cpu.slot_s / max(usage.cpu.instance_s * setup.cpu.slots, 1e-9)
        cost = split_capacity(usage.cpu.instance_s * per_s, used)
        cost = cost + Cost(0, 0, m.plan_month_usd + prices.shared.database_month_usd)
        gpu_hour = prices.gpu.hour_usd("modal", profile.gpu.type) or 0.0
        return cost + _gpu_cost(usage, gpu_hour * m.region_multiplier + per_s * 3600)

    def ops_hours(self, profile: Profile, prices: Prices) -> float:
        return prices.ops_hours.serverless

    def risks(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> list[str]:
        risks = _limit_risks(setup, usage, "Modal")
        risks.append(_schedule_risk(prices.modal.schedule_s, "Modal"))
        risks.append("billed for every second an invocation waits on an LLM")
        if profile.gpu.steps:
            risks.append(
                f"each GPU invocation loads the model ({profile.gpu.model_load_s:.0f} s) before "
                "its first GPU step"
            )
        return risks

    def deploy(self, app_ref: str, setup: Setup) -> tuple[str | None, str]:
        s = setup.settings
        gpu = setup.gpu is not None
        slots = int(s["worker_concurrency"])
        command = deploy_command(
            "modal",
            app_ref,
            max_seconds=s["max_seconds"],
            concurrency=slots if slots != DEFAULT_CONCURRENCY else None,
            gpu_queue=GPU_QUEUE if gpu else None,
            gpu_type=str(s["gpu_type"]) if gpu else None,
        )
        what = "a Modal app whose scheduled function runs the drain-mode worker every minute"
        if gpu:
            what += f", and a {s['gpu_type']} GPU function for the gpu queue"
        return command, what
