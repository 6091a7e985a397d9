"""Webhooks over real HTTP: URLs checked at submit, one delivery id across retries, final
answers not retried, and no URL token in any log line while a delivery is made."""

from __future__ import annotations

import json
import logging
import logging.config
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.helpers.processes import APPS
from tests.helpers.serving import Served, serve
from tests.helpers.wait import wait_for

from bosun.loader import load_app
from bosun.records import RunFilter, RunRecord
from bosun.server import ServerConfig
from bosun.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, verify

pytestmark = pytest.mark.timeout(90)

SECRET_PATH = "p4th-s3cret-7c1e"
SECRET_QUERY = "qu3ry-s3cret-95ab"


@dataclass
class Receiver:
    """A local HTTP receiver answering each POST with the next status of `answers` (the
    last one repeats); every call lands in `calls`."""

    answers: list[int]
    calls: queue.Queue[tuple[str, dict[str, str], bytes]] = field(default_factory=queue.Queue)
    port: int = 0
    retry_after: str | None = None  # sent with every 429 and 503 answer
    called_at: list[float] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def receiving(*answers: int, retry_after: str | None = None) -> Iterator[Receiver]:
    receiver = Receiver(list(answers), retry_after=retry_after)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                status = (
                    receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                )
            receiver.called_at.append(time.time())
            receiver.calls.put((self.path, dict(self.headers), body))
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            if status in (429, 503) and receiver.retry_after is not None:
                self.send_header("Retry-After", receiver.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    app = load_app(str(APPS / "server_app.py"))
    app.use_database(f"sqlite:///{tmp_path / 'api.db'}")
    app.webhook_secret = "test-secret"
    app.webhook_allow = ("127.0.0.1",)  # the receivers listen on loopback
    with serve(app, ServerConfig(worker_concurrency=4, key_cache_seconds=0.0)) as server:
        yield server


def _submit(client: httpx.Client, webhook: str) -> dict[str, Any]:
    response = client.post(
        "/v1/runs", json={"workflow": "steps", "input": {"n": 1}, "webhook": webhook}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _deliveries(served: Served) -> list[RunRecord]:
    runs: list[RunRecord] = served.call(
        served.app.store.list_runs(RunFilter(workflow="bosun.webhook"))
    )
    return runs


def _finished_delivery(served: Served) -> RunRecord:
    def finished() -> RunRecord | None:
        runs = _deliveries(served)
        return runs[0] if runs and runs[0].status in ("completed", "failed") else None

    return wait_for(finished, 30, "the webhook delivery run to finish")


# -- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://a b.c/", "whitespace"),
        ("http://hooks.example.com/a\tb", "control characters"),
        ("http://hooks.example.com\u200b/", "ZERO WIDTH SPACE"),
        ("http://user:pw@hooks.example.com/", "user name or password"),
        ("http://hooks.example.com:99999/", "port 99999"),
        ("http://hooks.example.com:0/", "port 0"),
        ("http://-bad-.example.com/", "not a valid host name"),
        ("http://a..b/", "not a valid host name"),
        ("http://a%20b.c/", "not a valid host name"),
        ("http://999.1.1.1/", "not a valid URL"),
        ("http://127.1/", "non-canonical"),
        ("http:///only-a-path", "no host"),
        ("ftp://hooks.example.com/", "http:// or https://"),
        ("hooks.example.com/x", "http:// or https://"),
    ],
)
def test_a_bad_webhook_url_is_refused_at_submit(served: Served, url: str, why: str) -> None:
    with served.client(served.key("acme", "submit")) as client:
        response = client.post("/v1/runs", json={"workflow": "steps", "webhook": url})
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert why in response.json()["detail"]
        assert client.get("/v1/runs").json()["runs"] == []  # nothing was created


def test_good_webhook_urls_are_accepted(served: Served) -> None:
    good = [
        "https://hooks.example.com/bosun?token=abc#frag",
        "http://hooks.example.com:8080/x",
        "http://b\u00fccher.example/",  # an international name
        "http://xn--bcher-kva.example/",
        "http://hooks_internal/x",
        "http://203.0.113.9/x",
        "http://[2001:db8::1]:8443/x",
    ]
    with served.client(served.key("acme", "submit")) as client:
        for url in good:
            response = client.post("/v1/runs", json={"workflow": "waits", "webhook": url})
            assert response.status_code == 201, (url, response.text)


# -- delivery -----------------------------------------------------------------------------------


def test_every_attempt_of_a_delivery_carries_the_same_delivery_id(served: Served) -> None:
    with receiving(503, 204) as receiver, served.client(served.key("acme", "submit")) as client:
        first_run = _submit(client, receiver.url())
        calls = [receiver.calls.get(timeout=30) for _ in range(2)]
        delivery = _finished_delivery(served)
        second_run = _submit(client, receiver.url())
        other = receiver.calls.get(timeout=30)
    assert delivery.status == "completed"
    ids = {headers[DELIVERY_HEADER] for _, headers, _ in calls}
    assert ids == {delivery.id}  # one id, retries included: the delivery run's
    for _, headers, body in [*calls, other]:
        verify("test-secret", headers[SIGNATURE_HEADER], body)
    assert json.loads(calls[1][2])["run"]["id"] == first_run["id"]
    assert json.loads(other[2])["run"]["id"] == second_run["id"]
    assert other[1][DELIVERY_HEADER] != delivery.id  # another run, another delivery


