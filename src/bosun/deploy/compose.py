"""The Compose bundle for an App: `deploy/compose`, pointed at the App and its queues.

The repository's `deploy/compose/compose.yaml` is the template: it builds bosun's image and
runs the demo app. The bundle for an App uses a prebuilt image (`BOSUN_IMAGE`) with the App
mounted from the bundle's folder, a worker service serving the App's CPU queues with `workers`
replicas, a GPU worker service (Compose profile `gpu`) serving its GPU queues, and the same
PostgreSQL, migration, Prometheus and Grafana services.

Nothing has a default password: the file requires POSTGRES_PASSWORD, GRAFANA_ADMIN_PASSWORD
and BOSUN_METRICS_TOKEN, which `compose_env` generates for the bundle's `.env`.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Sequence
from typing import Any

import yaml

from bosun.deploy.files import compose_dir, dashboard_file
from bosun.errors import ConfigurationError
from bosun.version import __version__

BOSUN_SERVICES = ("migrate", "api", "worker", "worker-gpu")
WORKER_GRACE = 30
METRICS_PORT = 9100
GPU_QUEUE = "gpu"
GPU_CONCURRENCY = 2
# The variables compose.yaml requires, each generated for a bundle's .env.
SECRETS = ("POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "BOSUN_METRICS_TOKEN")

HEADER = """\
# bosun on one machine for {app_ref}: API + UI, workers, PostgreSQL, Prometheus, Grafana.
# Written by `bosun deploy compose`. Start it from this folder (the app is mounted from it):
#   docker compose up -d            # then scale workers: docker compose up -d --scale worker=N
# It needs POSTGRES_PASSWORD, GRAFANA_ADMIN_PASSWORD and BOSUN_METRICS_TOKEN: `bosun deploy
# compose --out DIR` generates them into DIR/.env (kept if it is there already).
# Ports are published on 127.0.0.1 (BOSUN_BIND_ADDRESS=0.0.0.0 publishes them on every
# interface); /metrics answers only with BOSUN_METRICS_TOKEN.
# The image is ${{BOSUN_IMAGE:-bosun:{version}}}: build it from a bosun checkout with
#   docker build -f deploy/Dockerfile -t bosun:{version} .
"""
GPU_HEADER = """\
# The queues {queues} run on GPU workers only, in the Compose profile `gpu` (one NVIDIA GPU
# each, through NVIDIA's container toolkit): docker compose --profile gpu up -d
"""


def _worker_command(app_ref: str, queues: Sequence[str], concurrency: int = 16) -> list[str]:
    command = ["worker", app_ref]
    for queue in queues:
        command += ["--queue", queue]
    return [
        *command,
        "--concurrency",
        str(concurrency),
        "--grace",
        str(WORKER_GRACE),
        "--metrics-port",
        str(METRICS_PORT),
        "--metrics-host",
        "0.0.0.0",
    ]


def gpu_queues_of(queues: Sequence[str], gpu_queues: Sequence[str] | None) -> list[str]:
    """The queues GPU workers serve: the one named `gpu`, if the App has it, and `gpu_queues`.

    Raises:
        ConfigurationError: a GPU queue the App does not have.
    """
    unknown = sorted(set(gpu_queues or ()) - set(queues))
    if unknown:
        raise ConfigurationError(
            f"--gpu-pool {', '.join(unknown)}: the app has no such queue; its queues are "
            f"{', '.join(queues)}"
        )
    chosen = {GPU_QUEUE, *(gpu_queues or ())}
    return [q for q in queues if q in chosen]


def compose_project(
    app_ref: str, queues: list[str], workers: int, gpu_queues: Sequence[str] | None = None
) -> dict[str, Any]:
    """The Compose file for the App at `app_ref` (as the container sees it, under /app).

    Args:
        app_ref: APP_REF relative to the bundle's folder, mounted at /app.
        queues: the App's queues.
        workers: CPU worker replicas.
        gpu_queues: queues only GPU workers serve, besides the one named `gpu` (always a GPU
            queue). The `worker` service serves the others; a service with nothing to serve
            is left out.
    """
    gpu = gpu_queues_of(queues, gpu_queues)
    cpu = [q for q in queues if q not in gpu]
    template = yaml.safe_load((compose_dir() / "compose.yaml").read_text())
    project: dict[str, Any] = {"services": copy.deepcopy(template["services"])}
    for section in ("secrets", "volumes"):
        project[section] = copy.deepcopy(template[section])
    services = project["services"]
    for name in BOSUN_SERVICES:
        service = services[name]
        service.pop("build", None)
        service["image"] = f"${{BOSUN_IMAGE:-bosun:{__version__}}}"
        service["volumes"] = [".:/app:ro"]
    services["api"]["command"] = [
        "server",
        app_ref,
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
    ]
    services["worker"]["command"] = _worker_command(app_ref, cpu)
    services["worker"]["deploy"] = {"replicas": workers}
    services["worker-gpu"]["command"] = _worker_command(app_ref, gpu, GPU_CONCURRENCY)
    if not cpu:
        del services["worker"]
    if not gpu:
        del services["worker-gpu"]
    services["grafana"]["volumes"] = [
        "./grafana/provisioning:/etc/grafana/provisioning:ro",
        "./grafana/dashboards:/var/lib/grafana/dashboards:ro",
    ]
    return project


def compose_yaml(
    app_ref: str, queues: list[str], workers: int, gpu_queues: Sequence[str] | None = None
) -> str:
    """`compose_project` as the YAML text of a compose.yaml, with a header saying how to run it."""
    project = compose_project(app_ref, queues, workers, gpu_queues)
    header = HEADER.format(app_ref=app_ref, version=__version__)
    gpu = gpu_queues_of(queues, gpu_queues)
    if gpu:
        header += GPU_HEADER.format(queues=", ".join(gpu))
    return header + "\n" + yaml.safe_dump(project, sort_keys=False)


def compose_env() -> str:
    """A `.env` for the bundle: every variable of `SECRETS`, freshly generated."""
    lines = [
        "# Generated by `bosun deploy compose`: the bundle's passwords and tokens. Keep it",
        "# private; PostgreSQL takes POSTGRES_PASSWORD when its volume is first created.",
    ]
    lines += [f"{name}={secrets.token_urlsafe(24)}" for name in SECRETS]
    return "\n".join(lines) + "\n"


def _prometheus_config(services: dict[str, Any]) -> bytes:
    """prometheus.yml, its worker discovery naming only the worker services there are."""
    text = (compose_dir() / "prometheus.yml").read_text()
    config = yaml.safe_load(text)
    names = [name for name in ("worker", "worker-gpu") if name in services]
    changed = False
    for job in config["scrape_configs"]:
        for discovery in job.get("dns_sd_configs", []):
            changed |= discovery["names"] != names
            discovery["names"] = names
    if not changed:
        return text.encode()
    comments = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    return (comments + yaml.safe_dump(config, sort_keys=False)).encode()


def compose_bundle(
    app_ref: str, queues: list[str], workers: int, gpu_queues: Sequence[str] | None = None
) -> dict[str, bytes]:
    """Every file of the bundle, by path relative to its folder.

    compose.yaml, prometheus.yml, Grafana's provisioning and, when this installation has it,
    the bosun dashboard. Not the `.env` (`compose_env`): it is written once, never replaced.
    """
    source = compose_dir()
    project = compose_project(app_ref, queues, workers, gpu_queues)
    files = {"compose.yaml": compose_yaml(app_ref, queues, workers, gpu_queues).encode()}
    files["prometheus.yml"] = _prometheus_config(project["services"])
    provisioning = source / "grafana" / "provisioning"
    for path in sorted(provisioning.rglob("*")):
        if path.is_file():
            files[path.relative_to(source).as_posix()] = path.read_bytes()
    dashboard = dashboard_file()
    if dashboard is not None:
        files["grafana/dashboards/bosun.json"] = dashboard.read_bytes()
    return files
