"""deploy/Dockerfile, checked statically; the image's HEALTHCHECK probe against real servers;
and the image itself, built with podman on a Debian base made here and run: `bosun --version`,
`bosun dev` on its demo, `bosun server` and `bosun worker` on the host's PostgreSQL, each as
the non-root user, on a read-only root file system, healthy by the image's own HEALTHCHECK.

The built-image tests need rootful podman and mmdebstrap (tests/helpers/containers.py);
without them they skip, saying why.
"""

from __future__ import annotations

import http.server
import io
import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from dockerfile_parse import DockerfileParser

import bosun
from bosun.deploy.healthcheck import check, probe_url
from tests.deploy.validators import DEPLOY, REPO
from tests.helpers.containers import CONTAINERS_GROUP, Podman
from tests.helpers.serving import free_port
from tests.helpers.wait import wait_for

DOCKERFILE = DEPLOY / "Dockerfile"
HOLD_APP = Path(__file__).parent / "apps" / "hold_app.py"


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO(DOCKERFILE.read_bytes()))


def _instructions(parser: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def _global_args(parser: DockerfileParser) -> dict[str, str]:
    """The build arguments declared before the first FROM, with their defaults expanded."""
    args: dict[str, str] = {}
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            break
        if instruction["instruction"] == "ARG":
            name, _, default = instruction["value"].partition("=")
            args[name] = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], default)
    return args


def test_the_image_is_multi_stage_on_a_base_given_as_a_build_argument(
    dockerfile: DockerfileParser,
) -> None:
    stages = _instructions(dockerfile, "FROM")
    assert stages == ["${BASE} AS build", "${BASE} AS runtime"]
    # The published default is the official slim Python image.
    assert _global_args(dockerfile)["BASE"] == "python:3.12-slim-bookworm"
    copies = _instructions(dockerfile, "COPY")
    assert "--from=build /opt/bosun /opt/bosun" in copies
    # pip's index, or wheels only, are build arguments too; the defaults change nothing.
    build_args = dict(a.partition("=")[::2] for a in _instructions(dockerfile, "ARG"))
    assert build_args["PIP_NO_INDEX"] == "0" and build_args["PIP_FIND_LINKS"] == ""


