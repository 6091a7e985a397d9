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


def test_lambda_bills_every_invocation_second_at_the_templates_memory() -> None:
    profile = _profile(memory_gb=0.02, process_memory_gb=0.2, cpu=0.02)
    setup = AwsLambda().setup(profile, PRICES)
    # The SAM template's function: 1024 MB, 16 runs at once (they fit: 0.2 + 16 * 0.02).
    assert setup.settings["memory_gb"] == 1.0 and setup.cpu.slots == 16
    # 100,000 invocation-seconds (INIT included) holding 400,000 run-seconds: a quarter of
    # the slots paid for were used.
    usage = _usage(10_000, PoolResult(instance_s=100_000, slot_s=400_000, invocations=43_800))
    cost = AwsLambda().cost(profile, PRICES, setup, usage)
    billed = 100_000 * 1.0 * 0.0000166667
    assert cost.compute == pytest.approx(billed * 0.25)
    assert cost.idle == pytest.approx(billed * 0.75)
    assert cost.fees == pytest.approx(43_800 * 0.0000002 + 15.0)  # requests + database


def test_lambda_runs_what_fits_its_memory_and_says_what_to_set() -> None:
    # 1024 MB gives 0.58 vCPU: four runs of 0.1 vCPU at 70%, not the handler's 16.
    setup = AwsLambda().setup(_profile(), PRICES)
    assert setup.cpu.slots == 4
    assert setup.notes == (
        "set BOSUN_CONCURRENCY=4 in the template's Environment: the template's 1024 MB "
        "function holds 4 of these runs, not 16",
    )


def test_compose_picks_the_smallest_vm_that_holds_the_peak() -> None:
    # 100 runs/hour of 60 s: mean 1.667 at once; peak = ceil(1.667 + 2*sqrt(1.667)) = 5.
    profile = _profile()
    assert profile.peak_concurrency == 5
    setup = ComposeVm().setup(profile, PRICES)
    # 5 runs x 0.1 vCPU / 0.7 utilisation + 1 vCPU for PostgreSQL and the API = 1.71 -> 2;
    # one worker of `bosun deploy compose`, which runs 16 at once.
    assert setup.settings == {"vm_vcpu": 2, "workers": 1, "worker_concurrency": 16}
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
    slots = setup.cpu.slots
    usage = _usage(
        730,
        PoolResult(slot_s=1000 * slots, instance_s=1500),
        PoolResult(slot_s=200, instance_s=500),
    )
    cost = Modal().cost(profile, PRICES, setup, usage)
    cpu_s = (1.0 * 0.0000131 + 2.0 * 0.00000222) * 1.5  # the app's 1 core and 2 GiB
    gpu_s = 3.9492 / 3600 * 1.5 + cpu_s  # the modal sheet's H100, and the same core and memory
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
    assert (
        deploy_command("modal", "app.py", max_seconds=600, gpu_queue="gpu", gpu_type="h200")
        == "bosun deploy modal app.py --max-seconds 600 --gpu-queue gpu --gpu-type h200"
    )
    with pytest.raises(ValueError, match="takes no workers"):
        deploy_command("lambda", "app.py", workers=2)
