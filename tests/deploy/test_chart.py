"""The Helm chart, rendered offline by Helm's own engine with several value sets.

Every rendered object is validated (built-in kinds strictly against Kubernetes' schemas, KEDA's
against its CRD schemas), and the tests assert what each value set must produce. The KEDA
query is run against a real PostgreSQL database migrated by bosun.
"""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python
import psycopg
import pytest

import bosun
from bosun.deploy.files import chart_dir
from bosun.deploy.helm import manifests_yaml, render
from bosun.errors import ConfigurationError
from tests.deploy.validators import (
    CRD_KINDS,
    KEDA_KINDS,
    KUBERNETES_VERSION,
    SchemaError,
    check_bosun_args,
    validate_keda,
    validate_kubernetes,
    validate_object,
)

DB = {"url": "postgresql://bosun:secret@postgres.db.svc.cluster.local:5432/bosun"}
DIGEST = "sha256:" + "0123456789abcdef" * 4
RELEASE = "prod"
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
)


def values(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"database": dict(DB), "app": {"ref": "agents.py"}}
    base.update(overrides)
    return base


def unchecked(vals: dict[str, Any]) -> list[dict[str, Any]]:
    return render(vals, release=RELEASE, namespace="agents")


def rendered(vals: dict[str, Any]) -> list[dict[str, Any]]:
    objects = unchecked(vals)
    for obj in objects:
        validate_object(obj)
    return objects


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = find(objects, kind, name)
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
    return matches[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "ScaledJob":
        spec: dict[str, Any] = obj["spec"]["jobTargetRef"]["template"]["spec"]
        return spec
    spec = obj["spec"]["template"]["spec"]
    return spec


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


GPU_POOLS = [
    {"name": "default", "queues": ["default"]},
    {
        "name": "gpu",
        "queues": ["gpu", "vision"],
        "gpu": 1,
        "concurrency": 2,
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "resources": {"requests": {"cpu": "2", "memory": "8Gi"}},
    },
]


# Every optional object and setting at once.
EVERYTHING: dict[str, Any] = {
    "pools": [*GPU_POOLS, {"name": "batch", "queues": ["batch"], "mode": "scaledjob"}],
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "priorityClass": {"create": True},
    "image": {"repository": "registry.example/agents", "tag": "v7", "digest": DIGEST},
    "keda": {
        "fallback": {"failureThreshold": 3, "replicas": 2},
        "advanced": {"restoreToOriginalReplicaCount": True},
    },
}


def test_every_optional_object_renders_valid() -> None:
    kinds = {o["kind"] for o in rendered(values(**EVERYTHING))}
    assert {"PriorityClass", "ServiceMonitor", "ScaledJob", "ScaledObject"} <= kinds


def test_default_values_render_valid_objects_with_standard_labels() -> None:
    objects = rendered(values())
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == sorted(
        [
            "Deployment",
            "Deployment",
            "Job",
            "NetworkPolicy",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "PodDisruptionBudget",
            "ScaledObject",
            "Secret",
            "Service",
            "TriggerAuthentication",
        ]
    )
    for obj in objects:
        labels = obj["metadata"]["labels"]
        for key in STANDARD_LABELS:
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks {key}"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/version"] == bosun.__version__
    for workload in find(objects, "Deployment") + find(objects, "Job"):
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert set(STANDARD_LABELS) <= set(pod_labels)


