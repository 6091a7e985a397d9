"""deploy/Dockerfile, checked statically, and the image's HEALTHCHECK probe against real servers.

Building the image needs a Docker daemon and its base image from a registry; where `docker
info` answers, the slow test builds it and runs `bosun --help` and the healthcheck in it.
"""

from __future__ import annotations

import http.server
import io
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator

import pytest
from dockerfile_parse import DockerfileParser

from bosun.deploy.healthcheck import check, probe_url
from tests.deploy.validators import DEPLOY, REPO

DOCKERFILE = DEPLOY / "Dockerfile"


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO(DOCKERFILE.read_bytes()))


def _instructions(parser: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def test_the_image_is_multi_stage_on_a_slim_python(dockerfile: DockerfileParser) -> None:
    stages = _instructions(dockerfile, "FROM")
    assert len(stages) == 2
    assert all("-slim" in stage for stage in stages)
    assert stages[0].endswith(" AS build") and stages[1].endswith(" AS runtime")
    copies = _instructions(dockerfile, "COPY")
    assert "--from=build /opt/bosun /opt/bosun" in copies


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
    for path in (".venv", ".git", ".bosun", "tests"):
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
        self.send_response(200 if self.path == "/healthz" else 503)
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


def test_the_probe_fails_when_nothing_listens(server: int) -> None:
    healthy, _ = check("http://127.0.0.1:9/healthz", timeout=2)
    assert not healthy


def _docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_image_builds_and_runs_bosun() -> None:
    if not _docker_works():
        pytest.skip("no Docker daemon here: the Dockerfile is checked statically above")
    tag = "bosun-test:latest"
    build = subprocess.run(
        ["docker", "build", "-f", str(DOCKERFILE), "-t", tag, str(REPO)],
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    ran = subprocess.run(["docker", "run", "--rm", tag, "--help"], capture_output=True, text=True)
    assert ran.returncode == 0 and "worker" in ran.stdout
    whoami = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True, text=True
    )
    assert whoami.stdout.strip() == "10001"
