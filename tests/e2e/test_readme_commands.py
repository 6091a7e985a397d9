"""The README's commands, run as a newcomer would run them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.helpers.events import assert_stream_in_order

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
def test_quickstart_bosun_dev_then_run_signal_and_curl_over_http(tmp_path: Path) -> None:
    """The Quickstart as written: `bosun dev examples/support_agent.py`, then `bosun run
    --url … --follow`, the approval flow with BOSUN_URL/BOSUN_API_KEY, and the two `curl`
    commands (on a free port)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
    dev = subprocess.Popen(
        [BOSUN, "dev", AGENT, "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(["curl", "-sf", f"{base}/healthz"], capture_output=True).returncode:
            assert dev.poll() is None and time.monotonic() < deadline, "bosun dev did not start"
            time.sleep(0.2)
        key = (tmp_path / ".bosun" / "dev-key").read_text().strip()
        half = '{"message": "My kettle from order 7 arrived broken, refund half please"}'
        follow = bosun(
            "run",
            "--url",
            base,
            "--api-key",
            key,
            "support",
            "--input",
            half,
            "--follow",
            "--json",
            cwd=tmp_path,
        )
        assert follow.returncode == 0, follow.stderr
        lines = [json.loads(line) for line in follow.stdout.splitlines() if line.strip()]
        types = [line.get("type") for line in lines]
        assert "llm.delta" in types and "step.completed" in types and "run.completed" in types
        assert lines[-1]["status"] == "completed"
        assert lines[-1]["result"]["refunded"] == 20.0

        remote = {**env, "BOSUN_URL": base, "BOSUN_API_KEY": key}

        def over_http(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [BOSUN, *args],
                cwd=tmp_path,
                env=remote,
                capture_output=True,
                text=True,
                timeout=60,
            )

        full = '{"message": "Order 7 arrived broken, refund it all"}'
        started = over_http("run", "support", "--input", full, "--json")
        assert started.returncode == 0, started.stderr
        run_id = json.loads(started.stdout)["run_id"]
        deadline = time.monotonic() + 40  # a hang guard: each look is a CLI process
        while json.loads(over_http("runs", "show", run_id, "--json").stdout)["status"] != (
            "suspended"
        ):
            assert time.monotonic() < deadline, "the refund never waited for approval"
            time.sleep(0.2)
        signalled = over_http(
            "runs", "signal", run_id, "approval", "--payload", '{"ok": true, "by": "alice"}'
        )
        assert signalled.returncode == 0, signalled.stderr
        while json.loads(over_http("runs", "show", run_id, "--json").stdout)["status"] != (
            "completed"
        ):
            assert time.monotonic() < deadline + 40, "the approved refund never finished"
            time.sleep(0.2)
        shown = json.loads(over_http("runs", "show", run_id, "--json").stdout)
        assert shown["result"]["refunded"] == 40.0
        assert "approved by alice" in shown["result"]["reply"]

        auth = ["-H", f"Authorization: Bearer {key}"]
        body = '{"workflow": "support", "input": {"message": "Order 8 is late, refund half"}}'
        submitted = subprocess.run(
            [
                "curl",
                "-s",
                *auth,
                "-H",
                "Content-Type: application/json",
                "-d",
                body,
                f"{base}/v1/runs",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        curl_run = json.loads(submitted.stdout)["id"]
        streamed = subprocess.run(
            ["curl", "-N", "-s", *auth, f"{base}/v1/runs/{curl_run}/events"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        data = [
            json.loads(line[5:])
            for line in streamed.stdout.splitlines()
            if line.startswith("data:")
        ]
        assert data[-1]["type"] == "run.completed", streamed.stdout[-500:]
        assert data[-1]["data"]["result"]["refunded"] == 12.5
        assert_stream_in_order(data)

        # The README's second demo, on the same ./.bosun/bosun.db while `bosun dev` still
        # runs: its worker serves the support app only, and leaves publish_report alone.
        queued = bosun(
            "run", EXAMPLE, "publish_report", "--input", '{"topic": "x"}', "--json", cwd=tmp_path
        )
        assert queued.returncode == 0, queued.stderr
        report_id = json.loads(queued.stdout)["run_id"]
        # A later support run completes: the dev worker has claimed since the report run
        # was queued (and a claim takes the oldest ready runs first).
        later = over_http("run", "support", "--input", half, "--wait", "--json")
        assert later.returncode == 0, later.stderr
        assert json.loads(later.stdout)["status"] == "completed"
        shown = json.loads(bosun("runs", "show", report_id, "--json", cwd=tmp_path).stdout)
        assert (shown["status"], shown["error"]) == ("queued", None)
        demo = bosun(
            "run",
            EXAMPLE,
            "publish_report",
            "--input",
            '{"topic": "durable agents"}',
            "--worker",
            "--json",
            cwd=tmp_path,
        )
        assert demo.returncode == 0, demo.stderr
        assert json.loads(demo.stdout)["status"] == "completed"
    finally:
        dev.send_signal(signal.SIGTERM)
        output = dev.communicate(timeout=60)[0]
    assert dev.returncode == 0, output
    assert f"{base}" in output and "API key" in output


@pytest.mark.timeout(90)
def test_approve_by_hand_with_a_separate_worker(tmp_path: Path) -> None:
    started = bosun(
        "run",
        EXAMPLE,
        "publish_report",
        "--input",
        '{"topic": "agents", "approval_timeout": 600}',
        "--json",
        cwd=tmp_path,
    )
    assert started.returncode == 0, started.stderr
    run_id = json.loads(started.stdout)["run_id"]
    worker = subprocess.Popen(
        [BOSUN, "worker", EXAMPLE], cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        status = ""
        for _ in range(200):
            shown = json.loads(bosun("runs", "show", run_id, "--json", cwd=tmp_path).stdout)
            status = shown["status"]
            waiting = [e for e in shown["journal"] if e["kind"] == "signal"]
            if status == "suspended" and waiting:
                break
            time.sleep(0.1)
        assert status == "suspended" and waiting[0]["status"] == "waiting"
        sent = bosun(
            "runs", "signal", run_id, "approve", "--payload", '{"by": "alice"}', cwd=tmp_path
        )
        assert sent.returncode == 0, sent.stderr
        for _ in range(200):
            shown = json.loads(bosun("runs", "show", run_id, "--json", cwd=tmp_path).stdout)
            if shown["status"] == "completed":
                break
            time.sleep(0.1)
        assert shown["result"]["approved_by"] == "alice"
    finally:
        worker.send_signal(signal.SIGINT)
        _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr


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
            "unserved": [],
        }
    ]
    with psycopg.connect(pg_url) as conn:
        keda = conn.execute(
            "SELECT COALESCE(SUM(ready + in_flight), 0) FROM bosun.queue_depth "
            "WHERE queue = 'default'"
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
        for _ in range(300):
            depth = json.loads(cli("queues", "--json").stdout)
            if depth and depth[0]["waiting"] == 3:
                break
            time.sleep(0.1)
        assert depth[0]["waiting"] == 3, depth  # all three wait for approval, holding no worker
        for run in started:
            assert (
                cli(
                    "runs", "signal", run["run_id"], "approve", "--payload", '{"by": "ops"}'
                ).returncode
                == 0
            )
        for run in started:
            for _ in range(300):
                shown = json.loads(cli("runs", "show", run["run_id"], "--json").stdout)
                if shown["status"] == "completed":
                    break
                time.sleep(0.1)
            assert shown["result"]["approved_by"] == "ops"
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
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "no server"
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
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