def test_api_deployment_serves_with_probes_and_a_service() -> None:
    objects = rendered(values())
    api = one(objects, "Deployment", "prod-bosun-api")
    container = pod_spec(api)["containers"][0]
    assert container["args"] == ["server", "agents.py", "--host", "0.0.0.0", "--port", "8000"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert env_of(container)["BOSUN_DATABASE_URL"] == {
        "secretKeyRef": {"name": "prod-bosun-database", "key": "database-url"}
    }
    service = one(objects, "Service", "prod-bosun-api")
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = one(objects, "PodDisruptionBudget", "prod-bosun-api")
    assert pdb["spec"]["selector"] == api["spec"]["selector"]


def test_worker_pool_drains_within_its_termination_grace_and_runs_non_root() -> None:
    objects = rendered(values(app={"ref": "agents.py", "version": "2024-06-01"}))
    worker = one(objects, "Deployment", "prod-bosun-worker-default")
    spec = pod_spec(worker)
    container = spec["containers"][0]
    assert container["args"] == [
        "worker",
        "agents.py",
        "--queue",
        "default",
        "--concurrency",
        "16",
        "--grace",
        "30",
        "--metrics-port",
        "9100",
        "--metrics-host",
        "0.0.0.0",
    ]
    # The grace steps get on SIGTERM plus the margin to hand runs back and exit.
    assert spec["terminationGracePeriodSeconds"] == 30 + 15
    assert "replicas" not in worker["spec"], "KEDA owns the replica count"
    assert env_of(container)["BOSUN_VERSION"] == "2024-06-01"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert spec["automountServiceAccountToken"] is False
    # No PriorityClass unless asked for: one is cluster-wide and preempts other pods.
    assert "priorityClassName" not in spec and not find(objects, "PriorityClass")
    pdb = one(objects, "PodDisruptionBudget", "prod-bosun-worker-default")
    assert pdb["spec"]["selector"] == worker["spec"]["selector"]


def test_version_defaults_to_the_image_tag() -> None:
    objects = rendered(values(image={"repository": "registry.example/agents", "tag": "v7"}))
    worker = one(objects, "Deployment", "prod-bosun-worker-default")
    container = pod_spec(worker)["containers"][0]
    assert container["image"] == "registry.example/agents:v7"
    assert env_of(container)["BOSUN_VERSION"] == "v7"


def test_scaled_object_polls_the_queue_view_through_a_trigger_authentication() -> None:
    objects = rendered(values(keda={"pollingInterval": 5, "cooldownPeriod": 120}))
    scaled = one(objects, "ScaledObject", "prod-bosun-worker-default")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "prod-bosun-worker-default"
    one(objects, "Deployment", scaled["scaleTargetRef"]["name"])
    assert scaled["pollingInterval"] == 5
    assert scaled["cooldownPeriod"] == 120
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (1, 10)
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "postgresql"
    assert trigger["metadata"] == {
        "query": "SELECT COALESCE(SUM(runnable), 0) FROM bosun.queue_depth "
        "WHERE queue IN ('default')",
        "targetQueryValue": "16",
        "activationTargetQueryValue": "0",
    }
    auth = one(objects, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "connection", "name": "prod-bosun-database", "key": "database-url"}
    ]
    secret = one(objects, "Secret", "prod-bosun-database")
    assert secret["stringData"] == {"database-url": DB["url"]}


