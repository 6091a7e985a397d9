"""Known answers of the cost model: each architecture's bill for a given simulated month,
computed by hand here from the documented default prices."""

from __future__ import annotations

import pytest

from bosun.plan import Prices, deploy_command, parse_profile
from bosun.plan.arch_serverless import AwsLambda, Modal
from bosun.plan.arch_servers import ComposeVm, KubernetesKeda
from bosun.plan.arch_workflow import StepFunctions, TemporalCloud
from bosun.plan.model import MONTH_S, Usage
from bosun.plan.simulate import PoolResult

PRICES = Prices()


def _profile(**runs: object) -> object:
    return parse_profile(
        {"arrivals": {"runs_per_hour": 100}, "runs": {"duration_s": {"p50": 60, "p95": 60}, **runs}}
    )


def _usage(runs: float, cpu: PoolResult, gpu: PoolResult | None = None) -> Usage:
    return Usage(runs=runs, failed=0, reruns=0, waits=[], gpu_waits=[], cpu=cpu, gpu=gpu)


def test_lambda_bills_gb_seconds_init_and_requests() -> None:
    profile = _profile(memory_gb=0.3, process_memory_gb=0.2, cpu=0.1)
    setup = AwsLambda().setup(profile, PRICES)
    assert setup.settings["memory_gb"] == 0.5  # process + run; above 0.1 vCPU's 0.177 GB
    usage = _usage(10_000, PoolResult(slot_s=600_000, pieces=10_000, cold_starts=100))
    cost = AwsLambda().cost(profile, PRICES, setup, usage)
    assert cost.compute == pytest.approx(600_000 * 0.5 * 0.0000166667)  # $5.00
    assert cost.idle == pytest.approx(100 * 1.0 * 0.5 * 0.0000166667)  # billed INIT
    assert cost.fees == pytest.approx(10_000 * 0.0000002 + 15.0)  # requests + database
    assert cost.total == pytest.approx(5.00001 + 0.000833335 + 15.002, rel=1e-6)


def test_compose_picks_the_smallest_vm_that_holds_the_peak() -> None:
    # 100 runs/hour of 60 s: mean 1.667 at once; peak = ceil(1.667 + 2*sqrt(1.667)) = 5.
    profile = _profile()
    assert profile.peak_concurrency == 5
    setup = ComposeVm().setup(profile, PRICES)
    # 5 runs x 0.1 vCPU / 0.7 utilisation + 1 vCPU for PostgreSQL and the API = 1.71 -> 2.
    assert setup.settings == {"vm_vcpu": 2, "workers": 1, "worker_concurrency": 5}
    # Busy 0.5 vCPU-months of the VM's 2: a quarter of the bill is work, the rest idle.
    usage = _usage(73_000, PoolResult(slot_s=5 * MONTH_S, instance_s=MONTH_S))
    cost = ComposeVm().cost(profile, PRICES, setup, usage)
    bill = 2 * 0.0504 * 730  # $73.58
    assert cost.total == pytest.approx(bill)
    assert cost.compute == pytest.approx(bill * 0.25)
    assert cost.fees == 0


def test_kubernetes_bills_nodes_with_spot_mix_system_and_control_plane() -> None:
    profile = _profile()
    setup = KubernetesKeda().setup(profile, PRICES)
    # Three 4-vCPU worker nodes all month (above the 2-node floor).
    usage = _usage(73_000, PoolResult(node_s=3 * MONTH_S, slot_s=12 * MONTH_S))
    cost = KubernetesKeda().cost(profile, PRICES, setup, usage)
    worker_hour = 0.0504 * (1 - 0.7 * 0.65)  # 70% spot at 65% off
    workers = 12 * 730 * worker_hour
    system = 1 * 0.0504 * 730
    fees = 0.10 * 730 + 15.0
    assert cost.total == pytest.approx(workers + system + fees)
    assert cost.compute == pytest.approx(workers * (12 * 0.1) / 12)  # 1.2 of 12 vCPU used
    assert cost.fees == pytest.approx(fees)


def test_temporal_charges_actions_above_the_plan_minimum_plus_workers() -> None:
    profile = _profile(steps=5, llm_calls=3)
    setup = TemporalCloud().setup(profile, PRICES)
    usage = _usage(1_000_000, PoolResult(instance_s=MONTH_S, slot_s=0))
    cost = TemporalCloud().cost(profile, PRICES, setup, usage)
    actions = 1_000_000 * (2 + 1 * 8) * 0.00005  # $500, above the $100 minimum
    worker = MONTH_S * (1 * 0.000018 + 2 * 0.000002)
    assert cost.fees == pytest.approx(actions)
    assert cost.total == pytest.approx(actions + worker)
    quiet = TemporalCloud().cost(profile, PRICES, setup, _usage(10, PoolResult()))
    assert quiet.fees == 100.0  # the plan minimum


def test_step_functions_charge_transitions_and_lambda_without_a_database() -> None:
    profile = _profile(steps=4, llm_calls=2)
    setup = StepFunctions().setup(profile, PRICES)
    usage = _usage(1000, PoolResult(slot_s=60_000, pieces=6000))
    cost = StepFunctions().cost(profile, PRICES, setup, usage)
    transitions = 1000 * (2 + 6) * 0.000025
    memory = setup.settings["memory_gb"]
    assert cost.compute == pytest.approx(60_000 * memory * 0.0000166667)
    assert cost.fees == pytest.approx(transitions + 6000 * 0.0000002)


def test_modal_bills_container_seconds_with_region_multiplier_and_gpu() -> None:
    profile = parse_profile(
        {
            "arrivals": {"runs_per_hour": 1},
            "runs": {"duration_s": {"p50": 60, "p95": 60}},
            "gpu": {"steps": 5, "type": "h100"},
        }
    )
    setup = Modal().setup(profile, PRICES)
    usage = _usage(
        730,
        PoolResult(slot_s=1000, instance_s=1500),
        PoolResult(slot_s=200, instance_s=500),
    )
    cost = Modal().cost(profile, PRICES, setup, usage)
    cpu_s = (0.125 * 0.0000131 + 0.3 * 0.00000222) * 1.5
    gpu_s = 0.001097 * 1.5
    assert cost.compute == pytest.approx(1000 * cpu_s + 200 * gpu_s)
    assert cost.idle == pytest.approx(500 * cpu_s + 300 * gpu_s)
    assert cost.fees == pytest.approx(15.0)


def test_deploy_commands_are_built_in_one_place() -> None:
    assert (
        deploy_command("compose", "app.py", workers=3) == "bosun deploy compose app.py --workers 3"
    )
    assert (
        deploy_command(
            "helm", "my app.py", min_replicas=0, max_replicas=9, scale_to_zero=True, gpu_pool="gpu"
        )
        == "bosun deploy helm 'my app.py' --min-replicas 0 --max-replicas 9 --scale-to-zero "
        "--gpu-pool gpu"
    )
    assert deploy_command("manifests", "pkg.mod:app") == "bosun deploy manifests pkg.mod:app"
    assert (
        deploy_command("lambda", "app.py", max_seconds=840)
        == "bosun deploy lambda app.py --max-seconds 840"
    )
    assert deploy_command("cloud-run", "app.py") == "bosun deploy cloud-run app.py"
    with pytest.raises(ValueError, match="takes no workers"):
        deploy_command("lambda", "app.py", workers=2)
