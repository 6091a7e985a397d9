"""Architectures with long-running bosun workers: one VM, managed containers, Kubernetes.

A worker process serves many runs at once (runs mostly wait on LLMs), so capacity is
bought in workers and shared; what is paid for and not used is reported as idle. Compose
and Kubernetes are simulated as `bosun deploy` writes them: Compose's workers run 16 runs
each; the chart's pods request 500m CPU, are limited to 1 GiB and run 16 runs, and KEDA
polls every 5 s (prices' kubernetes section; tests/unit/plan/test_artifacts.py holds them
equal to the rendered chart).
"""

from __future__ import annotations

import math

from bosun.plan.database import describe, kubernetes_load
from bosun.plan.deploy import deploy_command
from bosun.plan.model import (
    MONTH_S,
    NO_COST,
    Architecture,
    Cost,
    Setup,
    Usage,
    gpu_peak,
    max_instances,
    runs_that_fit,
    slots_per_worker,
    split_capacity,
)
from bosun.plan.prices import HOURS_PER_MONTH, Prices
from bosun.plan.profile import Profile
from bosun.plan.simulate import NodeSpec, PoolSpec

GPU_QUEUE = "gpu"


def _fixed_gpu_pool(profile: Profile) -> PoolSpec | None:
    if not profile.gpu.steps:
        return None
    count = gpu_peak(profile)
    return PoolSpec(slots=1, scaling="fixed", min_instances=count, max_instances=count)


def _vm_gpu_problems(profile: Profile, prices: Prices) -> tuple[str, ...]:
    sheet = prices.gpu.vm_sheet
    if profile.gpu.steps and prices.gpu.hour_usd(sheet, profile.gpu.type) is None:
        return (f"the {sheet} GPU price sheet offers no {profile.gpu.type}",)
    return ()


def _fixed_gpu_cost(profile: Profile, prices: Prices, usage: Usage) -> Cost:
    """Always-on GPU VMs: one GPU each, priced per hour from the VM sheet."""
    if usage.gpu is None:
        return NO_COST
    hour = prices.gpu.hour_usd(prices.gpu.vm_sheet, profile.gpu.type) or 0.0
    billed = usage.gpu.instance_s / 3600 * hour
    return split_capacity(billed, usage.gpu.slot_s / max(usage.gpu.instance_s, 1e-9))


def _team_risks(profile: Profile) -> list[str]:
    if profile.team.devops == 0 and profile.team.platform_engineers == 0:
        return ["nobody on the team owns servers: patching, backups and on-call fall on developers"]
    return []


