"""Every price and limit the planner uses: a documented default, overridable by key.

The defaults are list prices (on-demand, us-east-1 / us-central1, Linux) as the authors knew
them in January 2026. Providers change them: check each `SOURCES` page before relying on a
result, and override what differs with `--set section.key=value` or `--prices FILE.yaml`.
Values that are judgements rather than prices (ops hours, start delays) say so in SOURCES.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from bosun.errors import ConfigurationError

PRICED_ON = "2026-01"
HOURS_PER_MONTH = 730.0  # the convention every provider's calculator uses
GPU_TYPES = ("l4", "a10g", "a100", "h100")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VmPrices(_Section):
    """A general-purpose VM (EC2 m7i): Docker Compose runs on one, Kubernetes nodes are these."""

    vcpu_hour_usd: float = 0.0504  # m7i.xlarge: $0.2016/h for 4 vCPU, 16 GiB
    gib_per_vcpu: float = 4.0
    sizes_vcpu: tuple[int, ...] = (2, 4, 8, 16, 32, 48, 64, 96)
    target_utilization: float = 0.7  # headroom so a burst does not starve the database
    system_vcpu: float = 1.0  # PostgreSQL, the bosun API, Prometheus on the same VM
    spot_discount: float = 0.65  # typical m7i spot saving against on-demand


class GpuPrices(_Section):
    """Per-GPU hourly or per-second prices by GPU type; absent means not offered."""

    vm_hour_usd: dict[str, float] = {"l4": 0.8048, "a10g": 1.006, "a100": 4.096, "h100": 6.88}
    modal_second_usd: dict[str, float] = {
        "l4": 0.000222,
        "a10g": 0.000306,
        "a100": 0.000694,
        "h100": 0.001097,
    }
    cloud_run_second_usd: dict[str, float] = {"l4": 0.0001867}
    container_start_s: float = 5.0  # serverless GPU container, before the model loads
    node_provision_s: float = 240.0  # a GPU node from zero: provision, driver, image pull


class KubernetesPrices(_Section):
    """A managed cluster (EKS) with KEDA scaling bosun worker pods on queue depth."""

    control_plane_hour_usd: float = 0.10
    node_vcpu: int = 4
    min_nodes: int = 2  # two zones, so one node's loss does not stop the cluster
    system_vcpu: float = 1.0  # kube-system, KEDA, the bosun API, monitoring
    spot_fraction: float = 0.7  # share of worker nodes on spot (bosun's steps survive reclaims)
    spot_reclaims_per_node_month: float = 0.05
    pod_vcpu: float = 1.0
    pod_gib: float = 2.0
    worker_concurrency: int = 16  # bosun worker --concurrency in each pod
    polling_s: float = 30.0  # KEDA pollingInterval default
    cooldown_s: float = 300.0  # KEDA cooldownPeriod default
    pod_start_s: float = 15.0
    node_provision_s: float = 90.0
    node_scale_down_s: float = 600.0  # cluster-autoscaler scale-down-unneeded-time default
    warm_min_pods: int = 1
    scale_to_zero: bool = False


class ContainerPrices(_Section):
    """Managed containers: a Cloud Run service, instance-based billing, min instances always
    on (a worker pulls from the database, so request-driven autoscaling never sees its queue)."""

    vcpu_second_usd: float = 0.000018
    gib_second_usd: float = 0.000002
    instance_vcpu: float = 1.0
    instance_gib: float = 2.0


class LambdaPrices(_Section):
    """AWS Lambda (x86): each run (or each piece of it in drain mode) is one invocation."""

    gb_second_usd: float = 0.0000166667
    request_usd: float = 0.0000002
    max_seconds: float = 900.0
    min_memory_gb: float = 0.128
    gb_per_vcpu: float = 1.769  # Lambda gives one vCPU per 1,769 MB
    cold_start_s: float = 1.0  # a Python container image with bosun, since INIT is billed
    keep_warm_s: float = 600.0  # an idle environment is kept (unbilled) about this long
    concurrency_limit: int = 1000
    drain_margin_s: float = 60.0  # bosun worker --drain stops claiming this long before the end
    replay_s: float = 0.5  # resuming a run: load the journal, replay completed steps


class CloudRunPrices(_Section):
    """Cloud Run jobs: tasks running bosun's drain-mode worker, started when work is ready,
    billed per second while a task runs, none when idle."""

    vcpu_second_usd: float = 0.000018
    gib_second_usd: float = 0.000002
    max_seconds: float = 3600.0  # the task timeout bosun deploys with (tasks allow 168 h)
    instance_vcpu: float = 1.0
    instance_gib: float = 2.0
    gpu_instance_vcpu: float = 4.0  # Cloud Run GPUs need at least 4 vCPU, 16 GiB
    gpu_instance_gib: float = 16.0
    concurrency: int = 16  # runs one task serves (bosun worker --concurrency)
    cold_start_s: float = 10.0  # a job execution: schedule, pull, start
    keep_warm_s: float = 5.0  # a drain worker exits once idle (--until-idle)


class ModalPrices(_Section):
    """Modal functions: per-second CPU, memory and GPU, scaled to zero."""

    core_second_usd: float = 0.0000131  # one physical core = 2 vCPU
    gib_second_usd: float = 0.00000222
    min_cores: float = 0.125
    region_multiplier: float = 1.5  # workers pinned near the database's region cost 1.5-1.75x
    plan_month_usd: float = 0.0  # Starter plan; Team is $250/month
    cold_start_s: float = 2.0
    keep_warm_s: float = 60.0  # scaledown_window default
    max_seconds: float = 86400.0


class TemporalPrices(_Section):
    """Temporal Cloud: per-action pricing; the workers still run on your containers."""

    action_usd: float = 0.00005  # $50 per million, the first volume tier
    plan_month_usd: float = 100.0  # Essentials plan minimum
    actions_per_run: float = 2.0  # workflow started, completed
    actions_per_step: float = 1.0  # activity started (retries and heartbeats add more)
    payload_kb_limit: float = 2048.0


class StepFunctionPrices(_Section):
    """AWS Step Functions Standard, each step a Lambda task."""

    transition_usd: float = 0.000025  # $0.025 per 1,000 state transitions
    transitions_per_run: float = 2.0
    transitions_per_step: float = 1.0
    state_kb_limit: float = 256.0


class SharedPrices(_Section):
    """Costs every architecture but Compose and managed workflows carries."""

    database_month_usd: float = 15.0  # RDS db.t4g.micro PostgreSQL and 20 GB of storage
    engineer_hour_usd: float = 100.0


class OpsHours(_Section):
    """Engineer hours a month to run each architecture: the authors' estimates."""

    compose: float = 6.0
    containers: float = 3.0
    kubernetes: float = 30.0  # without a platform team: learn, upgrade, debug a cluster
    kubernetes_with_platform_team: float = 8.0
    serverless: float = 2.0
    temporal: float = 4.0
    step_functions: float = 6.0