@pytest.mark.parametrize("status", [301, 308, 400, 401, 404, 410, 422])
def test_a_final_answer_is_not_retried(served: Served, status: int) -> None:
    with receiving(status, 204) as receiver, served.client(served.key("acme", "submit")) as client:
        _submit(client, receiver.url())
        receiver.calls.get(timeout=30)

        def settled() -> bool:
            runs = _deliveries(served)
            return (bool(runs) and runs[0].status == "failed") or receiver.calls.qsize() > 0

        wait_for(settled, 30, "the delivery to fail or to be tried again")
        assert receiver.calls.empty(), "a final answer was retried"
    delivery = _deliveries(served)[0]
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.error is not None
    assert f"answered {status}" in delivery.error["message"]
    assert "not retried" in delivery.error["message"]


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_a_passing_failure_is_retried(served: Served, status: int) -> None:
    with receiving(status, 204) as receiver, served.client(served.key("acme", "submit")) as client:
        _submit(client, receiver.url())
        receiver.calls.get(timeout=30)
        receiver.calls.get(timeout=30)  # tried again, and delivered
        assert _finished_delivery(served).status == "completed"


@pytest.mark.parametrize("status", [429, 503])
def test_the_next_attempt_waits_as_long_as_retry_after_asks(served: Served, status: int) -> None:
    """The back-off would try again after about 1 s; the receiver asks for 4."""
    with (
        receiving(status, 204, retry_after="4") as receiver,
        served.client(served.key("acme", "submit")) as client,
    ):
        _submit(client, receiver.url())
        receiver.calls.get(timeout=30)
        receiver.calls.get(timeout=30)
        assert _finished_delivery(served).status == "completed"
    first, second = receiver.called_at
    assert second - first >= 4.0, receiver.called_at


# -- logs ---------------------------------------------------------------------------------------


def _log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [formatter.format(record) for record in caplog.records]


def test_no_log_line_shows_the_webhook_urls_secrets(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """Every logger at DEBUG while a delivery fails once (500) and then succeeds: httpx logs
    each request's URL at INFO and httpcore traces the exchange at DEBUG."""
    for name in ("", "httpx", "httpcore", "httpcore.connection", "httpcore.http11", "bosun"):
        caplog.set_level(logging.DEBUG, logger=name)
    path = f"/hooks/{SECRET_PATH}?token={SECRET_QUERY}"
    with receiving(500, 204) as receiver, served.client(served.key("acme", "submit")) as client:
        _submit(client, receiver.url(path))
        calls = [receiver.calls.get(timeout=30) for _ in range(2)]
        assert _finished_delivery(served).status == "completed"
    assert all(call[0] == path for call in calls)  # the receiver did get the secrets
    lines = _log_lines(caplog)
    httpx_lines = [line for line in lines if line.startswith("httpx ")]
    assert len(httpx_lines) >= 2, lines  # httpx did log both requests, as it does
    assert any(line.startswith("httpcore.") for line in lines), lines  # and httpcore traced
    leaked = [line for line in lines if SECRET_PATH in line or SECRET_QUERY in line]
    assert leaked == []
    assert any(f"127.0.0.1:{receiver.port}/[hidden]" in line for line in httpx_lines)


@pytest.fixture
def restored_http_loggers() -> Iterator[None]:
    """Put the httpx and httpcore loggers back as they were after a test reconfigures them."""
    names = ["httpx", "httpcore", "httpcore.connection", "httpcore.http11"]
    saved = {
        name: (logging.getLogger(name).level, list(logging.getLogger(name).filters))
        for name in names
    }
    yield
    for name, (level, filters) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.filters[:] = filters


def test_a_logging_setup_made_later_does_not_bring_the_url_back(
    served: Served, caplog: pytest.LogCaptureFixture, restored_http_loggers: None
) -> None:
    """An application's own `dictConfig`, made after bosun delivered once, turns httpx and
    httpcore up to DEBUG and drops every filter they had."""
    with receiving(204) as receiver, served.client(served.key("acme", "submit")) as client:
        _submit(client, receiver.url("/warm-up"))
        receiver.calls.get(timeout=30)
        _finished_delivery(served)
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "loggers": {
                    "httpx": {"level": "DEBUG"},
                    "httpcore": {"level": "DEBUG"},
                },
            }
        )
        for name in ("httpx", "httpcore.connection", "httpcore.http11"):
            logging.getLogger(name).filters.clear()
        caplog.set_level(logging.DEBUG)
        _submit(client, receiver.url(f"/{SECRET_PATH}?t={SECRET_QUERY}"))
        receiver.calls.get(timeout=30)

        def both_delivered() -> bool:
            runs = _deliveries(served)
            return len(runs) == 2 and all(run.status == "completed" for run in runs)

        wait_for(both_delivered, 30, "the second delivery")
    lines = _log_lines(caplog)
    assert any(line.startswith("httpx ") for line in lines), lines
    assert [line for line in lines if SECRET_PATH in line or SECRET_QUERY in line] == []
