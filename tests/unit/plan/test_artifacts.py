"""The advisor simulates what `bosun deploy` ships: its parameters equal the rendered
artifacts' values (the Lambda SAM template, the Cloud Run job, the Helm chart rendered by
Helm's engine, the Compose bundle, the Modal app), and the command it prints renders them."""

from __future__ import annotations

import ast
import re
import shlex
from typing import Any

import pytest

from bosun.deploy.compose import compose_project
from bosun.deploy.helm import PoolOptions, helm_values, render
from bosun.deploy.modal_app import ModalOptions, modal_app
from bosun.deploy.serverless import (
    LAMBDA_HANDLER_MARGIN,
    LAMBDA_TIMEOUT_LIMIT,
    MARGIN,
    cloud_run_job,
    lambda_template,
)
from bosun.plan import Prices, parse_profile
from bosun.plan.arch_serverless import AwsLambda, CloudRunServerless, Modal
from bosun.plan.arch_servers import ComposeVm, KubernetesKeda
from bosun.plan.model import drain_grace
from bosun.serverless.lambda_handler import MARGIN_MAX, HandlerSettings
from bosun.worker.timebox import drain_grace as worker_drain_grace
from bosun.worker.worker import WorkerOptions

PRICES = Prices()
# Runs small enough that every artifact's default concurrency fits: the advisor then
# simulates the artifacts exactly as written, with nothing to change by hand.
SMALL = parse_profile(
    {
        "arrivals": {"runs_per_hour": 60},
        "runs": {"duration_s": {"p50": 30, "p95": 90}, "cpu": 0.01, "memory_gb": 0.01},
        "gpu": {"steps": 2, "type": "l4"},
    }
)
CPU_ONLY = SMALL.model_copy(update={"gpu": SMALL.gpu.model_copy(update={"steps": 0})})


def _options(command: str) -> dict[str, str]:
    words = shlex.split(command)
    return {w[2:]: words[i + 1] for i, w in enumerate(words) if w.startswith("--")}


def _seconds(rate: str) -> float:
    number, unit = re.fullmatch(r"rate\((\d+) (minute|minutes|second|seconds)\)", rate).groups()
    return float(number) * (60 if unit.startswith("minute") else 1)


def _quantity(value: str) -> float:
    """A Kubernetes quantity in cores or GiB."""
    units = {"m": 1e-3, "Mi": 1 / 1024, "Gi": 1.0}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


