"""`bosun deploy`: Compose, Helm values, manifests and serverless configs for an App."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from bosun.cli.common import AppRef, err, fail
from bosun.errors import BosunError

deploy_cli = typer.Typer(
    help=(
        "Write deployment files for an App from its queues: a Compose bundle, Helm values, "
        "Kubernetes manifests, a Cloud Run job or an AWS Lambda (SAM) template. Without "
        "--out they are printed. docs/deploy.md explains each target."
    ),
    no_args_is_help=True,
)

MinReplicasOpt = Annotated[
    int,
    typer.Option(
        "--min-replicas", min=0, help="Warm minimum replicas of each pool (0: scale to zero)."
    ),
]
MaxReplicasOpt = Annotated[
    int, typer.Option("--max-replicas", min=1, help="Most replicas of each pool.")
]
ScaleToZeroOpt = Annotated[
    bool, typer.Option("--scale-to-zero", help="Let idle pools scale to zero replicas.")
]
GpuPoolOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--gpu-pool",
        help="Queue whose pool runs on GPU nodes, one nvidia.com/gpu per replica (repeatable).",
    ),
]
MaxSecondsOpt = Annotated[
    int, typer.Option("--max-seconds", min=1, help="Time budget of one invocation, seconds.")
]


def _queues(app_ref: str) -> list[str]:
    from bosun.deploy import app_queues
    from bosun.loader import load_app

    return app_queues(load_app(app_ref))


def _emit(text: str, out_file: Path | None) -> None:
    if out_file is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text)
    err.print(f"wrote {out_file}", highlight=False)


@deploy_cli.command("compose")
def deploy_compose(
    app_ref: AppRef,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker replicas.")] = 2,
    gpu_pool: Annotated[
        list[str] | None,
        typer.Option(
            "--gpu-pool",
            help="Queue only the GPU workers serve, one NVIDIA GPU each, in the Compose profile "
            "'gpu' (repeatable; the queue named gpu always is one).",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for compose.yaml, prometheus.yml, grafana/, and a .env of generated "
            "passwords (kept if it is there).",
        ),
    ] = None,
) -> None:
    """A Compose bundle: API, workers for the App's queues, PostgreSQL, Prometheus, Grafana."""
    from bosun.deploy.compose import compose_bundle, compose_env, compose_yaml

    try:
        queues = _queues(app_ref)
        if out_dir is None:
            _emit(compose_yaml(app_ref, queues, workers, gpu_pool), None)
            err.print(
                "it needs POSTGRES_PASSWORD, GRAFANA_ADMIN_PASSWORD and BOSUN_METRICS_TOKEN in "
                "its .env: --out DIR generates them",
                highlight=False,
            )
            return
        for relative, content in compose_bundle(app_ref, queues, workers, gpu_pool).items():
            path = out_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        env_file = out_dir / ".env"
        if not env_file.exists():
            # Created private: it holds the database password.
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as env:
                env.write(compose_env())
            err.print(f"wrote {env_file} with generated passwords", highlight=False)
    except BosunError as exc:
        fail(str(exc), 2)
    err.print(f"wrote {out_dir}: start it there with `docker compose up -d`", highlight=False)


@deploy_cli.command("helm")
def deploy_helm(
    app_ref: AppRef,
    min_replicas: MinReplicasOpt = 1,
    max_replicas: MaxReplicasOpt = 10,
    scale_to_zero: ScaleToZeroOpt = False,
    gpu_pool: GpuPoolOpt = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="values.yaml to write.")] = None,
) -> None:
    """Helm values for deploy/helm/bosun: one worker pool per queue, autoscaled by KEDA."""
    from bosun.deploy.helm import PoolOptions, helm_values, values_yaml

    try:
        options = PoolOptions(min_replicas, max_replicas, scale_to_zero, tuple(gpu_pool or ()))
        values = helm_values(app_ref, _queues(app_ref), options)
    except BosunError as exc:
        fail(str(exc), 2)
    _emit(values_yaml(app_ref, values), out_file)


@deploy_cli.command("manifests")
def deploy_manifests(
    app_ref: AppRef,
    min_replicas: MinReplicasOpt = 1,
    max_replicas: MaxReplicasOpt = 10,
    scale_to_zero: ScaleToZeroOpt = False,
    gpu_pool: GpuPoolOpt = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Multi-document YAML file to write.")
    ] = None,
) -> None:
    """Kubernetes manifests: the chart rendered with the values `bosun deploy helm` writes."""
    from bosun.deploy.helm import PoolOptions, helm_values, manifests_yaml, render

    try:
        options = PoolOptions(min_replicas, max_replicas, scale_to_zero, tuple(gpu_pool or ()))
        objects = render(helm_values(app_ref, _queues(app_ref), options))
    except BosunError as exc:
        fail(str(exc), 2)
    _emit(manifests_yaml(objects), out_file)


@deploy_cli.command("cloud-run")
def deploy_cloud_run(
    app_ref: AppRef,
    max_seconds: MaxSecondsOpt = 600,
    out_file: Annotated[Path | None, typer.Option("--out", help="job.yaml to write.")] = None,
) -> None:
    """A Cloud Run job running the drain-mode worker (`--until-idle --max-seconds N`)."""
    from bosun.deploy.serverless import cloud_run_job, to_yaml

    try:
        queues = _queues(app_ref)
        job = cloud_run_job(app_ref, queues, max_seconds)
    except BosunError as exc:
        fail(str(exc), 2)
    _note_gpu_left_out(queues, "the Cloud Run job")
    _emit(to_yaml(job), out_file)


@deploy_cli.command("lambda")
def deploy_lambda(
    app_ref: AppRef,
    max_seconds: MaxSecondsOpt = 600,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="template.yaml (AWS SAM) to write.")
    ] = None,
) -> None:
    """An AWS SAM template: the drain-mode worker as a Lambda function, started every minute."""
    from bosun.deploy.serverless import lambda_template, to_yaml

    try:
        queues = _queues(app_ref)
        template = lambda_template(app_ref, queues, max_seconds)
    except BosunError as exc:
        fail(str(exc), 2)
    _note_gpu_left_out(queues, "Lambda")
    _emit(to_yaml(template), out_file)


def _note_gpu_left_out(queues: list[str], target: str) -> None:
    from bosun.deploy.serverless import GPU_QUEUE

    if GPU_QUEUE in queues:
        err.print(
            f"queue {GPU_QUEUE!r} left out: {target} has no GPUs; serve it with a GPU pool "
            "(bosun deploy compose|helm --gpu-pool gpu, or modal --gpu-queue gpu)",
            highlight=False,
        )