class Prices(_Section):
    """All prices and limits, by section; `Prices()` holds the documented defaults."""

    vm: VmPrices = VmPrices()
    gpu: GpuPrices = GpuPrices()
    kubernetes: KubernetesPrices = KubernetesPrices()
    containers: ContainerPrices = ContainerPrices()
    aws_lambda: LambdaPrices = LambdaPrices()
    cloud_run: CloudRunPrices = CloudRunPrices()
    modal: ModalPrices = ModalPrices()
    temporal: TemporalPrices = TemporalPrices()
    step_functions: StepFunctionPrices = StepFunctionPrices()
    shared: SharedPrices = SharedPrices()
    ops_hours: OpsHours = OpsHours()


SOURCES: dict[str, str] = {
    "vm": "https://aws.amazon.com/ec2/pricing/on-demand/ (m7i, us-east-1); "
    "spot: https://aws.amazon.com/ec2/spot/pricing/",
    "gpu": "EC2 g6.xlarge, g5.xlarge, p4d/p5 per GPU: https://aws.amazon.com/ec2/pricing/on-demand/;"
    " https://modal.com/pricing; https://cloud.google.com/run/pricing (GPU); start delays are "
    "estimates",
    "kubernetes": "https://aws.amazon.com/eks/pricing/; KEDA defaults: "
    "https://keda.sh/docs/latest/reference/scaledobject-spec/; cluster-autoscaler FAQ; "
    "start delays and spot reclaim rate (https://aws.amazon.com/ec2/spot/instance-advisor/) "
    "are estimates",
    "containers": "https://cloud.google.com/run/pricing (Tier 1, instance-based billing)",
    "aws_lambda": "https://aws.amazon.com/lambda/pricing/; limits: "
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    "cloud_run": "https://cloud.google.com/run/pricing (Tier 1, jobs and instance-based); "
    "limits: https://cloud.google.com/run/quotas; start delays are estimates",
    "modal": "https://modal.com/pricing (base rates; region selection multiplies them); "
    "https://modal.com/docs/guide/timeouts; https://modal.com/docs/guide/cold-start",
    "temporal": "https://temporal.io/pricing; https://docs.temporal.io/cloud/pricing; "
    "https://docs.temporal.io/cloud/limits",
    "step_functions": "https://aws.amazon.com/step-functions/pricing/; "
    "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html",
    "shared": "https://aws.amazon.com/rds/postgresql/pricing/; the engineer rate is an estimate",
    "ops_hours": "the authors' estimates (not prices): override with your own",
}


