"""Serverless architectures: AWS Lambda, Cloud Run scaled to zero, Modal.

Each invocation runs `bosun worker --drain --max-seconds N`: it serves runs until its time
budget ends, then hands back what is left, so a run longer than the platform's limit
continues in the next invocation (replaying its journal) instead of failing. Without
bosun's durable steps (`durable=False`) such a run is killed at the limit.
"""

from __future__ import annotations

from bosun.plan.deploy import deploy_command
from bosun.plan.model import NO_COST, Architecture, Cost, Setup, Usage, slots_per_worker
from bosun.plan.prices import Prices
from bosun.plan.profile import Profile
from bosun.plan.simulate import PoolSpec


def _drain_problems(profile: Profile, budget: float, limit: float, name: str) -> tuple[str, ...]:
    longest = profile.runs.longest_step
    if longest > budget:
        return (
            f"a {longest:.0f} s step cannot finish inside one {limit:.0f} s {name} invocation, "
            "even with drain mode (split the step)",
        )
    return ()


def _limit_risks(profile: Profile, setup: Setup, usage: Usage, name: str) -> list[str]:
    limit = setup.limit_s or 0
    if not usage.reruns:
        return []
    if setup.durable:
        return [
            f"runs longer than one {name} invocation's {limit / 60:.0f}-minute drain budget "
            f"continue in the next ({usage.reruns:,.0f} re-invocations a month); without "
            "bosun's durable steps they would fail"
        ]
    return [f"{usage.failed:,.0f} runs a month exceed the {limit / 60:.0f}-minute limit and fail"]