def _arg(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def test_lambda_is_the_sam_templates_schedule_memory_concurrency_and_budget() -> None:
    lam = PRICES.aws_lambda
    setup = AwsLambda().setup(CPU_ONLY, PRICES)
    command = AwsLambda().deploy("app.py", setup)[0]
    assert command is not None
    max_seconds = int(_options(command)["max-seconds"])
    function = lambda_template("app.py", ["default"], max_seconds)["Resources"]["Worker"]
    props = function["Properties"]
    assert _seconds(props["Events"]["Drain"]["Properties"]["Schedule"]) == lam.schedule_s
    assert props["MemorySize"] / 1024 == lam.memory_gb == setup.settings["memory_gb"]
    env = props["Environment"]["Variables"]
    concurrency = int(env.get("BOSUN_CONCURRENCY", HandlerSettings("a", "d").concurrency))
    assert concurrency == lam.worker_concurrency == setup.cpu.slots
    # The budget: the timeout less the handler's margin, which is what the advisor runs.
    assert props["Timeout"] == max_seconds + LAMBDA_HANDLER_MARGIN
    assert lam.handler_margin_s == LAMBDA_HANDLER_MARGIN == MARGIN_MAX
    assert props["Timeout"] <= LAMBDA_TIMEOUT_LIMIT == lam.max_seconds
    assert setup.cpu.scaling == "scheduled" and setup.cpu.poll_s == lam.schedule_s
    assert setup.cpu.budget_s == max_seconds
    assert setup.cpu.grace_s == worker_drain_grace(max_seconds) == drain_grace(max_seconds)


def test_cloud_run_is_the_jobs_task_size_worker_and_timeout() -> None:
    cr = PRICES.cloud_run
    setup = CloudRunServerless().setup(CPU_ONLY, PRICES)
    command = CloudRunServerless().deploy("app.py", setup)[0]
    assert command is not None
    max_seconds = int(_options(command)["max-seconds"])
    job = cloud_run_job("app.py", ["default"], max_seconds)
    task = job["spec"]["template"]["spec"]["template"]["spec"]
    container = task["containers"][0]
    limits = container["resources"]["limits"]
    assert _quantity(limits["cpu"]) == cr.instance_vcpu
    assert _quantity(limits["memory"]) == cr.instance_gib
    args = container["args"]
    concurrency = int(_arg(args, "--concurrency") or WorkerOptions().concurrency)
    assert concurrency == cr.concurrency == setup.cpu.slots
    assert float(_arg(args, "--grace") or 0) == cr.grace_s == setup.cpu.grace_s
    assert int(_arg(args, "--max-seconds") or 0) == setup.cpu.budget_s == max_seconds
    assert "--until-idle" in args
    # Tasks may run 168 h (1 h with a GPU); the job's timeout stays within it.
    assert cr.max_seconds == 168 * 3600 and cr.gpu_max_seconds == 3600
    assert task["timeoutSeconds"] == max_seconds + MARGIN <= cr.max_seconds
    gpu = CloudRunServerless().setup(SMALL, PRICES).gpu
    assert gpu is not None and gpu.budget_s is not None
    assert gpu.budget_s + MARGIN <= cr.gpu_max_seconds


def _chart(setup_settings: dict[str, Any], gpu: bool) -> list[dict[str, Any]]:
    options = PoolOptions(
        min_replicas=int(setup_settings["min_replicas"]),
        max_replicas=int(setup_settings["max_replicas"]),
        scale_to_zero=setup_settings["min_replicas"] == 0,
        gpu_pools=("gpu",) if gpu else (),
    )
    queues = ["default", "gpu"] if gpu else ["default"]
    return render(helm_values("app.py", queues, options))


def test_kubernetes_is_the_rendered_charts_polling_pods_and_pools() -> None:
    k = PRICES.kubernetes
    arch = KubernetesKeda()
    setup = arch.setup(SMALL, PRICES)
    command = arch.deploy("app.py", setup)[0]
    assert command is not None and "--gpu-pool gpu" in command
    options = _options(command)
    assert int(options["min-replicas"]) == setup.settings["min_replicas"]
    assert int(options["max-replicas"]) == setup.settings["max_replicas"]
    objects = _chart(setup.settings, gpu=True)
    scalers = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "ScaledObject"}
    pods = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]
        for o in objects
        if o["kind"] == "Deployment" and "-worker-" in o["metadata"]["name"]
    }
    cpu, gpu = scalers["bosun-worker-default"], scalers["bosun-worker-gpu"]
    for pool, spec in ((setup.cpu, cpu), (setup.gpu, gpu)):
        assert pool is not None
        assert spec["pollingInterval"] == k.polling_s == pool.poll_s
        assert spec["cooldownPeriod"] == k.cooldown_s == pool.idle_s
        assert spec["minReplicaCount"] == pool.min_instances
        assert spec["maxReplicaCount"] == pool.max_instances
        assert int(spec["triggers"][0]["metadata"]["targetQueryValue"]) == pool.slots
    worker, gpu_worker = pods["bosun-worker-default"], pods["bosun-worker-gpu"]
    resources = worker["resources"]
    assert _quantity(resources["requests"]["cpu"]) == k.pod_vcpu
    assert _quantity(resources["requests"]["memory"]) == k.pod_request_gib
    assert _quantity(resources["limits"]["memory"]) == k.pod_gib
    assert int(_arg(worker["args"], "--concurrency") or 0) == k.worker_concurrency
    assert setup.cpu.slots == k.worker_concurrency  # these small runs fit the chart's pod
    assert int(_arg(gpu_worker["args"], "--concurrency") or 0) == k.gpu_pool_concurrency
    assert int(gpu_worker["resources"]["limits"]["nvidia.com/gpu"]) == 1
    assert setup.cpu.nodes is not None
    assert setup.cpu.nodes.pods_per_node == min(
        int(k.node_vcpu / k.pod_vcpu), int(k.node_gib / k.pod_request_gib)
    )


def test_a_pod_the_runs_do_not_fit_says_which_value_to_set() -> None:
    # The default runs (0.1 vCPU, 0.1 GB each, a 0.2 GB process) in the chart's pod:
    # 500m CPU requested holds 3 at 70%, not 16.
    profile = parse_profile({"concurrency": 5, "runs": {"duration_s": {"p50": 60, "p95": 120}}})
    setup = KubernetesKeda().setup(profile, PRICES)
    assert setup.cpu.slots == 3
    assert setup.notes[0] == (
        "set workerDefaults.concurrency: 3 in the values file: the chart's pod (0.5 vCPU "
        "requested, 1 GiB limit) holds 3 of these runs, not 16"
    )


