"""deploy/compose: the Compose file against the compose-spec schema, what it must run and the
safety of its defaults; and the bundle `bosun deploy compose` writes, brought up for real with
podman-compose (tests/helpers/containers.py), a worker killed mid-run, and taken down.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import bosun
from bosun.deploy.compose import SECRETS, compose_bundle, compose_env, compose_project
from bosun.errors import ConfigurationError
from tests.deploy.validators import DEPLOY, SchemaError, check_bosun_args, validate_compose
from tests.helpers.containers import CONTAINERS_GROUP, Podman
from tests.helpers.processes import BOSUN
from tests.helpers.serving import free_port
from tests.helpers.wait import wait_for

COMPOSE = DEPLOY / "compose"
HOLD_APP = Path(__file__).parent / "apps" / "hold_app.py"
DEPTH_APP = Path(__file__).parent / "apps" / "depth_app.py"
BOSUN_SERVICES = ("migrate", "api", "worker", "worker-gpu")
# The variable syntax Compose interpolates: ${NAME}, ${NAME:-default}, ${NAME:?error}.
VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    return loaded


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_compose_file_follows_the_compose_spec(project: dict[str, Any]) -> None:
    validate_compose(project)
    assert set(project["services"]) == {
        "postgres",
        "migrate",
        "api",
        "worker",
        "worker-gpu",
        "prometheus",
        "grafana",
    }


@pytest.mark.parametrize("service", BOSUN_SERVICES)
def test_bosun_services_run_command_lines_bosun_accepts(
    project: dict[str, Any], service: str
) -> None:
    check_bosun_args(project["services"][service]["command"])
    bundle = compose_project("app.py", ["a", "gpu"], 2)
    check_bosun_args(bundle["services"][service]["command"])


def test_postgres_is_healthy_before_migrations_and_migrations_before_bosun(
    project: dict[str, Any],
) -> None:
    services = project["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("api", "worker", "worker-gpu"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
        database = services[name]["environment"]["BOSUN_DATABASE_URL"]
        assert database.startswith("postgresql://") and "@postgres:5432/" in database


def test_workers_scale_and_drain_within_their_stop_grace(project: dict[str, Any]) -> None:
    worker = project["services"]["worker"]
    # `--scale worker=N` needs no fixed name and no published port.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["deploy"]["replicas"] >= 1
    command = worker["command"]
    assert command[0] == "worker"
    grace = int(_option(command, "--grace"))
    assert _seconds(worker["stop_grace_period"]) > grace
    assert worker["restart"] == "unless-stopped"
    assert worker["environment"]["BOSUN_VERSION"].endswith(f"{bosun.__version__}}}")
    assert project["services"]["api"]["image"].endswith(f"bosun:{bosun.__version__}}}")


def test_prometheus_scrapes_the_api_and_every_worker_replica(project: dict[str, Any]) -> None:
    worker = project["services"]["worker"]["command"]
    config = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["bosun-api"]["static_configs"][0]["targets"] == ["api:8000"]
    (discovery,) = jobs["bosun-worker"]["dns_sd_configs"]
    assert discovery["names"] == ["worker", "worker-gpu"] and discovery["type"] == "A"
    assert str(discovery["port"]) == _option(worker, "--metrics-port")
    assert _option(worker, "--metrics-host") == "0.0.0.0"
    mounts = project["services"]["prometheus"]["volumes"]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard_folder(
    project: dict[str, Any],
) -> None:
    mounts = project["services"]["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    assert "../grafana:/var/lib/grafana/dashboards:ro" in mounts
    provisioning = COMPOSE / "grafana" / "provisioning"
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert "9090" in project["services"]["prometheus"]["ports"][0]
    dashboards = yaml.safe_load((provisioning / "dashboards" / "bosun.yaml").read_text())
    assert dashboards["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_the_dashboard_mounted_into_grafana_is_a_dashboard() -> None:
    dashboard = DEPLOY / "grafana" / "bosun.json"
    if not dashboard.is_file():
        pytest.skip("deploy/grafana/bosun.json is not there yet (the metrics work adds it)")
    assert json.loads(dashboard.read_text())["panels"]


def test_the_bundle_for_an_app_serves_its_queues_from_a_prebuilt_image() -> None:
    project = compose_project("agents.py", ["default", "vision", "gpu"], workers=3)
    validate_compose(project)
    services = project["services"]
    for name in BOSUN_SERVICES:
        assert "build" not in services[name]
        assert services[name]["image"] == f"${{BOSUN_IMAGE:-bosun:{bosun.__version__}}}"
        assert services[name]["volumes"] == [".:/app:ro"]
    assert services["api"]["command"][:2] == ["server", "agents.py"]
    worker = services["worker"]["command"]
    assert worker[:6] == ["worker", "agents.py", "--queue", "default", "--queue", "vision"]
    assert "gpu" not in worker  # GPU runs go to GPU workers only
    assert services["worker"]["deploy"]["replicas"] == 3
    assert services["worker-gpu"]["command"][:4] == ["worker", "agents.py", "--queue", "gpu"]
    assert services["worker-gpu"]["command"].count("--queue") == 1
    files = compose_bundle("agents.py", ["default"], workers=1)
    assert {"compose.yaml", "prometheus.yml"} <= set(files)
    assert "grafana/provisioning/datasources/prometheus.yaml" in files
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in services["grafana"]["volumes"]


def test_the_compose_validator_rejects_what_compose_would(project: dict[str, Any]) -> None:
    broken = yaml.safe_load(yaml.safe_dump(project))
    broken["services"]["worker"]["replicas"] = 4  # belongs under deploy:
    with pytest.raises(SchemaError, match="replicas"):
        validate_compose(broken)
    broken = yaml.safe_load(yaml.safe_dump(project))
    broken["services"]["migrate"]["depends_on"]["postgres"]["condition"] = "healthy"
    with pytest.raises(SchemaError):
        validate_compose(broken)


def test_the_schema_files_carry_their_licence() -> None:
    for folder in ("keda", "compose"):
        schemas = DEPLOY / "schemas" / folder
        assert "Apache License" in (schemas / "LICENSE").read_text()
        readme = (schemas / "README.md").read_text()
        assert re.search(r"commit\s+`[0-9a-f]{40}`", readme), f"{folder}: no pinned source"


# -- safe defaults ------------------------------------------------------------------------------


def _variables(text: str) -> dict[str, set[tuple[str, str]]]:
    """Each variable the file interpolates, with how: ("", ""), (":-", default), (":?", error)."""
    found: dict[str, set[tuple[str, str]]] = {}
    for name, how, value in VARIABLE.findall(text):
        found.setdefault(name, set()).add((how, value))
    return found


def test_no_password_or_token_has_a_default_and_each_is_required() -> None:
    text = (COMPOSE / "compose.yaml").read_text()
    variables = _variables(text)
    for name in SECRETS:
        uses = variables[name]
        assert all(how == ":?" and "set it in .env" in error for how, error in uses), (name, uses)
    # The metrics token goes to Prometheus as a secret, not in its config.
    project = yaml.safe_load(text)
    assert project["secrets"] == {"metrics_token": {"environment": "BOSUN_METRICS_TOKEN"}}
    assert project["services"]["prometheus"]["secrets"] == ["metrics_token"]
    for name in BOSUN_SERVICES:
        environment = project["services"][name]["environment"]
        assert environment["BOSUN_METRICS_TOKEN"].startswith("${BOSUN_METRICS_TOKEN:?")
    for word in ("admin", "bosun", "password", "changeme"):
        assert f"PASSWORD:-{word}" not in text


def test_ports_are_published_on_loopback_unless_the_user_says_otherwise(
    project: dict[str, Any],
) -> None:
    published = {
        name: service["ports"]
        for name, service in project["services"].items()
        if "ports" in service
    }
    assert set(published) == {"api", "prometheus", "grafana"}  # not PostgreSQL, not workers
    for ports in published.values():
        (port,) = ports
        assert port.startswith("${BOSUN_BIND_ADDRESS:-127.0.0.1}:"), port


def test_metrics_need_the_token_and_prometheus_sends_it(project: dict[str, Any]) -> None:
    config = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        assert job["authorization"] == {"credentials_file": "/run/secrets/metrics_token"}
    # The workers' metrics port is reached on Compose's network only.
    for name in ("worker", "worker-gpu"):
        assert "ports" not in project["services"][name]


def test_bosun_containers_run_read_only_without_privileges(project: dict[str, Any]) -> None:
    for name in BOSUN_SERVICES:
        service = project["services"][name]
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"]
        assert service["cap_drop"] == ["ALL"]
        assert service["security_opt"] == ["no-new-privileges:true"]


def test_the_gpu_worker_is_a_profile_serving_the_gpu_queue_on_an_nvidia_gpu(
    project: dict[str, Any],
) -> None:
    gpu = project["services"]["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    command = gpu["command"]
    assert [command[i + 1] for i, word in enumerate(command) if word == "--queue"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device == {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
    assert _seconds(gpu["stop_grace_period"]) > int(_option(command, "--grace"))
    # The CPU workers never take GPU runs.
    assert "gpu" not in project["services"]["worker"]["command"]
    assert "profiles" not in project["services"]["worker"]


def test_the_bundle_keeps_only_the_worker_services_it_needs() -> None:
    cpu_only = compose_project("a.py", ["default"], workers=1)
    assert "worker-gpu" not in cpu_only["services"]
    gpu_only = compose_project("a.py", ["gpu"], workers=1)
    assert "worker" not in gpu_only["services"]
    assert "worker-gpu" in gpu_only["services"]
    chosen = compose_project("a.py", ["default", "render"], workers=1, gpu_queues=["render"])
    assert _option(chosen["services"]["worker-gpu"]["command"], "--queue") == "render"
    for project in (cpu_only, gpu_only, chosen):
        validate_compose(project)
    prometheus = yaml.safe_load(compose_bundle("a.py", ["default"], workers=1)["prometheus.yml"])
    assert prometheus["scrape_configs"][1]["dns_sd_configs"][0]["names"] == ["worker"]
    with pytest.raises(ConfigurationError, match="no such queue"):
        compose_project("a.py", ["default"], workers=1, gpu_queues=["gpu"])


def test_the_env_file_holds_a_fresh_secret_for_each_variable() -> None:
    first, second = compose_env(), compose_env()
    values = dict(line.split("=", 1) for line in first.splitlines() if not line.startswith("#"))
    assert set(values) == set(SECRETS)
    assert all(len(value) >= 32 and re.fullmatch(r"[\w-]+", value) for value in values.values())
    assert first != second


def test_bosun_deploy_compose_writes_an_env_once_and_keeps_it(tmp_path: Path) -> None:
    (tmp_path / "depth_app.py").write_bytes(DEPTH_APP.read_bytes())

    def deploy(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [BOSUN, "deploy", "compose", "depth_app.py", *args]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert done.returncode == 0, done.stderr
        return done

    printed = deploy()
    assert "--out DIR generates them" in printed.stderr
    assert "docker compose --profile gpu up -d" in printed.stdout
    deploy("--out", "bundle")
    env = tmp_path / "bundle" / ".env"
    assert env.stat().st_mode & 0o777 == 0o600
    generated = env.read_text()
    deploy("--out", "bundle", "--gpu-pool", "vision")
    assert env.read_text() == generated  # never replaced: the database has its password
    services = yaml.safe_load((tmp_path / "bundle" / "compose.yaml").read_text())["services"]
    queues = {
        name: [
            c for i, c in enumerate(service["command"]) if service["command"][i - 1] == "--queue"
        ]
        for name, service in services.items()
        if name.startswith("worker")
    }
    assert queues == {"worker": ["default"], "worker-gpu": ["gpu", "vision"]}


# -- the bundle, brought up -----------------------------------------------------------------------


class Stack:
    """A Compose project brought up with podman-compose from a bundle folder."""

    def __init__(self, podman: Podman, folder: Path, env: dict[str, str]) -> None:
        self.podman = podman
        self.folder = folder
        self.env = env
        self.name = f"bosuntest{uuid.uuid4().hex[:8]}"

    def compose(self, *args: str) -> str:
        return self.podman.compose(self.folder, "-p", self.name, *args, env=self.env).stdout

    def container(self, service: str) -> str:
        """The name of the service's (first) container."""
        found = self.containers(service)
        assert found, f"no container of {service}"
        return str(found[0]["Names"][0])

    def containers(self, service: str | None = None) -> list[dict[str, Any]]:
        """`podman ps --all` of the project's containers (of one service)."""
        filters = ["--filter", f"label=io.podman.compose.project={self.name}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        listed = self.podman("ps", "--all", "--format", "json", *filters).stdout
        found: list[dict[str, Any]] = json.loads(listed or "[]")
        return found

    def sql(self, query: str) -> str:
        return self.podman(
            "exec", self.container("postgres"),
            "psql", "--username=bosun", "--dbname=bosun", "--no-align", "--tuples-only",
            "--command", query,
        ).stdout.strip()  # fmt: skip

    def logs(self) -> str:
        out = []
        for container in self.containers():
            name = container["Names"][0]
            shown = self.podman("logs", "--tail", "40", name, check=False)
            out.append(f"--- {name}\n{shown.stdout}{shown.stderr}")
        return "\n".join(out)


@pytest.fixture
def stack(podman: Podman, bosun_image: str, postgres_image: str, tmp_path: Path) -> Iterator[Stack]:
    """The bundle of the hold App as `bosun deploy compose` writes it, run on the images built
    here; torn down after the test, its volume and network removed."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "hold_app.py").write_bytes(HOLD_APP.read_bytes())
    written = subprocess.run(
        [BOSUN, "deploy", "compose", "hold_app.py", "--workers", "2", "--out", "."],
        capture_output=True, text=True, cwd=folder, timeout=60,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    env = {
        "BOSUN_IMAGE": bosun_image,
        "POSTGRES_IMAGE": postgres_image,
        "BOSUN_API_PORT": str(free_port()),
    }
    running = Stack(podman, folder, env)
    try:
        yield running
    finally:
        if running.containers():
            print(running.logs())
            running.compose("down")
        for kind in ("volume", "network"):
            names = podman(kind, "ls", "--format", "{{.Name}}").stdout.split()
            for name in names:
                if name.startswith(running.name):
                    podman(kind, "rm", "--force", name, check=False)


def _names(stack: Stack, kind: str) -> set[str]:
    """The names of podman's volumes, networks or pods."""
    return set(stack.podman(kind, "ls", "--format", "{{.Name}}").stdout.split())


def _state(stack: Stack, service: str) -> dict[str, Any]:
    (container,) = stack.containers(service)
    return container


@CONTAINERS_GROUP
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_bundle_runs_a_run_through_the_api_and_another_worker_finishes_a_killed_ones(
    stack: Stack,
) -> None:
    volumes_before, networks_before, pods_before = (
        _names(stack, kind) for kind in ("volume", "network", "pod")
    )
    env_file = (stack.folder / ".env").read_text()
    assert all(f"{name}=" in env_file for name in SECRETS)
    # In the order depends_on gives (podman-compose 1.0 starts services without waiting on
    # their conditions): PostgreSQL healthy by its healthcheck, the migration done, the rest.
    stack.compose("up", "-d", "postgres")
    postgres = stack.container("postgres")
    wait_for(
        lambda: stack.podman("healthcheck", "run", postgres, check=False).returncode == 0,
        90, "PostgreSQL's healthcheck to pass", 0.5,
    )  # fmt: skip
    stack.compose("up", "-d", "migrate")
    migrated = stack.podman("wait", stack.container("migrate"), timeout=120).stdout.strip()
    assert migrated == "0", stack.logs()
    stack.compose("up", "-d", "api", "worker")

    api = _state(stack, "api")
    # Published on the loopback address only.
    (port,) = api["Ports"]
    assert port["host_ip"] == "127.0.0.1" and port["container_port"] == 8000
    url = f"http://127.0.0.1:{port['host_port']}"
    inspected = json.loads(stack.podman("inspect", stack.container("worker")).stdout)[0]
    assert inspected["HostConfig"]["ReadonlyRootfs"] is True
    assert inspected["Config"]["User"] == "10001:10001"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, 90, "the API to be ready", 0.5)
    assert httpx.get(f"{url}/metrics", timeout=5).status_code == 401  # needs the token
    created = stack.podman(
        "exec", api["Names"][0],
        "bosun", "keys", "create", "--tenant", "acme", "--scope", "admin", "--json",
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    client = httpx.Client(base_url=url, headers=headers, timeout=40)

    # A run that holds its worker until the gate opens: found on one worker, which is killed.
    held = {"seconds": 120, "gate": "/app/gate"}
    submitted = client.post("/v1/runs", json={"workflow": "held", "input": held})
    assert submitted.status_code == 201, submitted.text
    run_id = submitted.json()["id"]
    owner = wait_for(
        lambda: stack.sql(f"SELECT lease_owner FROM bosun.runs WHERE id = '{run_id}'"),
        60, "a worker to claim the run", 0.2,
    )  # fmt: skip
    hostname = owner.split(":")[0]
    workers = {c["Id"][:12]: c["Names"][0] for c in stack.containers("worker")}
    assert len(workers) == 2 and hostname in workers, (owner, workers)
    killed = workers.pop(hostname)
    wait_for(
        lambda: stack.sql(
            f"SELECT count(*) FROM bosun.journal WHERE run_id = '{run_id}' "
            "AND kind = 'step' AND status = 'completed'"
        ) != "0",
        60, "the run's first step", 0.2,
    )  # fmt: skip
    stack.podman("rm", "--force", "--time", "0", killed)  # SIGKILL, and it cannot come back
    killed_at = time.monotonic()
    (stack.folder / "gate").touch()

    # The other worker takes it over once the lease (3 s) lapses, and runs the held step anew.
    (survivor,) = workers
    result = None
    while time.monotonic() - killed_at < 150 and result is None:
        answer = client.get(f"/v1/runs/{run_id}/result", params={"wait": 30})
        result = answer.json() if answer.status_code == 200 else None
    assert result is not None and result["status"] == "completed", (result, stack.logs())
    assert result["result"] == {"started_on": hostname, "finished_on": survivor}
    client.close()

    # Down: nothing of the project is left but its database volume (and its network, which
    # podman-compose 1.0 never removes; Docker Compose does).
    stack.compose("down")
    assert stack.containers() == []
    assert _names(stack, "volume") - volumes_before == {f"{stack.name}_pgdata"}
    assert _names(stack, "network") - networks_before <= {f"{stack.name}_default"}
    assert _names(stack, "pod") == pods_before
