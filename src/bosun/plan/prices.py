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
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from bosun.errors import ConfigurationError

PRICED_ON = "2026-01"
HOURS_PER_MONTH = 730.0  # the convention every provider's calculator uses
GPU_TYPES = ("l4", "a10g", "a100", "h100", "h200", "b200")


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


class GpuSheet(_Section):
    """One provider's GPU prices, per GPU-hour, with where and when they were read. A GPU
    type the sheet does not list is not offered there."""

    source: str
    priced_on: str
    hour_usd: dict[str, float]


GPU_SHEETS: dict[str, GpuSheet] = {
    "aws": GpuSheet(
        source="https://aws.amazon.com/ec2/pricing/on-demand/ (us-east-1, per GPU: g6.xlarge L4, "
        "g5.xlarge A10G, p4d.24xlarge, p5.48xlarge, p5en.48xlarge and p6-b200.48xlarge / 8; "
        "H200 and B200 are often sold as Capacity Blocks only)",
        priced_on="2026-01",
        hour_usd={
            "l4": 0.8048,
            "a10g": 1.006,
            "a100": 4.096,
            "h100": 6.88,
            "h200": 7.91,
            "b200": 14.24,
        },
    ),
    "gpu-clouds": GpuSheet(
        source="on-demand rates of the specialised GPU clouds, as bosun's design documents "
        "cite them: H100 $2.00/h, H200 $2.60/h, B200 $4.00/h per GPU",
        priced_on="2026-01",
        hour_usd={"h100": 2.00, "h200": 2.60, "b200": 4.00},
    ),
    "modal": GpuSheet(
        source="https://modal.com/pricing (per-second GPU rates times 3,600; region selection "
        "multiplies them: modal.region_multiplier)",
        priced_on="2026-01",
        hour_usd={
            "l4": 0.7992,
            "a10g": 1.1016,
            "a100": 2.4984,
            "h100": 3.9492,
            "h200": 4.5396,
            "b200": 6.2496,
        },
    ),
    "cloud-run": GpuSheet(
        source="https://cloud.google.com/run/pricing (GPU, Tier 1, instance-based: "
        "$0.0001867 per L4-second)",
        priced_on="2026-01",
        hour_usd={"l4": 0.67212},
    ),
}


class GpuPrices(_Section):
    """GPU prices as named sheets; `vm_sheet` prices GPU VMs and Kubernetes GPU nodes (set
    it to `gpu-clouds` for a VM rented from a GPU cloud). Modal and Cloud Run read their own."""

    vm_sheet: str = "aws"
    sheets: dict[str, GpuSheet] = GPU_SHEETS
    container_start_s: float = 5.0  # serverless GPU container, before the model loads
    node_provision_s: float = 240.0  # a GPU node from zero: provision, driver, image pull

    @model_validator(mode="after")
    def _sheet_exists(self) -> GpuPrices:
        if self.vm_sheet not in self.sheets:
            raise ValueError(f"vm_sheet must name a sheet: {', '.join(self.sheets)}")
        return self

    def hour_usd(self, sheet: str, gpu: str) -> float | None:
        """The sheet's price of one `gpu` for an hour; None where it does not offer it."""
        found = self.sheets.get(sheet)
        return None if found is None else found.hour_usd.get(gpu)


