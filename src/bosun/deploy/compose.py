"""The Compose bundle for an App: `deploy/compose`, pointed at the App and its queues.

The repository's `deploy/compose/compose.yaml` is the template: it builds bosun's image and
runs the demo app. The bundle for an App uses a prebuilt image (`BOSUN_IMAGE`) with the App
mounted from the bundle's folder, one worker service serving all the App's queues with
`workers` replicas, and the same PostgreSQL, migration, Prometheus and Grafana services.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from bosun import __version__
from bosun.deploy.files import compose_dir, dashboard_file

BOSUN_SERVICES = ("migrate", "api", "worker")
WORKER_GRACE = 30
METRICS_PORT = 9100

HEADER = """\
# bosun on one machine for {app_ref}: API + UI, workers, PostgreSQL, Prometheus, Grafana.
# Written by `bosun deploy compose`. Start it from this folder (the app is mounted from it):
#   docker compose up -d            # then scale workers: docker compose up -d --scale worker=N
# The image is ${{BOSUN_IMAGE:-bosun:{version}}}: build it from a bosun checkout with
#   docker build -f deploy/Dockerfile -t bosun:{version} .
"""


def _worker_command(app_ref: str, queues: list[str]) -> list[str]:
    command = ["worker", app_ref]
    for queue in queues:
        command += ["--queue", queue]
    return [
        *command,
        "--concurrency",
        "16",
        "--grace",
        str(WORKER_GRACE),
        "--metrics-port",
        str(METRICS_PORT),
        "--metrics-host",
        "0.0.0.0",
    ]


def compose_project(app_ref: str, queues: list[str], workers: int) -> dict[str, Any]:
    """The Compose file for the App at `app_ref` (as the container sees it, under /app).

    Args:
        app_ref: APP_REF relative to the bundle's folder, mounted at /app.
        queues: the queues the worker service serves.
        workers: worker replicas.
    """
    template = yaml.safe_load((compose_dir() / "compose.yaml").read_text())
    project: dict[str, Any] = {"services": copy.deepcopy(template["services"])}
    project["volumes"] = copy.deepcopy(template["volumes"])
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
    services["worker"]["command"] = _worker_command(app_ref, queues)
    services["worker"]["deploy"] = {"replicas": workers}
    services["grafana"]["volumes"] = [
        "./grafana/provisioning:/etc/grafana/provisioning:ro",
        "./grafana/dashboards:/var/lib/grafana/dashboards:ro",
    ]
    return project


def compose_yaml(app_ref: str, queues: list[str], workers: int) -> str:
    """`compose_project` as the YAML text of a compose.yaml, with a header saying how to run it."""
    body = yaml.safe_dump(compose_project(app_ref, queues, workers), sort_keys=False)
    return HEADER.format(app_ref=app_ref, version=__version__) + "\n" + body


def compose_bundle(app_ref: str, queues: list[str], workers: int) -> dict[str, bytes]:
    """Every file of the bundle, by path relative to its folder.

    compose.yaml, prometheus.yml, Grafana's provisioning and, when this installation has it,
    the bosun dashboard.
    """
    source = compose_dir()
    files = {"compose.yaml": compose_yaml(app_ref, queues, workers).encode()}
    files["prometheus.yml"] = (source / "prometheus.yml").read_bytes()
    provisioning = source / "grafana" / "provisioning"
    for path in sorted(provisioning.rglob("*")):
        if path.is_file():
            files[path.relative_to(source).as_posix()] = path.read_bytes()
    dashboard = dashboard_file()
    if dashboard is not None:
        files["grafana/dashboards/bosun.json"] = dashboard.read_bytes()
    return files