def test_compose_is_the_bundles_workers() -> None:
    arch = ComposeVm()
    setup = arch.setup(CPU_ONLY, PRICES)
    command = arch.deploy("app.py", setup)[0]
    assert command is not None
    workers = int(_options(command)["workers"])
    worker = compose_project("app.py", ["default"], workers)["services"]["worker"]
    assert worker["deploy"]["replicas"] == workers == setup.cpu.min_instances
    concurrency = int(_arg(worker["command"], "--concurrency") or 0)
    assert concurrency == PRICES.compose.worker_concurrency == setup.cpu.slots
    assert "gpu" not in (_arg(worker["command"], "--queue") or "")


def test_compose_with_gpu_steps_is_the_bundles_gpu_worker() -> None:
    c = PRICES.compose
    arch = ComposeVm()
    setup = arch.setup(SMALL, PRICES)
    command = arch.deploy("app.py", setup)[0]
    assert command is not None and _options(command)["gpu-pool"] == "gpu"
    services = compose_project("app.py", ["default", "gpu"], 1, ["gpu"])["services"]
    gpu_worker = services["worker-gpu"]
    assert gpu_worker["deploy"]["replicas"] == c.gpu_workers
    devices = gpu_worker["deploy"]["resources"]["reservations"]["devices"]
    assert [d["count"] for d in devices] == [1]
    assert int(_arg(gpu_worker["command"], "--concurrency") or 0) == c.gpu_worker_concurrency
    assert _arg(gpu_worker["command"], "--queue") == "gpu"
    assert _arg(services["worker"]["command"], "--queue") == "default"  # CPU workers: no gpu
    assert setup.gpu is not None
    assert (setup.gpu.min_instances, setup.gpu.slots) == (c.gpu_workers, c.gpu_worker_concurrency)


def _constants(source: str) -> dict[str, Any]:
    tree = ast.parse(source)
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id.isupper()
    }


def _function_keywords(source: str, name: str) -> dict[str, Any]:
    tree = ast.parse(source)
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    decorator = function.decorator_list[0]
    assert isinstance(decorator, ast.Call)
    return {k.arg: ast.unparse(k.value) for k in decorator.keywords}


def test_modal_is_the_apps_schedule_size_concurrency_and_gpu() -> None:
    m = PRICES.modal
    setup = Modal().setup(SMALL, PRICES)
    command = Modal().deploy("app.py", setup)[0]
    assert command is not None
    options = _options(command)
    assert options["gpu-queue"] == "gpu" and options["gpu-type"] == "l4"
    source = modal_app(
        "app.py",
        ["default", "gpu"],
        ModalOptions(
            max_seconds=int(options["max-seconds"]),
            concurrency=int(options.get("concurrency", 16)),
            gpu_queues=(options["gpu-queue"],),
            gpu_type=options["gpu-type"],
        ),
    )
    constants = _constants(source)
    assert constants["SCHEDULE_S"] == m.schedule_s == setup.cpu.poll_s
    assert constants["CONCURRENCY"] == m.worker_concurrency == setup.cpu.slots
    assert constants["GPU_CONCURRENCY"] == m.gpu_concurrency
    assert setup.gpu is not None and setup.gpu.slots == m.gpu_concurrency
    assert constants["SCALEDOWN_S"] == m.scaledown_s == setup.cpu.tail_s == setup.gpu.tail_s
    assert constants["MAX_SECONDS"] == setup.cpu.budget_s
    assert constants["GRACE"] == setup.cpu.grace_s
    assert constants["TIMEOUT"] <= m.max_seconds
    assert constants["QUEUES"] == ["default"] and constants["GPU_QUEUES"] == ["gpu"]
    cpu = _function_keywords(source, "drain_cpu")
    assert float(cpu["cpu"]) == m.cpu and int(cpu["memory"]) / 1024 == m.memory_gb
    gpu = _function_keywords(source, "drain_gpu")
    assert gpu["gpu"] == "'L4'"


@pytest.mark.parametrize("arch", [AwsLambda(), CloudRunServerless(), Modal()])
def test_serverless_pools_are_scheduled_drain_invocations(arch: Any) -> None:
    setup = arch.setup(CPU_ONLY, PRICES)
    assert setup.cpu.scaling == "scheduled"
    assert setup.cpu.budget_s is not None and setup.cpu.grace_s > 0
