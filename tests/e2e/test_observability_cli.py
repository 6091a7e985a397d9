"""The README's observability commands as a user runs them: a worker's `--metrics-port`,
`bosun dev`'s `/metrics`, JSON logs by default when the output is not a terminal, and traces
sent over OTLP/HTTP to a collector."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families
from tests.helpers.processes import APPS, BOSUN, Env, wait_exit
from tests.helpers.serving import free_port
from tests.helpers.wait import wait_for

APP = APPS / "observed.py"


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _finished(text: str, workflow: str) -> float:
    key = (
        "bosun_runs_finished_total",
        frozenset({("workflow", workflow), ("status", "completed")}),
    )
    return _samples(text).get(key, 0.0)


@pytest.mark.timeout(60)
def test_worker_metrics_port_and_json_logs(env: Env) -> None:
    port = free_port()
    ids = [env.submit(APP, "observed", {"n": n}) for n in (1, 2, 3)]
    worker = env.worker(APP, "--metrics-port", str(port))
    url = f"http://127.0.0.1:{port}/metrics"

    def scraped() -> str | None:
        try:
            text = httpx.get(url, timeout=5).text
        except httpx.TransportError:
            return None  # not listening yet
        return text if _finished(text, "observed") == 3 else None

    text = wait_for(scraped, 30, "the worker's metrics to show 3 finished runs")
    samples = _samples(text)
    completed = frozenset({("kind", "step"), ("step", "charge"), ("status", "completed")})
    assert samples[("bosun_step_duration_seconds_count", completed)] == 3
    assert samples[("bosun_worker_slots", frozenset({("state", "busy")}))] == 0
    worker.send_signal(signal.SIGTERM)
    assert wait_exit(worker, 15, env) == 0

    # Not a terminal: JSON lines, and those logged inside a step say where they come from.
    records = [json.loads(line) for line in env.log().splitlines() if line.strip()]
    assert any(r["message"].startswith("worker ") for r in records)
    charging = {r["run_id"]: r for r in records if r["message"].startswith("charging")}
    assert set(charging) == set(ids)
    for run_id, record in charging.items():
        assert record["step"] == "charge" and record["logger"] == "e2e.observed"
        assert record["trace_id"] == run_id and record["worker"]


@pytest.mark.timeout(60)
def test_a_worker_with_a_metrics_token_answers_its_liveness_probe_without_it(env: Env) -> None:
    """The chart probes a worker's /healthz: with BOSUN_METRICS_TOKEN set, /metrics refuses
    a request without the token, and a probe of it would restart the worker forever."""
    port = free_port()
    env.extra["BOSUN_METRICS_TOKEN"] = "s3cret"
    worker = env.worker(APP, "--metrics-port", str(port))
    base = f"http://127.0.0.1:{port}"

    def answered() -> httpx.Response | None:
        try:
            return httpx.get(f"{base}/healthz", timeout=5)
        except httpx.TransportError:
            return None  # not listening yet

    health = wait_for(answered, 30, "the worker's metrics server to listen")
    assert health.status_code == 200 and health.text == "ok\n"
    assert httpx.get(f"{base}/metrics", timeout=5).status_code == 401
    token = {"Authorization": "Bearer s3cret"}
    assert httpx.get(f"{base}/metrics", headers=token, timeout=5).status_code == 200
    worker.send_signal(signal.SIGTERM)
    assert wait_exit(worker, 15, env) == 0


@pytest.mark.timeout(60)
def test_bosun_dev_serves_metrics_and_logs_text(env: Env) -> None:
    port = free_port()
    log = open(env.tmp / "dev.log", "ab")  # noqa: SIM115 (closed below)
    dev = subprocess.Popen(
        [BOSUN, "dev", str(APP), "--port", str(port), "--database", env.url],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env.environ(),
        cwd=env.tmp,
    )
    env.procs.append(dev)
    log.close()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(base), 30, "bosun dev to listen")
        key = (env.tmp / ".bosun" / "dev-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        run = httpx.post(
            f"{base}/v1/runs", json={"workflow": "observed", "input": {"n": 4}}, headers=headers
        ).json()
        done = httpx.get(f"{base}/v1/runs/{run['id']}/result?wait=30", headers=headers).json()
        assert done["result"] == "charged 8"
        # The README's command: curl -s http://127.0.0.1:8000/metrics
        curl = subprocess.run(
            ["curl", "-s", f"{base}/metrics"], capture_output=True, text=True, timeout=30
        )
        assert _finished(curl.stdout, "observed") == 1
        submitted = ("bosun_runs_submitted_total", frozenset({("workflow", "observed")}))
        assert _samples(curl.stdout)[submitted] == 1
    finally:
        dev.send_signal(signal.SIGTERM)
        wait_exit(dev, 30, env, "dev")
    text = (env.tmp / "dev.log").read_text()
    charging = [line for line in text.splitlines() if "charging 8" in line]
    assert len(charging) == 1 and f"[run={run['id']} step=charge#2]" in charging[0]
    assert not charging[0].startswith("{")  # human-readable in bosun dev


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def collector() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """An OTLP/HTTP trace receiver on a free port: what a collector would get."""
    received: list[ExportTraceServiceRequest] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                received.append(ExportTraceServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(60)
def test_traces_go_to_the_otlp_endpoint(env: Env) -> None:
    run_id = env.submit(APP, "observed", {"n": 5})
    with collector() as (endpoint, received):
        env.extra["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        env.extra["OTEL_SERVICE_NAME"] = "billing-worker"
        worker = env.worker(APP, "--until-idle")
        assert wait_exit(worker, 30, env) == 0, env.log()
        spans = [
            (span.name, span.trace_id.hex())
            for request in received
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]
    names = sorted(name for name, _ in spans)
    assert names == [
        "execute observed",
        "run observed",
        "step charge",
        "step double",
    ], env.log()
    assert {trace for _, trace in spans} == {run_id}
    services = {
        attribute.value.string_value
        for request in received
        for resource in request.resource_spans
        for attribute in resource.resource.attributes
        if attribute.key == "service.name"
    }
    assert services == {"billing-worker"}