def test_gpu_pool_asks_for_gpus_on_gpu_nodes_and_the_cpu_pool_does_not() -> None:
    objects = rendered(values(pools=GPU_POOLS))
    gpu = pod_spec(one(objects, "Deployment", "prod-bosun-worker-gpu"))
    container = gpu["containers"][0]
    # The pool's resources replace the defaults' (a default 1Gi limit under an 8Gi request
    # would be refused by the API server).
    assert container["resources"] == {
        "requests": {"cpu": "2", "memory": "8Gi"},
        "limits": {"nvidia.com/gpu": 1},
    }
    assert gpu["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert gpu["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert container["args"][2:6] == ["--queue", "gpu", "--queue", "vision"]
    assert container["args"][container["args"].index("--concurrency") + 1] == "2"
    query = one(objects, "ScaledObject", "prod-bosun-worker-gpu")["spec"]["triggers"][0]
    assert query["metadata"]["query"].endswith("WHERE queue IN ('gpu', 'vision')")
    assert query["metadata"]["targetQueryValue"] == "2"
    cpu = pod_spec(one(objects, "Deployment", "prod-bosun-worker-default"))
    assert "nvidia.com/gpu" not in cpu["containers"][0]["resources"].get("limits", {})
    assert "nodeSelector" not in cpu and "tolerations" not in cpu


def test_scale_to_zero_sets_the_minimum_to_zero() -> None:
    objects = rendered(values(workerDefaults={"scaleToZero": True, "maxReplicas": 50}))
    scaled = one(objects, "ScaledObject", "prod-bosun-worker-default")["spec"]
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (0, 50)
    assert scaled["triggers"][0]["metadata"]["activationTargetQueryValue"] == "0"


def test_scaledjob_mode_runs_time_boxed_drain_workers_instead_of_a_deployment() -> None:
    pools = [
        {"name": "default", "queues": ["default"]},
        {"name": "batch", "queues": ["batch"], "mode": "scaledjob", "maxSeconds": 1200},
    ]
    objects = rendered(values(pools=pools))
    assert not find(objects, "Deployment", "prod-bosun-worker-batch")
    assert not find(objects, "ScaledObject", "prod-bosun-worker-batch")
    job = one(objects, "ScaledJob", "prod-bosun-worker-batch")
    target = job["spec"]["jobTargetRef"]
    assert target["activeDeadlineSeconds"] == 1200 + 30 + 15
    assert target["backoffLimit"] == 0
    spec = target["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    args = spec["containers"][0]["args"]
    assert args[:4] == ["worker", "agents.py", "--queue", "batch"]
    assert args[-3:] == ["--until-idle", "--max-seconds", "1200"]
    assert job["spec"]["pollingInterval"] == 5
    assert job["spec"]["triggers"][0]["metadata"]["query"].endswith("IN ('batch')")
    one(objects, "Deployment", "prod-bosun-worker-default")


def test_gvisor_sandbox_runs_only_the_workers_under_the_runtime_class() -> None:
    pools = [
        {"name": "default", "queues": ["default"]},
        {"name": "batch", "queues": ["batch"], "mode": "scaledjob"},
    ]
    objects = rendered(values(pools=pools, sandbox={"profile": "gvisor"}))
    assert pod_spec(one(objects, "Deployment", "prod-bosun-worker-default"))[
        "runtimeClassName"
    ] == ("gvisor")
    assert pod_spec(one(objects, "ScaledJob", "prod-bosun-worker-batch"))["runtimeClassName"] == (
        "gvisor"
    )
    assert "runtimeClassName" not in pod_spec(one(objects, "Deployment", "prod-bosun-api"))


def test_bubblewrap_sandbox_gets_a_localhost_seccomp_profile_and_user_namespaces() -> None:
    sandbox = {"profile": "bubblewrap", "backend": "bubblewrap"}
    objects = rendered(values(sandbox=sandbox))
    spec = pod_spec(one(objects, "Deployment", "prod-bosun-worker-default"))
    assert spec["securityContext"]["seccompProfile"] == {
        "type": "Localhost",
        "localhostProfile": "profiles/bosun-bubblewrap.json",
    }
    assert spec["hostUsers"] is False
    container = spec["containers"][0]
    assert container["securityContext"]["procMount"] == "Unmasked"
    assert container["securityContext"]["appArmorProfile"] == {"type": "Unconfined"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert env_of(container)["BOSUN_SANDBOX"] == "bubblewrap"
    api = pod_spec(one(objects, "Deployment", "prod-bosun-api"))
    assert api["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_every_container_runs_a_command_line_bosun_accepts() -> None:
    pools = [*GPU_POOLS, {"name": "batch", "queues": ["batch"], "mode": "scaledjob"}]
    objects = rendered(values(pools=pools))
    workloads = [o for o in objects if o["kind"] in ("Deployment", "Job", "ScaledJob")]
    assert len(workloads) == 5
    for workload in workloads:
        for container in pod_spec(workload)["containers"]:
            check_bosun_args(container["args"])
    with pytest.raises(SchemaError, match="--metrics-prt"):
        check_bosun_args(["worker", "app.py", "--metrics-prt", "9100"])


def migration_job(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (job,) = find(objects, "Job")
    assert job["metadata"]["name"].startswith("prod-bosun-migrate-")
    return job


def test_migrations_run_as_a_hook_before_install_and_upgrade() -> None:
    objects = rendered(values())
    job = migration_job(objects)
    notes = job["metadata"]["annotations"]
    assert notes["helm.sh/hook"] == "pre-install,pre-upgrade"
    container = pod_spec(job)["containers"][0]
    assert container["args"] == ["db", "upgrade"]
    secret = one(objects, "Secret", "prod-bosun-database")["metadata"]["annotations"]
    assert "pre-install" in secret["helm.sh/hook"]
    # The Secret the Job reads is created first.
    assert int(secret["helm.sh/hook-weight"]) < int(notes["helm.sh/hook-weight"])


def test_network_policies_admit_the_api_port_and_worker_metrics_only() -> None:
    objects = rendered(values(networkPolicy={"apiFrom": [{"podSelector": {}}]}))
    api = one(objects, "NetworkPolicy", "prod-bosun-api")["spec"]
    assert api["ingress"] == [
        {"ports": [{"protocol": "TCP", "port": 8000}], "from": [{"podSelector": {}}]}
    ]
    worker = one(objects, "NetworkPolicy", "prod-bosun-worker")["spec"]
    assert worker["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    assert worker["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9100}]}]
    egress_ports = {p["port"] for rule in worker["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 5432, 443}


def test_without_keda_pools_are_plain_deployments_with_replicas() -> None:
    objects = rendered(values(keda={"enabled": False}, workerDefaults={"minReplicas": 3}))
    assert not find(objects, "ScaledObject") and not find(objects, "TriggerAuthentication")
    assert one(objects, "Deployment", "prod-bosun-worker-default")["spec"]["replicas"] == 3


def test_an_existing_secret_is_used_and_none_is_created() -> None:
    database = {"existingSecret": "agents-db", "urlKey": "url", "kedaConnectionKey": "keda"}
    objects = rendered(values(database=database))
    assert not find(objects, "Secret")
    auth = one(objects, "TriggerAuthentication", "prod-bosun-postgres")
    assert auth["spec"]["secretTargetRef"][0] == {
        "parameter": "connection",
        "name": "agents-db",
        "key": "keda",
    }
    worker = pod_spec(one(objects, "Deployment", "prod-bosun-worker-default"))
    assert env_of(worker["containers"][0])["BOSUN_DATABASE_URL"] == {
        "secretKeyRef": {"name": "agents-db", "key": "url"}
    }


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"database": {}}, "database"),
        ({"pools": [{"name": "default", "queues": ["it's"]}]}, "queues"),
        ({"pools": [{"name": "Default", "queues": ["default"]}]}, "name"),
        ({"pools": [{"name": "default", "queues": ["default"], "gpus": 1}]}, "gpus"),
        ({"sandbox": {"profile": "firecracker"}}, "profile"),
        ({"keda": {"pollingInterval": 0}}, "pollingInterval"),
    ],
)
def test_values_schema_refuses_bad_values(overrides: dict[str, Any], says: str) -> None:
    vals = values()
    vals.update(overrides)
    with pytest.raises(ConfigurationError, match=says):
        render(vals)