def test_the_image_runs_bosun_as_a_numeric_non_root_user(dockerfile: DockerfileParser) -> None:
    (user,) = _instructions(dockerfile, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit()
    assert json.loads(_instructions(dockerfile, "ENTRYPOINT")[0]) == ["bosun"]
    assert _instructions(dockerfile, "WORKDIR")[-1] == "/app"
    # The sandbox's preferred backend ships in the image.
    assert any("bubblewrap" in run for run in _instructions(dockerfile, "RUN"))


def test_the_image_has_a_healthcheck_running_bosuns_probe(dockerfile: DockerfileParser) -> None:
    (healthcheck,) = _instructions(dockerfile, "HEALTHCHECK")
    assert healthcheck.split("CMD", 1)[1].strip() == (
        '["python", "-m", "bosun.deploy.healthcheck"]'
    )


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for path in (".venv", ".git", ".bosun", "tests", "artifacts"):
        assert path in ignored
    for needed in ("src", "deploy", "pyproject.toml", "README.md"):
        assert needed not in ignored


@pytest.mark.parametrize(
    ("argv", "url"),
    [
        (["python", "/opt/bosun/bin/bosun", "server", "app.py"], "http://127.0.0.1:8000/healthz"),
        (
            ["bosun", "server", "app.py", "--host", "0.0.0.0", "--port", "9000"],
            "http://127.0.0.1:9000/healthz",
        ),
        (["bosun", "worker", "app.py", "--metrics-port=9100"], "http://127.0.0.1:9100/metrics"),
        (["bosun", "worker", "server.py", "--queue", "gpu"], None),
        (["bosun", "db", "upgrade"], None),
    ],
)
def test_the_probe_asks_what_the_process_serves(argv: list[str], url: str | None) -> None:
    assert probe_url(argv) == url


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        # /metrics wants the token; /healthz is sent none.
        wanted = {"/metrics": "Bearer s3cret", "/healthz": None}
        ok = self.path in wanted and self.headers.get("Authorization") == wanted[self.path]
        self.send_response(200 if ok else 503)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_the_probe_passes_on_2xx_and_fails_otherwise(server: int) -> None:
    assert check(f"http://127.0.0.1:{server}/healthz")[0] is True
    healthy, detail = check(f"http://127.0.0.1:{server}/metrics")
    assert not healthy and "503" in detail
    assert check(None)[0] is True


def test_the_probe_sends_the_metrics_token_to_metrics_only(server: int) -> None:
    assert check(f"http://127.0.0.1:{server}/metrics", metrics_token="s3cret")[0] is True
    assert check(f"http://127.0.0.1:{server}/healthz", metrics_token="s3cret")[0] is True
    assert check(f"http://127.0.0.1:{server}/metrics", metrics_token="wrong")[0] is False


def test_the_probe_fails_when_nothing_listens(server: int) -> None:
    healthy, _ = check("http://127.0.0.1:9/healthz", timeout=2)
    assert not healthy


# -- the image, built and run ------------------------------------------------------------------


def _run_detached(podman: Podman, name: str, *args: str) -> None:
    """`podman run -d` on the host's network, as the image's user, on a read-only root."""
    podman("run", "--detach", "--name", name, "--network=host", "--read-only", *args)


def _logs(podman: Podman, name: str) -> str:
    return podman("logs", name, check=False).stdout[-3000:]


@pytest.fixture
def containers(podman: Podman) -> Iterator[list[str]]:
    """Names of the containers a test starts; removed, with their output shown, after it."""
    names: list[str] = []
    yield names
    for name in names:
        print(f"--- {name}\n{podman('logs', name, check=False).stderr[-2000:]}")
        podman("rm", "--force", "--time", "0", name, check=False)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _finish(url: str, key: str, workflow: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Submit a run through the HTTP API and wait for it to finish."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=40) as client:
        submitted = client.post("/v1/runs", json={"workflow": workflow, "input": payload})
        assert submitted.status_code == 201, submitted.text
        run_id = submitted.json()["id"]
        for _ in range(4):
            result = client.get(f"/v1/runs/{run_id}/result", params={"wait": 30})
            if result.status_code == 200:
                run: dict[str, Any] = result.json()
                return run
        raise AssertionError(f"run {run_id} did not finish: {result.text}")


def _healthcheck(podman: Podman, name: str) -> None:
    """The image's HEALTHCHECK, run as the engine runs it."""
    ran = podman("healthcheck", "run", name, check=False)
    assert ran.returncode == 0, f"{name} unhealthy: {ran.stdout} {ran.stderr}"


def _stop(podman: Podman, name: str) -> int:
    """SIGTERM, as `docker stop` sends it; the exit status once bosun has drained."""
    podman("stop", "--time", "40", name, timeout=60)
    return int(podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout)


@CONTAINERS_GROUP
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_image_builds_on_another_base_and_is_what_it_claims(
    podman: Podman, bosun_image: str
) -> None:
    ran = podman("run", "--rm", "--read-only", bosun_image, "--version")
    assert ran.stdout.strip() == f"bosun {bosun.__version__}"
    (image,) = json.loads(podman("image", "inspect", bosun_image).stdout)
    config = image["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["bosun"] and config["WorkingDir"] == "/app"
    assert image["Healthcheck"]["Test"] == ["CMD", "python", "-m", "bosun.deploy.healthcheck"]
    # As the non-root user, on a read-only root file system but for /tmp; bubblewrap there.
    probe = (
        "id -u; bwrap --version; touch /tmp/ok && echo tmp-writable; "
        "touch /opt/bosun/x 2>/dev/null || echo root-read-only"
    )
    shell = podman("run", "--rm", "--read-only", "--entrypoint", "sh", bosun_image, "-c", probe)
    lines = shell.stdout.split()
    assert lines[0] == "10001"
    assert "tmp-writable" in lines and "root-read-only" in lines
    assert "bubblewrap" in shell.stdout


@CONTAINERS_GROUP
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bosun_dev_serves_its_demo_from_the_image(
    podman: Podman, bosun_image: str, app_dir: Path, containers: list[str]
) -> None:
    (app_dir / "support_agent.py").write_bytes(
        (REPO / "examples" / "support_agent.py").read_bytes()
    )
    port = free_port()
    name = f"bosun-dev-{uuid.uuid4().hex[:8]}"
    containers.append(name)
    # /app is writable here: `bosun dev` keeps its SQLite file and key in /app/.bosun.
    _run_detached(
        podman, name, "--volume", f"{app_dir}:/app", bosun_image,
        "dev", "support_agent.py", "--port", str(port),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _healthy(url), 60, f"bosun dev in the image: {_logs(podman, name)}", 0.2)
    key = (app_dir / ".bosun" / "dev-key").read_text().strip()
    message = "My kettle from order 7 arrived broken, refund half please"
    run = _finish(url, key, "support", {"message": message})
    assert run["status"] == "completed", run
    _healthcheck(podman, name)
    assert _stop(podman, name) == 0, _logs(podman, name)


def _as_role(url: str) -> str:
    """`url` naming its role: the container's user (bosun) is no role of the host's server."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_user").fetchone()
    assert row is not None
    return url.replace("postgresql://", f"postgresql://{row[0]}@", 1)


@CONTAINERS_GROUP
@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_server_and_worker_from_the_image_run_a_run_on_postgresql(
    podman: Podman, bosun_image: str, pg_url: str, app_dir: Path, containers: list[str]
) -> None:
    (app_dir / "hold_app.py").write_bytes(HOLD_APP.read_bytes())
    token = uuid.uuid4().hex
    environ = [
        *("--env", f"BOSUN_DATABASE_URL={_as_role(pg_url)}"),
        *("--env", f"BOSUN_METRICS_TOKEN={token}"),
        *("--volume", f"{app_dir}:/app:ro"),
    ]
    created = podman(
        "run", "--rm", "--network=host", "--read-only", *environ, bosun_image,
        "keys", "create", "--tenant", "acme", "--scope", "admin", "--json",
    )  # fmt: skip
    key = json.loads(created.stdout)["key"]
    port, metrics_port = free_port(), free_port()
    server, worker = (f"bosun-{role}-{uuid.uuid4().hex[:8]}" for role in ("server", "worker"))
    containers.extend([server, worker])
    _run_detached(
        podman, server, *environ, bosun_image,
        "server", "hold_app.py", "--host", "127.0.0.1", "--port", str(port),
    )  # fmt: skip
    _run_detached(
        podman, worker, *environ, bosun_image,
        "worker", "hold_app.py", "--metrics-port", str(metrics_port),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _healthy(url), 60, f"bosun server in the image: {_logs(podman, server)}", 0.2)
    run = _finish(url, key, "held", {"seconds": 0.1})
    assert run["status"] == "completed", run
    # Both containers' hostnames are the host's (--network=host): the worker ran it.
    assert set(run["result"]) == {"started_on", "finished_on"}
    for name in (server, worker):
        _healthcheck(podman, name)  # the worker's probe sends the metrics token
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    assert httpx.get(metrics, timeout=5).status_code == 401
    assert httpx.get(f"{url}/metrics", timeout=5).status_code == 401
    authorized = {"Authorization": f"Bearer {token}"}
    assert httpx.get(metrics, headers=authorized, timeout=5).status_code == 200
    for name in (worker, server):
        assert _stop(podman, name) == 0, _logs(podman, name)