class KubernetesPrices(_Section):
    """A managed cluster (EKS) with KEDA scaling bosun worker pods on queue depth. The pod
    and KEDA settings are those bosun's chart renders (deploy/helm/bosun/values.yaml;
    tests/unit/plan/test_artifacts.py holds them equal)."""

    control_plane_hour_usd: float = 0.10
    node_vcpu: int = 4
    node_gib: float = 16.0
    min_nodes: int = 2  # two zones, so one node's loss does not stop the cluster
    system_vcpu: float = 1.0  # kube-system, KEDA, the bosun API, monitoring
    spot_fraction: float = 0.7  # share of worker nodes on spot (bosun's steps survive reclaims)
    spot_reclaims_per_node_month: float = 0.05
    pod_vcpu: float = 0.5  # the chart: workerDefaults.resources.requests.cpu
    pod_gib: float = 1.0  # the chart: workerDefaults.resources.limits.memory
    pod_request_gib: float = 0.5  # the chart: workerDefaults.resources.requests.memory
    worker_concurrency: int = 16  # the chart: workerDefaults.concurrency
    gpu_pool_concurrency: int = 2  # `bosun deploy helm --gpu-pool`: concurrency of a GPU pool
    polling_s: float = 5.0  # the chart: keda.pollingInterval
    cooldown_s: float = 300.0  # the chart: keda.cooldownPeriod
    pod_start_s: float = 15.0
    node_provision_s: float = 90.0
    node_scale_down_s: float = 600.0  # cluster-autoscaler scale-down-unneeded-time default
    warm_min_pods: int = 1
    scale_to_zero: bool = False
    api_replicas: int = 2  # the chart: api.replicas
    pool_max: int = 10  # the chart: database.poolMax (each process's pool)
    pgbouncer_pool: int = 20  # the chart: pgbouncer.poolSize (server connections)


class ComposePrices(_Section):
    """Docker Compose as `bosun deploy compose` writes it: worker replicas of 16 runs, and
    for the GPU queues one GPU worker (one NVIDIA GPU, Compose profile `gpu`) on the same
    host, a GPU VM priced as the VM plus the GPU sheet's hour."""

    worker_concurrency: int = 16  # each worker service replica: bosun worker --concurrency 16
    gpu_workers: int = 1  # the worker-gpu service's replicas
    gpu_worker_concurrency: int = 2  # the worker-gpu service: bosun worker --concurrency 2


class ContainerPrices(_Section):
    """Managed containers: a Cloud Run service, instance-based billing, min instances always
    on (a worker pulls from the database, so request-driven autoscaling never sees its queue)."""

    vcpu_second_usd: float = 0.000018
    gib_second_usd: float = 0.000002
    instance_vcpu: float = 1.0
    instance_gib: float = 2.0


class LambdaPrices(_Section):
    """AWS Lambda (x86) as `bosun deploy lambda` ships it: an EventBridge schedule invokes
    the drain-mode handler every `schedule_s`; each invocation runs up to `worker_concurrency`
    runs in `memory_gb` until nothing is ready or its budget ends."""

    gb_second_usd: float = 0.0000166667
    request_usd: float = 0.0000002
    max_seconds: float = 900.0  # Lambda's limit on a function's timeout
    gb_per_vcpu: float = 1.769  # Lambda gives one vCPU per 1,769 MB
    cold_start_s: float = 1.0  # a Python container image with bosun, since INIT is billed
    warm_start_s: float = 0.2  # a warm environment: open the app and the database
    keep_warm_s: float = 600.0  # an idle environment is kept (unbilled) about this long
    concurrency_limit: int = 1000
    drain_margin_s: float = 60.0  # the budget bosun plan gives: max_seconds less this
    replay_s: float = 0.5  # resuming a run: load the journal, replay completed steps
    schedule_s: float = 60.0  # the template: Events.Drain, rate(1 minute)
    memory_gb: float = 1.0  # the template: MemorySize 1024 (MB)
    worker_concurrency: int = 16  # the handler's BOSUN_CONCURRENCY default
    handler_margin_s: float = 10.0  # the template's timeout is --max-seconds plus this


