"""The README's commands, checked more closely than test_readme_walkthrough does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.processes import wait_serving
from tests.helpers.wait import wait_for

REPO = Path(__file__).resolve().parents[2]
BOSUN = str(Path(sys.executable).parent / "bosun")
EXAMPLE = str(REPO / "examples" / "report.py")
AGENT = str(REPO / "examples" / "support_agent.py")


def bosun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BOSUN_DATABASE_URL"}
    return subprocess.run(
        [BOSUN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.timeout(90)
def test_quickstart_demo_runs_on_the_embedded_default(tmp_path: Path) -> None:
    done = bosun(
        "run",
        EXAMPLE,
        "publish_report",
        "--input",
        '{"topic": "durable agents"}',
        "--worker",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "completed"
    assert report["result"]["approved_by"] == "auto-approval after timeout"
    assert len(report["result"]["sections"]) == 3
    assert (tmp_path / ".bosun" / "bosun.db").is_file()
    listed = json.loads(bosun("runs", "list", "--json", cwd=tmp_path).stdout)
    assert sorted(r["workflow"] for r in listed) == ["publish_report"] + ["write_section"] * 3
    # Cancel a run nobody is working on; it counts as finished from then on.
    waiting = json.loads(
        bosun(
            "run", EXAMPLE, "publish_report", "--input", '{"topic": "x"}', "--json", cwd=tmp_path
        ).stdout
    )["run_id"]
    cancelled = bosun("runs", "cancel", waiting, "--json", cwd=tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    shown = json.loads(bosun("runs", "show", waiting, "--json", cwd=tmp_path).stdout)
    assert shown["status"] == "cancelled"
    again = bosun("runs", "cancel", waiting, cwd=tmp_path)
    assert again.returncode == 1 and "already cancelled" in again.stderr
    # Retention: nothing is a day old yet; everything finished is older than zero seconds.
    kept = bosun("db", "prune", "--older-than", "1d", "--json", cwd=tmp_path)
    assert json.loads(kept.stdout) == {"pruned": 0}
    bad = bosun("db", "prune", "--older-than", "soon", cwd=tmp_path)
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    pruned = bosun("db", "prune", "--older-than", "0s", "--json", cwd=tmp_path)
    assert json.loads(pruned.stdout) == {"pruned": 5}
    assert json.loads(bosun("runs", "list", "--json", cwd=tmp_path).stdout) == []


@pytest.mark.timeout(120)
def test_scaling_out_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    """The README's PostgreSQL section: two workers, `bosun queues`, the KEDA query."""
    import psycopg

    env = {**os.environ, "BOSUN_DATABASE_URL": pg_url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [BOSUN, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

    started = [
        json.loads(
            cli(
                "run",
                EXAMPLE,
                "publish_report",
                "--input",
                json.dumps({"topic": f"t{i}", "approval_timeout": 600}),
                "--json",
            ).stdout
        )
        for i in range(3)
    ]
    depth = json.loads(cli("queues", "--json").stdout)
    assert depth == [
        {
            "queue": "default",
            "ready": 3,
            "in_flight": 0,
            "waiting": 0,
            "oldest_ready_age": depth[0]["oldest_ready_age"],
            "runnable": 3,
            "unserved": [],
        }
    ]
    with psycopg.connect(pg_url) as conn:
        keda = conn.execute(
            "SELECT COALESCE(SUM(runnable), 0) FROM bosun.queue_depth WHERE queue = 'default'"
        ).fetchone()
    assert keda is not None and keda[0] == 3
    workers = [
        subprocess.Popen(
            [BOSUN, "worker", EXAMPLE, "--concurrency", "32"],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        # All three wait for approval, holding no worker.
        wait_for(
            lambda: [q["waiting"] for q in json.loads(cli("queues", "--json").stdout)] == [3],
            60,
            "three runs waiting for approval",
        )
        for run in started:
            assert (
                cli(
                    "runs", "signal", run["run_id"], "approve", "--payload", '{"by": "ops"}'
                ).returncode
                == 0
            )
        for run in started:

            def show(run_id: str = run["run_id"]) -> dict[str, Any]:
                shown: dict[str, Any] = json.loads(cli("runs", "show", run_id, "--json").stdout)
                return shown

            wait_for(lambda: show()["status"] == "completed", 60, "the approved run to complete")
            assert show()["result"]["approved_by"] == "ops"
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(timeout=30) == 0


APP_WITH_A_GPU_QUEUE = """
import bosun

app = bosun.App("pools")


@app.workflow(queue="gpu")
async def embed(ctx: bosun.Context) -> str:
    return "gpu"


@app.workflow()
async def chat(ctx: bosun.Context) -> str:
    return "cpu"
"""


@pytest.mark.timeout(60)
def test_a_worker_serves_only_its_queues(tmp_path: Path) -> None:
    """`bosun worker app.py --queue gpu` (README: a GPU pool) leaves other queues alone."""
    app = tmp_path / "pools.py"
    app.write_text(APP_WITH_A_GPU_QUEUE)
    gpu = json.loads(bosun("run", str(app), "embed", "--json", cwd=tmp_path).stdout)["run_id"]
    cpu = json.loads(bosun("run", str(app), "chat", "--json", cwd=tmp_path).stdout)["run_id"]
    served = bosun("worker", str(app), "--queue", "gpu", "--until-idle", cwd=tmp_path)
    assert served.returncode == 0, served.stderr
    status = {
        run_id: json.loads(bosun("runs", "show", run_id, "--json", cwd=tmp_path).stdout)["status"]
        for run_id in (gpu, cpu)
    }
    assert status == {gpu: "completed", cpu: "queued"}


@pytest.mark.timeout(90)
def test_http_api_section_keys_then_a_server_on_all_interfaces(tmp_path: Path) -> None:
    """README "HTTP API": `bosun keys create --tenant acme --scope submit`, then
    `bosun server app.py --host 0.0.0.0 --port 8000` (here a free port): keys are required."""
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
    env["BOSUN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'api.db'}"
    app_file = str(REPO / "tests" / "e2e" / "apps" / "server_app.py")
    created = subprocess.run(
        [BOSUN, "keys", "create", "--tenant", "acme", "--scope", "submit", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    server = subprocess.Popen(
        [BOSUN, "server", app_file, "--host", "0.0.0.0", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_serving(server, f"{base}/readyz")
        assert httpx.get(f"{base}/v1/workflows").status_code == 401
        auth = {"Authorization": f"Bearer {key}"}
        listed = httpx.get(f"{base}/v1/workflows", headers=auth)
        assert listed.status_code == 200 and listed.json()["workflows"]
        submitted = httpx.post(f"{base}/v1/runs", json={"workflow": "steps"}, headers=auth)
        assert submitted.status_code == 201  # the submit scope may submit
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0]
    assert server.returncode == 0, output