class ComposeVm(Architecture):
    """Docker Compose on one VM: PostgreSQL, the API and N workers, sized for the peak; with
    GPU steps, the bundle's GPU worker on the same (GPU) VM."""

    key = "compose-vm"
    label = "Docker Compose on one VM"
    family = "vm"

    def setup(self, profile: Profile, prices: Prices) -> Setup:
        vm = prices.vm
        runs = profile.runs
        peak = profile.peak_concurrency
        need_cpu = peak * runs.cpu / vm.target_utilization + vm.system_vcpu
        slots = prices.compose.worker_concurrency  # each worker replica, as deployed
        workers = max(1, math.ceil(peak / slots))
        need_gib = (workers * runs.process_memory_gb + peak * runs.memory_gb) / (
            vm.target_utilization
        ) + 2.0  # PostgreSQL and the API
        fits = [s for s in vm.sizes_vcpu if s >= need_cpu and s * vm.gib_per_vcpu >= need_gib]
        vcpu = fits[0] if fits else max(vm.sizes_vcpu)
        problems: tuple[str, ...] = ()
        if not fits:
            problems = (f"needs {need_cpu:.0f} vCPU: more than the largest VM",)
        problems += _vm_gpu_problems(profile, prices)
        pool = PoolSpec(slots=slots, scaling="fixed", min_instances=workers, max_instances=workers)
        settings = {"vm_vcpu": vcpu, "workers": workers, "worker_concurrency": slots}
        gpu = None
        if profile.gpu.steps:
            c = prices.compose
            gpu = PoolSpec(
                slots=c.gpu_worker_concurrency,
                scaling="fixed",
                min_instances=c.gpu_workers,
                max_instances=c.gpu_workers,
            )
            settings["gpu_workers"] = c.gpu_workers
        return Setup(cpu=pool, gpu=gpu, settings=settings, problems=problems)

    def cost(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> Cost:
        vcpu = setup.settings["vm_vcpu"]
        billed = vcpu * prices.vm.vcpu_hour_usd * HOURS_PER_MONTH
        used = usage.cpu.slot_s * profile.runs.cpu / (vcpu * MONTH_S)
        return split_capacity(billed, used) + _fixed_gpu_cost(profile, prices, usage)

    def ops_hours(self, profile: Profile, prices: Prices) -> float:
        return prices.ops_hours.compose

    def risks(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> list[str]:
        risks = ["one VM is a single point of failure: its loss stops every run until replaced"]
        if profile.arrivals.pattern != "steady":
            risks.append("sized for the peak: the VM idles between bursts or at night")
        if usage.gpu is not None and profile.gpu.steps:
            risks.append(
                f"one GPU worker ({prices.compose.gpu_worker_concurrency} runs at once) on one "
                "GPU: more GPUs need a bigger VM and `--scale worker-gpu=N`"
            )
        return risks + _team_risks(profile)

    def deploy(self, app_ref: str, setup: Setup) -> tuple[str | None, str]:
        workers = setup.settings["workers"]
        if setup.gpu is not None:
            command = deploy_command("compose", app_ref, workers=workers, gpu_pool=GPU_QUEUE)
            return command, (
                "one GPU VM with Docker Compose; its GPU worker serves the gpu queue: "
                "docker compose --profile gpu up -d"
            )
        return deploy_command("compose", app_ref, workers=workers), "one VM with Docker Compose"


class ManagedContainers(Architecture):
    """A Cloud Run service with instance-based billing and min instances at the peak."""

    key = "managed-containers"
    label = "Managed containers (Cloud Run service, min instances)"
    family = "containers"

    def setup(self, profile: Profile, prices: Prices) -> Setup:
        c = prices.containers
        slots = slots_per_worker(profile, c.instance_vcpu, c.instance_gib, prices)
        count = math.ceil(profile.peak_concurrency / slots)
        pool = PoolSpec(slots=slots, scaling="fixed", min_instances=count, max_instances=count)
        problems: tuple[str, ...] = ()
        gpu = None
        if profile.gpu.steps:
            if prices.gpu.hour_usd("cloud-run", profile.gpu.type) is None:
                problems = (f"Cloud Run offers no {profile.gpu.type} GPU",)
            gpu = _fixed_gpu_pool(profile)
        settings = {"min_instances": count, "worker_concurrency": slots}
        return Setup(cpu=pool, gpu=gpu, settings=settings, problems=problems)

    def cost(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> Cost:
        c = prices.containers
        per_s = c.instance_vcpu * c.vcpu_second_usd + c.instance_gib * c.gib_second_usd
        billed = usage.cpu.instance_s * per_s
        used = usage.cpu.slot_s * profile.runs.cpu / max(usage.cpu.instance_s * c.instance_vcpu, 1)
        cost = split_capacity(billed, used) + Cost(0, 0, prices.shared.database_month_usd)
        if usage.gpu is not None:
            gpu_s = (prices.gpu.hour_usd("cloud-run", profile.gpu.type) or 0.0) / 3600
            per_gpu = gpu_s + 4 * c.vcpu_second_usd + 16 * c.gib_second_usd
            share = usage.gpu.slot_s / max(usage.gpu.instance_s, 1e-9)
            cost = cost + split_capacity(usage.gpu.instance_s * per_gpu, share)
        return cost

    def ops_hours(self, profile: Profile, prices: Prices) -> float:
        return prices.ops_hours.containers

    def risks(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> list[str]:
        risks = [
            "request-driven autoscaling never sees bosun's queue: instances stay at the peak, "
            "so raise min instances by hand as traffic grows"
        ]
        if profile.arrivals.pattern != "steady":
            risks.append("min instances sized for the peak are paid for between bursts")
        return risks

    def deploy(self, app_ref: str, setup: Setup) -> tuple[str | None, str]:
        count = setup.settings["min_instances"]
        return None, (
            "no bosun deploy target for an always-on service (`bosun deploy cloud-run` makes "
            f"a drain-mode job); by hand, `bosun worker {app_ref}` as a Cloud "
            f"Run service with {count} min instances and CPU always allocated"
        )


class KubernetesKeda(Architecture):
    """A managed cluster; KEDA scales the chart's worker pods on bosun's ready + in-flight
    count, one pod per `concurrency` of them."""

    key = "kubernetes-keda"
    label = "Kubernetes with KEDA"
    family = "kubernetes"

    def setup(self, profile: Profile, prices: Prices) -> Setup:
        k = prices.kubernetes
        fit = runs_that_fit(profile, k.pod_vcpu, k.pod_gib, prices)
        slots = max(1, min(k.worker_concurrency, fit))
        problems: tuple[str, ...] = ()
        notes: tuple[str, ...] = ()
        if fit < 1:
            problems = (
                f"one run does not fit the chart's worker pod ({k.pod_vcpu:g} vCPU requested, "
                f"{k.pod_gib:g} GiB limit): raise workerDefaults.resources",
            )
        elif fit < k.worker_concurrency:
            notes = (
                f"set workerDefaults.concurrency: {fit} in the values file: the chart's pod "
                f"({k.pod_vcpu:g} vCPU requested, {k.pod_gib:g} GiB limit) holds {fit} of these "
                f"runs, not {k.worker_concurrency}",
            )
        low = 0 if k.scale_to_zero else k.warm_min_pods
        high = max_instances(profile.peak_concurrency, slots)
        expected = math.ceil(profile.mean_concurrency / slots)
        per_node = min(
            math.floor(k.node_vcpu / k.pod_vcpu), math.floor(k.node_gib / k.pod_request_gib)
        )
        nodes = NodeSpec(
            pods_per_node=max(1, per_node),
            provision_s=k.node_provision_s,
            scale_down_s=k.node_scale_down_s,
        )
        pool = PoolSpec(
            slots=slots,
            scaling="polling",
            min_instances=low,
            max_instances=high,
            start_s=k.pod_start_s,
            poll_s=k.polling_s,
            idle_s=k.cooldown_s,
            initial=min(high, max(low, expected)),
            nodes=nodes,
        )
        gpu = None
        if profile.gpu.steps:
            # The GPU pool (`--gpu-pool gpu`): the same replica bounds, one GPU per replica.
            gpu = PoolSpec(
                slots=k.gpu_pool_concurrency,
                scaling="polling",
                min_instances=low,
                max_instances=high,
                start_s=prices.gpu.node_provision_s + profile.gpu.model_load_s,
                poll_s=k.polling_s,
                idle_s=k.cooldown_s,
            )
            problems += _vm_gpu_problems(profile, prices)
        database = kubernetes_load(profile, prices, [high] * (2 if gpu else 1))
        if database.over(prices):
            notes += (
                f"set pgbouncer.enabled: true and database.maxConnections: "
                f"{prices.database.max_connections} in the values file: {database.processes} "
                f"bosun processes at full scale would open up to {database.connections:,} "
                f"connections, more than the database's max_connections; through the chart's "
                f"PgBouncer it sees {database.pooled_connections}",
            )
        settings = {
            "min_replicas": low,
            "max_replicas": high,
            "worker_concurrency": slots,
            "database_connections": database.connections,
            "database_vcpu": round(database.vcpu, 3),
        }
        return Setup(cpu=pool, gpu=gpu, settings=settings, problems=problems, notes=notes)

    def cost(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> Cost:
        k = prices.kubernetes
        hour = prices.vm.vcpu_hour_usd
        worker_hour = hour * (1 - k.spot_fraction * prices.vm.spot_discount)
        worker_vcpu_s = usage.cpu.node_s * k.node_vcpu
        floor_vcpu_s = max(0.0, k.min_nodes * k.node_vcpu - k.system_vcpu) * MONTH_S
        billed = max(worker_vcpu_s, floor_vcpu_s) / 3600 * worker_hour
        used = usage.cpu.slot_s * profile.runs.cpu / max(worker_vcpu_s, floor_vcpu_s, 1)
        system = k.system_vcpu * hour * HOURS_PER_MONTH
        fees = k.control_plane_hour_usd * HOURS_PER_MONTH + prices.shared.database_month_usd
        cost = split_capacity(billed, used) + Cost(0, system, fees)
        if usage.gpu is not None:
            hour_gpu = prices.gpu.hour_usd(prices.gpu.vm_sheet, profile.gpu.type) or 0.0
            billed_gpu = usage.gpu.instance_s / 3600 * hour_gpu
            share = usage.gpu.slot_s / max(usage.gpu.instance_s, 1e-9)
            cost = cost + split_capacity(billed_gpu, share)
        return cost

    def ops_hours(self, profile: Profile, prices: Prices) -> float:
        if profile.team.platform_engineers:
            return prices.ops_hours.kubernetes_with_platform_team
        return prices.ops_hours.kubernetes

    def spot_reruns(self, prices: Prices, usage: Usage) -> float:
        """Runs whose step in flight re-runs after a spot node is reclaimed, a month."""
        k = prices.kubernetes
        node_months = usage.cpu.node_s / MONTH_S * k.spot_fraction
        runs_per_node = usage.cpu.slot_s / max(usage.cpu.node_s, 1e-9)
        return node_months * k.spot_reclaims_per_node_month * runs_per_node

    def risks(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> list[str]:
        k = prices.kubernetes
        risks = []
        if not profile.team.platform_engineers:
            risks.append("no platform engineer: upgrades, node pools and KEDA need one")
        risks.append(
            f"KEDA polls every {k.polling_s:.0f} s and new nodes take {k.node_provision_s:.0f} s:"
            " a burst waits for scale-out"
        )
        if k.spot_fraction > 0:
            risks.append(
                f"{k.spot_fraction:.0%} of worker nodes on spot: a reclaim re-runs the steps in "
                "flight (bosun's journal keeps the rest)"
            )
        if profile.runs.longest_step > 600:
            risks.append(
                "steps over 10 minutes outlive the eviction grace period on scale-in: "
                "run them as a KEDA ScaledJob"
            )
        if profile.gpu.steps and k.scale_to_zero:
            risks.append("the GPU pool scales to zero: the first GPU step waits for a node")
        pools = [int(setup.settings["max_replicas"])] * (2 if setup.gpu else 1)
        risks += describe(kubernetes_load(profile, prices, pools), prices)
        return risks

    def deploy(self, app_ref: str, setup: Setup) -> tuple[str | None, str]:
        s = setup.settings
        command = deploy_command(
            "helm",
            app_ref,
            min_replicas=s["min_replicas"],
            max_replicas=s["max_replicas"],
            scale_to_zero=s["min_replicas"] == 0,
            gpu_pool=GPU_QUEUE if setup.gpu is not None else None,
        )
        return command, "a Helm release with KEDA; `bosun deploy manifests` for plain YAML"