class CloudRunPrices(_Section):
    """Cloud Run jobs as `bosun deploy cloud-run` ships them: each execution is one task
    running `bosun worker --until-idle --max-seconds N`, started every `schedule_s` by a
    Cloud Scheduler trigger, billed per second while it runs."""

    vcpu_second_usd: float = 0.000018
    gib_second_usd: float = 0.000002
    max_seconds: float = 604800.0  # a job task may run 168 hours
    gpu_max_seconds: float = 3600.0  # a task with a GPU: one hour
    instance_vcpu: float = 1.0  # the job: resources.limits.cpu
    instance_gib: float = 1.0  # the job: resources.limits.memory (1Gi)
    gpu_instance_vcpu: float = 4.0  # Cloud Run GPUs need at least 4 vCPU, 16 GiB
    gpu_instance_gib: float = 16.0
    concurrency: int = 16  # the job's worker: bosun worker's default --concurrency
    grace_s: float = 30.0  # the job's worker: --grace 30
    budget_s: float = 86400.0  # the budget bosun plan gives a CPU task (at most the limit)
    cold_start_s: float = 10.0  # a job execution: schedule, pull, start
    schedule_s: float = 60.0  # the Cloud Scheduler trigger bosun plan's advice sets up
    max_executions: int = 1000  # job executions running at once (a project quota)


class ModalPrices(_Section):
    """Modal as `bosun deploy modal` ships it: a function on a `modal.Period` schedule runs
    the drain-mode worker (`cpu` cores, `memory_gb`, `worker_concurrency` runs), and a GPU
    function does the same for the GPU queues; billed per second while a container is up."""

    core_second_usd: float = 0.0000131  # one physical core = 2 vCPU
    gib_second_usd: float = 0.00000222
    region_multiplier: float = 1.5  # workers pinned near the database's region cost 1.5-1.75x
    plan_month_usd: float = 0.0  # Starter plan; Team is $250/month
    cold_start_s: float = 2.0
    max_seconds: float = 86400.0  # a function's longest timeout
    schedule_s: float = 60.0  # the app: modal.Period(seconds=60)
    cpu: float = 1.0  # the app: cpu= (physical cores)
    memory_gb: float = 2.0  # the app: memory=2048 (MiB)
    worker_concurrency: int = 16  # the app: bosun worker --concurrency 16
    gpu_concurrency: int = 1  # the app's GPU function: bosun worker --concurrency 1
    scaledown_s: float = 2.0  # the app: scaledown_window=2 (an idle container is kept, billed)
    max_containers: int = 100  # containers of one function at once (the Starter plan's GPUs: 10)


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


class DatabasePrices(_Section):
    """What bosun asks of its PostgreSQL server (shared.database_month_usd prices it): its
    CPU per run and per step, measured by bench/fleet.py (docs/scaling.md), and its size."""

    vcpu: float = 2.0  # RDS db.t4g.micro
    max_connections: int = 100  # PostgreSQL's default; managed services size it by memory
    cpu_ms_per_run: float = 1.0  # submit, claim and finish, with LISTEN/NOTIFY wake-ups
    cpu_ms_per_step: float = 0.15  # each journaled step or LLM call
    target_utilization: float = 0.7


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
    compose: ComposePrices = ComposePrices()
    containers: ContainerPrices = ContainerPrices()
    aws_lambda: LambdaPrices = LambdaPrices()
    cloud_run: CloudRunPrices = CloudRunPrices()
    modal: ModalPrices = ModalPrices()
    temporal: TemporalPrices = TemporalPrices()
    step_functions: StepFunctionPrices = StepFunctionPrices()
    database: DatabasePrices = DatabasePrices()
    shared: SharedPrices = SharedPrices()
    ops_hours: OpsHours = OpsHours()