@pytest.mark.parametrize(
    ("pools", "says"),
    [
        (
            [{"name": "a", "queues": ["x"]}, {"name": "a", "queues": ["y"]}],
            'the name "a" is used twice',
        ),
        ([{"name": "a", "queues": ["x"], "minReplicas": 5, "maxReplicas": 2}], "below"),
    ],
)
def test_the_chart_refuses_inconsistent_pools(pools: list[dict[str, Any]], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        render(values(pools=pools))


def test_helm_lint_passes_strictly_for_the_target_kubernetes_version() -> None:
    lint = functools.partial(
        helm_python.lint, str(chart_dir()), strict=True, kube_version=f"v{KUBERNETES_VERSION}"
    )
    for vals in (values(pools=GPU_POOLS), values(**EVERYTHING)):
        report = lint(values=vals)
        assert not report["errors"], report
        assert all(m["severity"] < 2 for m in report["messages"]), report
    assert lint(values={"pools": GPU_POOLS})["errors"], "lint must see the missing database"


def test_kubernetes_validate_cli_accepts_the_rendered_manifests(tmp_path: Path) -> None:
    objects = unchecked(values(**EVERYTHING))
    builtin = [o for o in objects if o["kind"] not in {*KEDA_KINDS, *CRD_KINDS}]
    assert {o["kind"] for o in builtin} >= {"Deployment", "Job", "Service", "PriorityClass"}
    path = tmp_path / "manifests.yaml"
    path.write_text(manifests_yaml(builtin))
    cli = Path(sys.executable).parent / "kubernetes-validate"
    done = subprocess.run(
        [str(cli), "--strict", "-k", KUBERNETES_VERSION, "--quiet", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_validators_reject_unknown_and_mistyped_fields() -> None:
    objects = unchecked(values())
    scaled = copy.deepcopy(one(objects, "ScaledObject", "prod-bosun-worker-default"))
    scaled["spec"]["pollingIntervall"] = 5
    with pytest.raises(SchemaError, match="pollingIntervall"):
        validate_keda(scaled)
    scaled = copy.deepcopy(one(objects, "ScaledObject", "prod-bosun-worker-default"))
    scaled["spec"]["minReplicaCount"] = "one"
    with pytest.raises(SchemaError, match="minReplicaCount"):
        validate_keda(scaled)
    deployment = copy.deepcopy(one(objects, "Deployment", "prod-bosun-api"))
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    with pytest.raises(SchemaError, match="terminationGracePeriod"):
        validate_kubernetes(deployment)


def test_the_scaledjob_validator_checks_the_job_spec_against_kubernetes() -> None:
    pools = [{"name": "batch", "queues": ["batch"], "mode": "scaledjob"}]
    job = one(unchecked(values(pools=pools)), "ScaledJob", "prod-bosun-worker-batch")
    job["spec"]["jobTargetRef"]["template"]["spec"]["restartPolicyy"] = "Never"
    with pytest.raises(SchemaError, match="restartPolicyy"):
        validate_keda(job)


async def _queued_runs(url: str) -> None:
    from tests.deploy.apps import depth_app

    app = depth_app.app
    app.use_database(url)
    async with app:
        for n in range(3):
            await app.start(depth_app.chat, n)
        for n in range(5):
            await app.start(depth_app.render_frame, n)
        await app.start(depth_app.train, 0)


@pytest.mark.postgres
async def test_the_keda_query_counts_ready_and_in_flight_runs_of_the_pool(pg_url: str) -> None:
    await _queued_runs(pg_url)
    objects = unchecked(values(pools=GPU_POOLS))

    def depth(pool: str) -> int:
        scaled = one(objects, "ScaledObject", f"prod-bosun-worker-{pool}")
        query = scaled["spec"]["triggers"][0]["metadata"]["query"]
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(query).fetchone()
        assert row is not None
        return int(row[0])

    # default: 3 chats; gpu serves gpu (5 frames) and vision (1 training run).
    assert (depth("default"), depth("gpu")) == (3, 6)
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "UPDATE bosun.runs SET status = 'running' WHERE id IN "
            "(SELECT id FROM bosun.runs WHERE queue = 'gpu' LIMIT 2)"
        )
    assert depth("gpu") == 6, "in-flight runs still count, so the pool does not scale in"


def _query_value(pg_url: str, query: str) -> int:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.postgres
async def test_the_keda_query_counts_only_the_runs_a_queue_limit_admits(pg_url: str) -> None:
    from tests.deploy.apps import depth_app

    app = depth_app.app
    app.use_database(pg_url)
    async with app:
        for n in range(6):
            await app.start(depth_app.render_frame, n)
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "INSERT INTO bosun.queue_limits (queue, max_running, updated_at) "
            "VALUES ('gpu', 2, 0), ('idle', 4, 0)"
        )
    pools = [
        {"name": "gpu", "queues": ["gpu"], "gpu": 1, "concurrency": 1, "maxReplicas": 11},
        {"name": "batch", "queues": ["gpu-batch", "idle"], "mode": "scaledjob"},
    ]
    objects = unchecked(values(pools=pools))
    scaled = one(objects, "ScaledObject", "prod-bosun-worker-gpu")["spec"]
    # A queue limited to 2 running runs, 6 ready: 2, so 2 GPU replicas rather than 6.
    assert _query_value(pg_url, scaled["triggers"][0]["metadata"]["query"]) == 2
    with psycopg.connect(pg_url) as conn:
        depth = conn.execute(
            "SELECT queue, ready, in_flight, runnable FROM bosun.queue_depth ORDER BY queue"
        ).fetchall()
    # The limited queue without runs is listed too, at zero.
    assert depth == [("gpu", 6, 0, 2), ("idle", 0, 0, 0)]
    job = one(objects, "ScaledJob", "prod-bosun-worker-batch")["spec"]
    assert _query_value(pg_url, job["triggers"][0]["metadata"]["query"]) == 0


def scaledjob_pool(**overrides: Any) -> list[dict[str, Any]]:
    return [{"name": "batch", "queues": ["batch"], "mode": "scaledjob", **overrides}]


def test_scaledjob_pools_start_from_zero_and_let_running_jobs_finish_on_upgrade() -> None:
    # workerDefaults' warm minimum is the Deployment pools'; a ScaledJob pool starts from 0.
    pools = [{"name": "default", "queues": ["default"]}, *scaledjob_pool(maxReplicas=4)]
    objects = rendered(values(pools=pools, workerDefaults={"minReplicas": 3}))
    job = one(objects, "ScaledJob", "prod-bosun-worker-batch")["spec"]
    assert (job["minReplicaCount"], job["maxReplicaCount"]) == (0, 4)
    assert job["rollout"] == {"strategy": "gradual"}
    # The default strategy subtracts the running Jobs from ceil(query / target): the query
    # counts the runs those Jobs hold, so it is the right one for it.
    assert job["scalingStrategy"] == {"strategy": "default"}
    assert job["triggers"][0]["metadata"]["query"] == (
        "SELECT COALESCE(SUM(runnable), 0) FROM bosun.queue_depth WHERE queue IN ('batch')"
    )
    warm = one(objects, "ScaledObject", "prod-bosun-worker-default")["spec"]
    assert warm["minReplicaCount"] == 3
    objects = rendered(values(pools=scaledjob_pool(minReplicas=0)))
    assert one(objects, "ScaledJob", "prod-bosun-worker-batch")["spec"]["minReplicaCount"] == 0
    everything_scaledjob = values(
        pools=[{"name": "batch", "queues": ["batch"]}], workerDefaults={"mode": "scaledjob"}
    )
    job = one(rendered(everything_scaledjob), "ScaledJob", "prod-bosun-worker-batch")
    assert job["spec"]["minReplicaCount"] == 0


def test_a_deployment_pool_may_set_a_warm_minimum_of_zero() -> None:
    pools = [{"name": "default", "queues": ["default"], "minReplicas": 0}]
    scaled = one(rendered(values(pools=pools)), "ScaledObject", "prod-bosun-worker-default")
    assert scaled["spec"]["minReplicaCount"] == 0


@pytest.mark.parametrize(
    ("pools", "says"),
    [
        # A warm Job exits at once on an idle queue and KEDA starts another: churn.
        (
            scaledjob_pool(minReplicas=1),
            r"mode scaledjob cannot keep minReplicas 1 Jobs.*until-idle",
        ),
        (scaledjob_pool(maxSeconds=30, grace=30), r"maxSeconds \(30\) must be above grace \(30\)"),
        (scaledjob_pool(maxSeconds=20), r"maxSeconds \(20\) must be above grace \(30\)"),
        (
            [
                {"name": "cpu", "queues": ["default", "mail"]},
                {"name": "burst", "queues": ["mail"], "mode": "scaledjob"},
            ],
            r'pools\[burst\]: queue "mail" is already served by pool "cpu".*twice the capacity',
        ),
    ],
)
def test_the_chart_refuses_pools_that_churn_or_double_count(
    pools: list[dict[str, Any]], says: str
) -> None:
    with pytest.raises(ConfigurationError, match=says):
        render(values(pools=pools))


def test_an_image_digest_pins_the_image_and_the_labels_stay_valid() -> None:
    image = {"repository": "registry.example/agents", "tag": "v7", "digest": DIGEST}
    objects = rendered(values(image=image))
    for workload in find(objects, "Deployment") + find(objects, "Job"):
        for container in pod_spec(workload)["containers"]:
            assert container["image"] == f"registry.example/agents:v7@{DIGEST}"
    for obj in objects:
        assert obj["metadata"]["labels"]["app.kubernetes.io/version"] == "v7"
    worker = pod_spec(one(objects, "Deployment", "prod-bosun-worker-default"))["containers"][0]
    # The digest names the code exactly: it is the version runs stay on.
    assert env_of(worker)["BOSUN_VERSION"] == DIGEST
    objects = rendered(values(image={"repository": "agents", "digest": DIGEST}))
    api = pod_spec(one(objects, "Deployment", "prod-bosun-api"))["containers"][0]
    assert api["image"] == f"agents@{DIGEST}"
    assert objects[0]["metadata"]["labels"]["app.kubernetes.io/version"] == bosun.__version__
    pinned = values(
        image={"repository": "agents", "digest": DIGEST}, app={"ref": "a.py", "version": "v9"}
    )
    worker = pod_spec(one(rendered(pinned), "Deployment", "prod-bosun-worker-default"))
    assert env_of(worker["containers"][0])["BOSUN_VERSION"] == "v9"


def test_a_tag_that_is_no_label_value_is_trimmed_into_one() -> None:
    tag = "_nightly-" + "x" * 100
    objects = rendered(values(image={"repository": "agents", "tag": tag}))
    label = objects[0]["metadata"]["labels"]["app.kubernetes.io/version"]
    assert label == ("nightly-" + "x" * 100)[:62]
    container = pod_spec(one(objects, "Deployment", "prod-bosun-api"))["containers"][0]
    assert container["image"] == f"agents:{tag}"


@pytest.mark.parametrize(
    ("image", "says"),
    [
        ({"repository": "agents", "tag": f"v7@{DIGEST}"}, "tag"),
        ({"repository": "agents", "digest": "0123abcd"}, "digest"),
    ],
)
def test_a_digest_goes_in_image_digest(image: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        render(values(image=image))


def test_service_monitors_scrape_the_api_and_every_worker_pod_when_enabled() -> None:
    assert not find(rendered(values()), "ServiceMonitor")
    monitor = {
        "enabled": True,
        "interval": "15s",
        "labels": {"release": "kube-prometheus-stack"},
        "bearerTokenSecret": {"name": "bosun-metrics", "key": "token"},
    }
    pools = [{"name": "default", "queues": ["default"]}, *scaledjob_pool()]
    objects = rendered(values(pools=pools, metrics={"serviceMonitor": monitor}))
    api_monitor = one(objects, "ServiceMonitor", "prod-bosun-api")
    worker_monitor = one(objects, "ServiceMonitor", "prod-bosun-worker")
    for monitor_obj in (api_monitor, worker_monitor):
        assert monitor_obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        (endpoint,) = monitor_obj["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics" and endpoint["interval"] == "15s"
        assert endpoint["authorization"] == {
            "type": "Bearer",
            "credentials": {"name": "bosun-metrics", "key": "token"},
        }

    def selected(monitor_obj: dict[str, Any]) -> dict[str, Any]:
        wanted = monitor_obj["spec"]["selector"]["matchLabels"].items()
        (service,) = [
            s for s in find(objects, "Service") if wanted <= s["metadata"]["labels"].items()
        ]
        return service

    api_service = selected(api_monitor)
    assert api_service["metadata"]["name"] == "prod-bosun-api"
    assert api_monitor["spec"]["endpoints"][0]["port"] == api_service["spec"]["ports"][0]["name"]
    metrics_service = selected(worker_monitor)
    assert metrics_service["spec"]["clusterIP"] == "None"
    assert worker_monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert metrics_service["spec"]["ports"][0] == {
        "name": "metrics",
        "port": 9100,
        "targetPort": "metrics",
    }
    # The headless Service's selector takes in the pods of every pool, Jobs' included.
    selector = metrics_service["spec"]["selector"].items()
    deployment = one(objects, "Deployment", "prod-bosun-worker-default")
    job = one(objects, "ScaledJob", "prod-bosun-worker-batch")["spec"]["jobTargetRef"]
    for template in (deployment["spec"]["template"], job["template"]):
        assert selector <= template["metadata"]["labels"].items()
        ports = template["spec"]["containers"][0]["ports"]
        assert {"name": "metrics", "containerPort": 9100} in ports
    with pytest.raises(ConfigurationError, match=r"needs metrics\.enabled"):
        render(values(metrics={"enabled": False, "serviceMonitor": {"enabled": True}}))


def test_the_service_monitor_validator_rejects_unknown_fields() -> None:
    objects = unchecked(values(metrics={"serviceMonitor": {"enabled": True}}))
    monitor = copy.deepcopy(one(objects, "ServiceMonitor", "prod-bosun-api"))
    monitor["spec"]["endpoints"][0]["intervall"] = "5s"
    with pytest.raises(SchemaError, match="intervall"):
        validate_object(monitor)


def test_keda_fallback_and_hpa_behaviour_reach_every_scaled_object() -> None:
    behavior = {
        "scaleDown": {
            "stabilizationWindowSeconds": 600,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        }
    }
    keda = {
        "fallback": {"failureThreshold": 3, "replicas": 6},
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": behavior}},
    }
    pools: list[Any] = [*GPU_POOLS, *scaledjob_pool()]
    pools[1] = {**pools[1], "maxReplicas": 4}
    objects = rendered(values(pools=pools, keda=keda))
    default = one(objects, "ScaledObject", "prod-bosun-worker-default")["spec"]
    assert default["fallback"] == {"failureThreshold": 3, "replicas": 6}
    assert default["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == behavior
    gpu = one(objects, "ScaledObject", "prod-bosun-worker-gpu")["spec"]
    assert gpu["fallback"] == {"failureThreshold": 3, "replicas": 4}, "capped at maxReplicas"
    job = one(objects, "ScaledJob", "prod-bosun-worker-batch")["spec"]
    assert "fallback" not in job and "advanced" not in job
    plain = one(rendered(values()), "ScaledObject", "prod-bosun-worker-default")["spec"]
    assert "fallback" not in plain and "advanced" not in plain
    with pytest.raises(ConfigurationError, match="replicas"):
        render(values(keda={"fallback": {"failureThreshold": 3}}))
    with pytest.raises(ConfigurationError, match="behaviour"):
        render(values(keda={"advanced": {"behaviour": {}}}))


def test_a_priority_class_is_opt_in() -> None:
    objects = rendered(values(priorityClass={"create": True, "value": 1000}))
    (priority,) = find(objects, "PriorityClass")
    assert (priority["metadata"]["name"], priority["value"]) == ("prod-bosun-workers", 1000)
    worker = pod_spec(one(objects, "Deployment", "prod-bosun-worker-default"))
    assert worker["priorityClassName"] == "prod-bosun-workers"
    assert "priorityClassName" not in pod_spec(one(objects, "Deployment", "prod-bosun-api"))
    objects = rendered(values(priorityClass={"existingName": "batch-high"}))
    assert not find(objects, "PriorityClass")
    worker = pod_spec(one(objects, "Deployment", "prod-bosun-worker-default"))
    assert worker["priorityClassName"] == "batch-high"


def test_the_api_keeps_serving_until_it_is_out_of_the_endpoints_then_drains() -> None:
    api = pod_spec(one(rendered(values()), "Deployment", "prod-bosun-api"))
    container = api["containers"][0]
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 10}}}
    # The wait, then bosun server's 35 s to finish requests and streams, then a margin.
    assert api["terminationGracePeriodSeconds"] == 10 + 35 + 10
    api = pod_spec(one(rendered(values(api={"preStopSeconds": 0})), "Deployment", "prod-bosun-api"))
    assert "lifecycle" not in api["containers"][0]
    assert api["terminationGracePeriodSeconds"] == 45


def test_the_migration_job_is_named_after_its_spec_so_kubectl_apply_can_reapply_it() -> None:
    # A Job's pod template cannot change: re-applying `bosun deploy manifests` output with a
    # new image under the same name would fail. The name follows the spec instead: the same
    # values give the same Job (apply leaves it alone), a new image gives a new Job.
    first = migration_job(rendered(values(image={"repository": "agents", "tag": "v1"})))
    again = migration_job(rendered(values(image={"repository": "agents", "tag": "v1"})))
    assert first == again
    second = migration_job(rendered(values(image={"repository": "agents", "tag": "v2"})))
    assert second["metadata"]["name"] != first["metadata"]["name"]
    resized = migration_job(rendered(values(migrations={"resources": {"limits": {"cpu": "1"}}})))
    assert resized["metadata"]["name"] != migration_job(rendered(values()))["metadata"]["name"]
    assert first["spec"]["ttlSecondsAfterFinished"] == 86400
    # The longest release name still gives a valid Job name (its pods carry it as a label).
    long_release = render(values(), release="r" * 53, namespace="agents")
    (job,) = find(long_release, "Job")
    validate_object(job)
    assert len(job["metadata"]["name"]) <= 63
