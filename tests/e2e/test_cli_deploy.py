"""`bosun deploy` as a subprocess, for each target; every output is validated offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from tests.deploy.validators import (
    SchemaError,
    check_bosun_args,
    translate_sam,
    validate_compose,
    validate_kubernetes_part,
    validate_object,
)

from bosun.deploy.files import chart_dir
from bosun.deploy.serverless import LAMBDA_HANDLER, LAMBDA_HANDLER_MARGIN

BOSUN = str(Path(sys.executable).parent / "bosun")
APP = "tests/deploy/apps/depth_app.py"
REPO = Path(__file__).resolve().parents[2]


def deploy(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BOSUN_DATABASE_URL"}
    return subprocess.run(
        [BOSUN, "deploy", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def ok(*args: str) -> str:
    done = deploy(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_compose_prints_a_valid_compose_file_for_the_apps_queues() -> None:
    project = yaml.safe_load(ok("compose", APP, "--workers", "4"))
    validate_compose(project)
    worker = project["services"]["worker"]
    assert worker["deploy"]["replicas"] == 4

    def queues(service: str) -> list[str]:
        command = project["services"][service]["command"]
        return [command[i + 1] for i, a in enumerate(command) if a == "--queue"]

    # The gpu queue is served by the GPU worker alone (Compose profile gpu).
    assert queues("worker") == ["default", "vision"]
    assert queues("worker-gpu") == ["gpu"]


def test_compose_out_writes_the_whole_bundle(tmp_path: Path) -> None:
    done = deploy("compose", str(REPO / APP), "--out", str(tmp_path / "stack"))
    assert done.returncode == 0, done.stderr
    stack = tmp_path / "stack"
    validate_compose(yaml.safe_load((stack / "compose.yaml").read_text()))
    assert yaml.safe_load((stack / "prometheus.yml").read_text())["scrape_configs"]
    assert (stack / "grafana/provisioning/datasources/prometheus.yaml").is_file()
    assert (stack / "grafana/provisioning/dashboards/bosun.yaml").is_file()


def _render(values: dict[str, Any]) -> list[dict[str, Any]]:
    with helm_python.Chart.load(str(chart_dir())) as chart:
        chart.validate_schema(values)
        manifests = chart.render(values, name="bosun", namespace="default")
    texts = [text for path, text in manifests.items() if path.endswith(".yaml")]
    return [d for text in texts for d in yaml.safe_load_all(text) if d]


def test_helm_values_give_each_queue_a_pool_and_fit_the_chart() -> None:
    values = yaml.safe_load(
        ok("helm", APP, "--min-replicas", "2", "--max-replicas", "20", "--gpu-pool", "gpu")
    )
    assert [(p["name"], p["queues"]) for p in values["pools"]] == [
        ("default", ["default"]),
        ("gpu", ["gpu"]),
        ("vision", ["vision"]),
    ]
    assert values["workerDefaults"] == {"minReplicas": 2, "maxReplicas": 20, "scaleToZero": False}
    gpu = values["pools"][1]
    assert gpu["gpu"] == 1 and gpu["tolerations"][0]["key"] == "nvidia.com/gpu"
    objects = _render(values)
    for obj in objects:
        validate_object(obj)
    scaled = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ScaledObject"}
    assert sorted(scaled) == ["bosun-worker-default", "bosun-worker-gpu", "bosun-worker-vision"]
    assert scaled["bosun-worker-gpu"]["spec"]["minReplicaCount"] == 2


def test_helm_out_writes_the_values_file(tmp_path: Path) -> None:
    out = tmp_path / "values.yaml"
    done = deploy("helm", APP, "--scale-to-zero", "--out", str(out))
    assert done.returncode == 0 and done.stdout == "", done.stderr
    assert yaml.safe_load(out.read_text())["workerDefaults"]["scaleToZero"] is True


def test_a_warm_minimum_of_zero_scales_to_zero() -> None:
    values = yaml.safe_load(ok("helm", APP, "--min-replicas", "0", "--max-replicas", "3"))
    assert values["workerDefaults"] == {"minReplicas": 1, "maxReplicas": 3, "scaleToZero": True}


def test_the_commands_bosun_plan_recommends_run() -> None:
    plan = pytest.importorskip("bosun.plan.deploy")
    commands = [
        plan.deploy_command("compose", APP, workers=3),
        plan.deploy_command(
            "helm", APP, min_replicas=0, max_replicas=8, scale_to_zero=True, gpu_pool="gpu"
        ),
        plan.deploy_command("manifests", APP, min_replicas=2, max_replicas=8),
        plan.deploy_command("cloud-run", APP, max_seconds=3540),
        plan.deploy_command("lambda", APP, max_seconds=840),
    ]
    for command in commands:
        words = command.split()
        assert words[:2] == ["bosun", "deploy"]
        done = deploy(*words[2:])
        assert done.returncode == 0, f"{command}: {done.stderr}"


def test_manifests_are_the_rendered_chart_and_all_valid() -> None:
    objects = [d for d in yaml.safe_load_all(ok("manifests", APP, "--scale-to-zero")) if d]
    for obj in objects:
        validate_object(obj)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "ScaledObject", "TriggerAuthentication", "Job", "Service"} <= kinds
    scaled = [o for o in objects if o["kind"] == "ScaledObject"]
    assert len(scaled) == 3 and all(o["spec"]["minReplicaCount"] == 0 for o in scaled)
    values = yaml.safe_load(ok("helm", APP, "--scale-to-zero"))
    as_values = sorted(_render(values), key=lambda o: (o["kind"], o["metadata"]["name"]))
    assert sorted(objects, key=lambda o: (o["kind"], o["metadata"]["name"])) == as_values


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("helm", APP, "--gpu-pool", "tpu"), "no such queue"),
        (("manifests", APP, "--min-replicas", "5", "--max-replicas", "2"), "--max-replicas"),
        (("lambda", APP, "--max-seconds", "1000"), "890 or less"),
        (("compose", "tests/deploy/apps/missing.py"), "no such file"),
    ],
)
def test_bad_input_exits_2_and_says_how_to_fix_it(args: tuple[str, ...], says: str) -> None:
    done = deploy(*args)
    assert done.returncode == 2
    assert says in done.stderr
    assert done.stdout == ""


def test_cloud_run_job_runs_the_drain_mode_worker() -> None:
    job = yaml.safe_load(ok("cloud-run", APP, "--max-seconds", "900"))
    assert (job["apiVersion"], job["kind"]) == ("run.googleapis.com/v1", "Job")
    task = job["spec"]["template"]["spec"]["template"]["spec"]
    (container,) = task["containers"]
    validate_kubernetes_part(container, "io.k8s.api.core.v1.Container")
    args = container["args"]
    check_bosun_args(args)
    assert args[:2] == ["worker", APP]
    assert args[2:6] == ["--queue", "default", "--queue", "vision"]  # no GPUs: not `gpu`
    assert args[args.index("--max-seconds") + 1] == "900" and "--until-idle" in args
    assert task["timeoutSeconds"] > 900
    assert task["maxRetries"] == 0


def test_the_container_validator_rejects_unknown_fields() -> None:
    with pytest.raises(SchemaError, match="argz"):
        validate_kubernetes_part({"name": "w", "argz": []}, "io.k8s.api.core.v1.Container")


def test_lambda_template_translates_to_a_scheduled_function() -> None:
    template = yaml.safe_load(ok("lambda", APP, "--max-seconds", "300"))
    resources = translate_sam(template)["Resources"]
    kinds = sorted(r["Type"] for r in resources.values())
    assert kinds == [
        "AWS::Events::Rule",
        "AWS::IAM::Role",
        "AWS::Lambda::Function",
        "AWS::Lambda::Permission",
    ]
    function = resources["Worker"]["Properties"]
    assert function["Timeout"] == 300 + LAMBDA_HANDLER_MARGIN
    assert function["ImageConfig"]["Command"] == [LAMBDA_HANDLER]
    env = function["Environment"]["Variables"]
    assert env["BOSUN_APP"] == APP and env["BOSUN_QUEUES"] == "default,vision"  # no `gpu`
    rule = next(r for r in resources.values() if r["Type"] == "AWS::Events::Rule")
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    broken = yaml.safe_load(ok("lambda", APP))
    broken["Resources"]["Worker"]["Properties"]["Timeoutt"] = 3
    with pytest.raises(SchemaError, match="Timeoutt"):
        translate_sam(broken)


def test_the_lambda_handler_named_is_the_one_bosun_ships() -> None:
    from bosun.serverless import lambda_handler

    module, _, name = LAMBDA_HANDLER.rpartition(".")
    assert module == lambda_handler.__name__ and callable(getattr(lambda_handler, name))
    assert lambda_handler.MARGIN_MAX == LAMBDA_HANDLER_MARGIN


def _readme_deploy_commands() -> list[list[str]]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split() for line in block.splitlines() if line.startswith("bosun deploy")]


def test_the_readme_deploy_commands_write_valid_files(tmp_path: Path) -> None:
    commands = _readme_deploy_commands()
    assert [c[2] for c in commands] == ["compose", "helm", "manifests", "cloud-run", "lambda"]
    (tmp_path / "examples").mkdir()
    shutil.copy(REPO / "examples" / "refund.py", tmp_path / "examples")
    for command in commands:
        done = deploy(*command[2:], cwd=tmp_path)
        assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"
    validate_compose(yaml.safe_load((tmp_path / "stack" / "compose.yaml").read_text()))
    values = yaml.safe_load((tmp_path / "values.yaml").read_text())
    assert [p for p in values["pools"] if p.get("gpu")] == [values["pools"][1]]
    for obj in yaml.safe_load_all((tmp_path / "manifests.yaml").read_text()):
        validate_object(obj)
    job = yaml.safe_load((tmp_path / "job.yaml").read_text())
    (container,) = job["spec"]["template"]["spec"]["template"]["spec"]["containers"]
    validate_kubernetes_part(container, "io.k8s.api.core.v1.Container")
    translate_sam(yaml.safe_load((tmp_path / "template.yaml").read_text()))
