"""The public comparisons' qualitative claims, reproduced from the default prices."""

from __future__ import annotations

import pytest

from bosun.plan import Prices, advise, architectures, parse_profile, with_overrides
from bosun.plan.arch_serverless import AwsLambda
from bosun.plan.evaluate import Estimate, evaluate

PRICES = Prices()
FAST = 2000  # runs simulated per day: enough for a cost, quick for a test


def _cheapest(profile_data: dict[str, object]) -> Estimate:
    profile = parse_profile(profile_data)
    estimates = [evaluate(a, profile, PRICES, max_runs=FAST) for a in architectures()]
    return min((e for e in estimates if e.feasible), key=lambda e: e.monthly_usd)


@pytest.mark.parametrize("burst", [1, 4, 10])
def test_for_1_to_10_spiky_concurrent_runs_serverless_is_cheapest(burst: int) -> None:
    cheapest = _cheapest(
        {
            "arrivals": {"pattern": "bursty", "burst_size": burst, "bursts_per_day": 6},
            "runs": {"duration_s": {"p50": 90, "p95": 300}},
        }
    )
    assert cheapest.serverless, cheapest.key


@pytest.mark.parametrize("concurrency", [50, 100, 200])
def test_for_50_plus_steady_concurrent_runs_kubernetes_is_cheapest(concurrency: int) -> None:
    cheapest = _cheapest(
        {
            "concurrency": concurrency,
            "arrivals": {"pattern": "steady"},
            "runs": {"duration_s": {"p50": 120, "p95": 480}},
        }
    )
    assert cheapest.key == "kubernetes-keda"


def test_runs_over_15_minutes_need_durable_steps_on_lambda() -> None:
    profile = parse_profile(
        {
            "arrivals": {"runs_per_hour": 2},
            "runs": {"duration_s": {"p50": 1500, "p95": 3600}, "steps": 30, "llm_calls": 30},
        }
    )
    plain = evaluate(AwsLambda(durable=False), profile, PRICES)
    assert not plain.feasible
    assert plain.failed_per_month > 0.5 * plain.runs_per_month  # most runs pass 15 minutes
    drained = evaluate(AwsLambda(), profile, PRICES)
    assert drained.feasible and drained.failed_per_month == 0
    assert drained.reruns_per_month >= plain.failed_per_month  # the price: re-invocations
    advice = advise(profile)
    keys = [e.key for e in advice.ranked]
    assert "lambda-plain" in keys  # shown next to the drained Lambda, as what bosun changes
    assert any(
        "without bosun's durable steps" in r for r in advice.ranked[keys.index("lambda")].risks
    )


def test_a_five_step_chain_on_cold_gpu_containers_adds_tens_of_seconds() -> None:
    profile = parse_profile(
        {
            "arrivals": {"runs_per_hour": 0.5},  # rare: every run finds the GPU pool cold
            "runs": {"duration_s": {"p50": 30, "p95": 60}},
            "gpu": {"steps": 5, "step_s": 4, "type": "l4", "model_load_s": 25},
        }
    )
    by_key = {e.key: e for e in advise(profile).ranked}
    for key in ("modal", "cloud-run"):
        cold = by_key[key].gpu_p50_wait_s
        assert cold is not None and 10 <= cold < 100, (key, cold)  # tens of seconds
    warm = by_key["compose-vm"].gpu_p50_wait_s  # an always-on GPU VM
    assert warm == 0


def test_chart_series_cover_every_architecture_at_every_point() -> None:
    from bosun.plan.charts import BURST_SIZES, CONCURRENCIES, cost_by_concurrency, wait_by_burst
    from bosun.plan.profile import load_profile
    from tests.unit.plan.test_profile_prices import REPO

    spiky = load_profile(REPO / "examples" / "profiles" / "spiky-small.yaml")
    cost = cost_by_concurrency(spiky)
    assert set(cost) == {a.label for a in architectures()}
    assert all(len(ys) == len(CONCURRENCIES) for ys in cost.values())
    for label in ("AWS Lambda (bosun drain mode)", "Modal (bosun drain mode, serverless GPUs)"):
        ys = [y for y in cost[label] if y is not None]
        assert ys == sorted(ys), label  # more work, more cost
    # One invocation a minute of at most 14 minutes, 4 runs each: Lambda's template carries
    # at most 56 runs at once, so it cannot run 100 or 300.
    lam = cost["AWS Lambda (bosun drain mode)"]
    assert lam[:4] == [y for y in lam[:4] if y is not None] and lam[4:] == [None, None]
    wait = wait_by_burst(spiky)
    kube = wait["Kubernetes with KEDA"]
    assert len(kube) == len(BURST_SIZES) and kube[-1] > kube[0]  # big bursts wait to scale


GPU_PROFILES = [
    {"arrivals": {"runs_per_hour": 3}, "gpu": {"steps": 5, "type": "l4"}},
    {"arrivals": {"runs_per_hour": 300}, "gpu": {"steps": 2, "type": "h100"}},
    {"concurrency": 40, "gpu": {"steps": 1, "type": "a10g"}, "team": {"platform_engineers": 1}},
    {"arrivals": {"runs_per_hour": 20}, "gpu": {"steps": 3, "type": "b200"}},
]


@pytest.mark.parametrize("data", GPU_PROFILES)
def test_gpu_recommendations_lead_to_gpu_deployments(data: dict[str, object]) -> None:
    profile = parse_profile({"runs": {"duration_s": {"p50": 60, "p95": 180}}, **data})
    advice = advise(profile, max_runs=FAST)
    best = advice.recommendation
    assert best is not None and advice.deploy_command is not None
    # Compose's GPU worker, the chart's GPU pool or Modal's GPU function: the gpu queue
    # runs on a GPU, never on a CPU-only artifact.
    for e in advice.ranked:
        if e.feasible and e.deployable:
            assert e.deploy_command is not None
            assert "--gpu-pool gpu" in e.deploy_command or "--gpu-queue gpu" in e.deploy_command
            assert "lambda" not in e.deploy_command and "cloud-run" not in e.deploy_command
    by_key = {e.key: e for e in advice.ranked}
    assert not by_key["lambda"].feasible  # Lambda has no GPU
    assert not by_key["cloud-run"].deployable  # `bosun deploy cloud-run` has no GPU job yet


def test_what_bosun_cannot_deploy_is_ranked_apart_and_never_recommended() -> None:
    profile = parse_profile(
        {"concurrency": 20, "runs": {"duration_s": {"p50": 120, "p95": 300}}, "team": {"devops": 2}}
    )
    # Make the always-on container service and Temporal almost free: still not recommended.
    prices = with_overrides(
        PRICES,
        {
            "containers.vcpu_second_usd": "0.0000001",
            "containers.gib_second_usd": "0",
            "ops_hours.containers": "0",
            "temporal.plan_month_usd": "0",
            "ops_hours.temporal": "0",
        },
    )
    advice = advise(profile, prices=prices, max_runs=FAST)
    apart = {e.key for e in advice.ranked if e.feasible and not e.deployable}
    assert {"managed-containers", "temporal-cloud", "step-functions"} <= apart
    assert advice.recommendation is not None and advice.recommendation.deployable
    assert advice.recommendation.key not in apart
    keys = [e.key for e in advice.ranked]
    last_deployable = max(i for i, e in enumerate(advice.ranked) if e.deployable and e.feasible)
    assert all(keys.index(k) > last_deployable for k in apart)
    assert any("bosun cannot deploy it" in r for r in advice.reasons)