def flatten(prices: Prices) -> dict[str, Any]:
    """`section.key` (and `section.key.gpu`) → value, for tables, docs and `--set`."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)
        else:
            flat[prefix] = value

    for section, values in prices.model_dump().items():
        for key, value in values.items():
            walk(f"{section}.{key}", value)
    return flat


def with_overrides(prices: Prices, overrides: dict[str, Any]) -> Prices:
    """A copy of `prices` with `section.key[.gpu]` overrides applied (values may be text).

    Raises:
        ConfigurationError: an unknown key or a value of the wrong type.
    """
    data = prices.model_dump()
    known = flatten(prices)
    for key, value in overrides.items():
        parts = key.split(".")
        is_new_gpu = len(parts) == 3 and parts[0] == "gpu" and f"gpu.{parts[1]}" in _dict_keys()
        if key not in known and not is_new_gpu:
            raise ConfigurationError(
                f"unknown price or limit {key!r}: `bosun plan --list-prices` shows every key"
            )
        target = data
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = _parse(value)
    try:
        return Prices.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"bad price override: {problems}") from None


def _dict_keys() -> set[str]:
    return {f"gpu.{name}" for name, v in GpuPrices().model_dump().items() if isinstance(v, dict)}


def _parse(value: Any) -> Any:
    """`--set` values arrive as text: read them as YAML scalars (numbers, booleans, lists)."""
    if isinstance(value, str):
        return yaml.safe_load(value)
    return value


def load_prices(path: str | Path, base: Prices | None = None) -> Prices:
    """Prices from a YAML file of sections (`aws_lambda: {gb_second_usd: 0.00002}`).

    Raises:
        ConfigurationError: the file is missing, not YAML, or has unknown keys.
    """
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigurationError(f"cannot read prices file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"prices file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"prices file {path} must map sections to keys and values")
    flat: dict[str, Any] = {}
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigurationError(f"prices file {path}: {section} must map keys to values")
        for key, value in values.items():
            if isinstance(value, dict):
                flat.update({f"{section}.{key}.{k}": v for k, v in value.items()})
            else:
                flat[f"{section}.{key}"] = value
    return with_overrides(base or Prices(), flat)