SOURCES: dict[str, str] = {
    "vm": "https://aws.amazon.com/ec2/pricing/on-demand/ (m7i, us-east-1); "
    "spot: https://aws.amazon.com/ec2/spot/pricing/",
    "gpu": "named sheets, each with its source and date (gpu.sheets.NAME.source); "
    "start delays are estimates",
    "kubernetes": "https://aws.amazon.com/eks/pricing/; KEDA defaults: "
    "https://keda.sh/docs/latest/reference/scaledobject-spec/; cluster-autoscaler FAQ; "
    "pods, polling and cooldown: deploy/helm/bosun/values.yaml; "
    "start delays and spot reclaim rate (https://aws.amazon.com/ec2/spot/instance-advisor/) "
    "are estimates",
    "compose": "deploy/compose and `bosun deploy compose` (each worker: --concurrency 16)",
    "containers": "https://cloud.google.com/run/pricing (Tier 1, instance-based billing)",
    "aws_lambda": "https://aws.amazon.com/lambda/pricing/; limits: "
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html; schedule, "
    "memory and concurrency: the SAM template of `bosun deploy lambda`",
    "cloud_run": "https://cloud.google.com/run/pricing (Tier 1, jobs and instance-based); "
    "limits: https://cloud.google.com/run/docs/configuring/task-timeout (168 h; 1 h with a "
    "GPU); the task's CPU, memory and worker: the job of `bosun deploy cloud-run`; start "
    "delays are estimates",
    "modal": "https://modal.com/pricing (base rates; region selection multiplies them); "
    "https://modal.com/docs/guide/timeouts; https://modal.com/docs/guide/cold-start; "
    "schedule, cores, memory and concurrency: the app of `bosun deploy modal`",
    "temporal": "https://temporal.io/pricing; https://docs.temporal.io/cloud/pricing; "
    "https://docs.temporal.io/cloud/limits",
    "step_functions": "https://aws.amazon.com/step-functions/pricing/; "
    "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html",
    "database": "bench/fleet.py (CPU per run and per step, docs/scaling.md); vcpu: "
    "https://aws.amazon.com/rds/instance-types/ (db.t4g.micro); max_connections: PostgreSQL's "
    "default, https://www.postgresql.org/docs/current/runtime-config-connection.html",
    "shared": "https://aws.amazon.com/rds/postgresql/pricing/; the engineer rate is an estimate",
    "ops_hours": "the authors' estimates (not prices): override with your own",
}


def flatten(prices: Prices) -> dict[str, Any]:
    """`section.key` (and `gpu.sheets.NAME.hour_usd.TYPE`) → value, for tables, docs and
    `--set`."""
    flat: dict[str, Any] = {}
    for section, values in prices.model_dump().items():
        _walk(flat, section, values)
    return flat


def _walk(flat: dict[str, Any], prefix: str, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _walk(flat, f"{prefix}.{k}", v)
    else:
        flat[prefix] = value


NEW_SHEET = {"source": "given with --set or --prices", "priced_on": "given", "hour_usd": {}}


def with_overrides(prices: Prices, overrides: dict[str, Any]) -> Prices:
    """A copy of `prices` with `section.key` overrides applied (values may be text). A GPU
    price may name a type or a sheet not there yet: `gpu.sheets.NAME.hour_usd.TYPE`.

    Raises:
        ConfigurationError: an unknown key or a value of the wrong type.
    """
    data = prices.model_dump()
    known = flatten(prices)
    for key, value in overrides.items():
        parts = key.split(".")
        gpu_price = len(parts) == 5 and parts[:2] == ["gpu", "sheets"] and parts[3] == "hour_usd"
        if key not in known and not gpu_price:
            raise ConfigurationError(
                f"unknown price or limit {key!r}: `bosun plan --list-prices` shows every key"
            )
        if gpu_price and parts[2] not in data["gpu"]["sheets"]:
            data["gpu"]["sheets"][parts[2]] = {**NEW_SHEET, "hour_usd": {}}
        target = data
        for part in parts[:-1]:
            target = target[part]
        text = isinstance(known.get(key), str)
        target[parts[-1]] = value if text and isinstance(value, str) else _parse(value)
    try:
        return Prices.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"bad price override: {problems}") from None


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
        _walk(flat, str(section), values)
    return with_overrides(base or Prices(), flat)