class AwsLambda(Architecture):
    """AWS Lambda: one run per invocation, billed per GB-second while it runs (LLM waits too)."""

    family = "serverless"
    serverless = True

    def __init__(self, *, durable: bool = True) -> None:
        self.durable = durable
        self.key = "lambda" if durable else "lambda-plain"
        self.label = "AWS Lambda (bosun drain mode)" if durable else "AWS Lambda, no durable steps"

    def setup(self, profile: Profile, prices: Prices) -> Setup:
        lam = prices.aws_lambda
        budget = lam.max_seconds - lam.drain_margin_s
        pool = PoolSpec(
            slots=1,
            scaling="per_request",
            max_instances=lam.concurrency_limit,
            start_s=lam.cold_start_s,
            idle_s=lam.keep_warm_s,
        )
        problems = _drain_problems(profile, budget, lam.max_seconds, "Lambda")
        if profile.gpu.steps:
            problems += ("Lambda has no GPUs",)
        memory = max(lam.min_memory_gb, profile.runs.function_memory_gb, profile.runs.cpu * 1.769)
        return Setup(
            cpu=pool,
            limit_s=budget if self.durable else lam.max_seconds,
            durable=self.durable,
            replay_s=lam.replay_s,
            settings={"memory_gb": round(memory, 3), "max_seconds": int(budget)},
            problems=problems,
        )

    def cost(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> Cost:
        lam = prices.aws_lambda
        gb = setup.settings["memory_gb"]
        work = usage.cpu.slot_s * gb * lam.gb_second_usd
        init = usage.cpu.cold_starts * lam.cold_start_s * gb * lam.gb_second_usd
        fees = usage.cpu.pieces * lam.request_usd + prices.shared.database_month_usd
        return Cost(work, init, fees)

    def ops_hours(self, profile: Profile, prices: Prices) -> float:
        return prices.ops_hours.serverless

    def risks(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> list[str]:
        risks = _limit_risks(profile, setup, usage, "Lambda")
        risks.append("billed for every second a run waits on an LLM")
        if profile.peak_concurrency > 0.8 * prices.aws_lambda.concurrency_limit:
            risks.append("peak concurrency is close to the account's Lambda concurrency limit")
        return risks

    def deploy(self, app_ref: str, setup: Setup) -> tuple[str | None, str]:
        seconds = setup.settings["max_seconds"]
        return deploy_command("lambda", app_ref, max_seconds=seconds), "drain-mode invocations"


class CloudRunServerless(Architecture):
    """Cloud Run jobs running the drain-mode worker; L4 GPUs for GPU steps."""

    key = "cloud-run"
    label = "Cloud Run jobs (bosun drain mode)"
    family = "serverless"
    serverless = True

    def setup(self, profile: Profile, prices: Prices) -> Setup:
        cr = prices.cloud_run
        budget = cr.max_seconds - prices.aws_lambda.drain_margin_s
        slots = min(
            cr.concurrency, slots_per_worker(profile, cr.instance_vcpu, cr.instance_gib, prices)
        )
        pool = PoolSpec(
            slots=slots, scaling="per_request", start_s=cr.cold_start_s, idle_s=cr.keep_warm_s
        )
        problems = _drain_problems(profile, budget, cr.max_seconds, "Cloud Run")
        gpu = None
        if profile.gpu.steps:
            if profile.gpu.type not in prices.gpu.cloud_run_second_usd:
                problems += (f"Cloud Run offers no {profile.gpu.type} GPU",)
            gpu = PoolSpec(
                slots=1,
                scaling="per_request",
                start_s=prices.gpu.container_start_s + profile.gpu.model_load_s,
                idle_s=cr.keep_warm_s,
            )
        settings = {"max_seconds": int(budget), "worker_concurrency": slots}
        return Setup(
            cpu=pool,
            gpu=gpu,
            limit_s=budget,
            replay_s=prices.aws_lambda.replay_s,
            settings=settings,
            problems=problems,
        )

    def cost(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> Cost:
        cr = prices.cloud_run
        per_s = cr.instance_vcpu * cr.vcpu_second_usd + cr.instance_gib * cr.gib_second_usd
        used = usage.cpu.slot_s / max(setup.cpu.slots * usage.cpu.busy_s, 1e-9)
        busy = usage.cpu.busy_s * per_s
        idle = (usage.cpu.instance_s - usage.cpu.busy_s) * per_s  # a task finding no more work
        fees = prices.shared.database_month_usd
        cost = Cost(busy * min(1.0, used), busy * (1 - min(1.0, used)) + idle, fees)
        if usage.gpu is not None:
            # GPU instances bill instance-based: every second they are up, idle or not.
            gpu_s = prices.gpu.cloud_run_second_usd.get(profile.gpu.type, 0.0)
            per_gpu = gpu_s + cr.gpu_instance_vcpu * cr.vcpu_second_usd
            per_gpu += cr.gpu_instance_gib * cr.gib_second_usd
            cost = cost + Cost(
                usage.gpu.slot_s * per_gpu, (usage.gpu.instance_s - usage.gpu.slot_s) * per_gpu, 0
            )
        return cost

    def ops_hours(self, profile: Profile, prices: Prices) -> float:
        return prices.ops_hours.serverless

    def risks(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> list[str]:
        risks = _limit_risks(profile, setup, usage, "Cloud Run")
        risks.append("a run arriving when no task runs waits for a job execution to start")
        if profile.gpu.steps:
            risks.append(
                f"cold GPU instances load the model ({profile.gpu.model_load_s:.0f} s) "
                "before the first GPU step"
            )
        return risks

    def deploy(self, app_ref: str, setup: Setup) -> tuple[str | None, str]:
        seconds = setup.settings["max_seconds"]
        return deploy_command("cloud-run", app_ref, max_seconds=seconds), (
            "a Cloud Run job; start an execution when runs are queued (e.g. Cloud Scheduler)"
        )


class Modal(Architecture):
    """Modal functions: per-second CPU, memory and GPU, billed while a container is up."""

    key = "modal"
    label = "Modal (serverless containers and GPUs)"
    family = "serverless"
    serverless = True

    def setup(self, profile: Profile, prices: Prices) -> Setup:
        m = prices.modal
        pool = PoolSpec(
            slots=1, scaling="per_request", start_s=m.cold_start_s, idle_s=m.keep_warm_s
        )
        gpu = None
        if profile.gpu.steps:
            gpu = PoolSpec(
                slots=1,
                scaling="per_request",
                start_s=prices.gpu.container_start_s + profile.gpu.model_load_s,
                idle_s=m.keep_warm_s,
            )
        budget = m.max_seconds - prices.aws_lambda.drain_margin_s
        cores = max(m.min_cores, profile.runs.cpu / 2)
        return Setup(
            cpu=pool,
            gpu=gpu,
            limit_s=budget,
            replay_s=prices.aws_lambda.replay_s,
            settings={"cores": cores, "max_seconds": int(budget)},
            problems=_drain_problems(profile, budget, m.max_seconds, "Modal"),
        )

    def cost(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> Cost:
        m = prices.modal
        per_s = setup.settings["cores"] * m.core_second_usd
        per_s = (per_s + profile.runs.function_memory_gb * m.gib_second_usd) * m.region_multiplier
        cpu = Cost(
            usage.cpu.slot_s * per_s,
            (usage.cpu.instance_s - usage.cpu.slot_s) * per_s,
            m.plan_month_usd + prices.shared.database_month_usd,
        )
        gpu = NO_COST
        if usage.gpu is not None:
            per_gpu = prices.gpu.modal_second_usd[profile.gpu.type] * m.region_multiplier
            gpu = Cost(
                usage.gpu.slot_s * per_gpu, (usage.gpu.instance_s - usage.gpu.slot_s) * per_gpu, 0
            )
        return cpu + gpu

    def ops_hours(self, profile: Profile, prices: Prices) -> float:
        return prices.ops_hours.serverless

    def risks(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> list[str]:
        risks = ["billed for every second a run waits on an LLM"]
        if profile.gpu.steps:
            risks.append(
                f"a GPU container scaled to zero loads the model ({profile.gpu.model_load_s:.0f} s)"
                " before the chain's first GPU step"
            )
        return risks

    def deploy(self, app_ref: str, setup: Setup) -> tuple[str | None, str]:
        seconds = setup.settings["max_seconds"]
        return None, (
            "no bosun deploy target for Modal: run a drain-mode bosun worker "
            f"(a {seconds} s budget) inside a Modal function"
        )
