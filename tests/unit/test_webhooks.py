"""Webhook signatures (known answers, replay and rotation) and delivery to a real local server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bosun.errors import ConfigurationError, InvalidRequest
from bosun.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WebhookFailed,
    WebhookRejected,
    check_url,
    deliver,
    sign,
    verify,
)

pytestmark = pytest.mark.timeout(30)

SECRET = "whsec_test"
BODY = b'{"type": "run.completed"}'
T = 1700000000
# Computed once, outside bosun, with both
#   hmac.new(b"whsec_test", b'1700000000.{"type": "run.completed"}', hashlib.sha256)
#   printf '1700000000.{"type": "run.completed"}' | openssl dgst -sha256 -hmac whsec_test
EXPECTED_HEX = "f163b68d872a675abc7381d124f3ee35b1e9534b42e41e94d5bd2066badf6550"


def test_known_answer_signature() -> None:
    assert SIGNATURE_HEADER == "Bosun-Signature"
    assert sign(SECRET, BODY, T) == f"t={T},v1={EXPECTED_HEX}"


def test_verify_accepts_a_good_signature() -> None:
    verify(SECRET, f"t={T},v1={EXPECTED_HEX}", BODY, now=T)
    verify(SECRET, f" t={T} , v1={EXPECTED_HEX} ", BODY, now=T + 299)  # spaces are tolerated
    verify(SECRET, f"t={T},v0=ignored,v1={EXPECTED_HEX},v2=future", BODY, now=T - 299)


def test_verify_uses_the_current_time_by_default() -> None:
    now = int(time.time())
    verify(SECRET, sign(SECRET, BODY, now), BODY)
    with pytest.raises(InvalidRequest, match="replay"):
        verify(SECRET, sign(SECRET, BODY, now - 3600), BODY)


@pytest.mark.parametrize(
    "body", [BODY + b" ", b'{"type": "run.failed"}', b'{"type":"run.completed"}', b""]
)
def test_verify_rejects_a_tampered_body(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match=r"no v1 signature .* matches"):
        verify(SECRET, f"t={T},v1={EXPECTED_HEX}", body, now=T)


def test_verify_rejects_the_wrong_secret() -> None:
    with pytest.raises(InvalidRequest, match="secret differs"):
        verify("whsec_other", f"t={T},v1={EXPECTED_HEX}", BODY, now=T)


def test_verify_rejects_a_changed_timestamp() -> None:
    with pytest.raises(InvalidRequest, match="matches"):
        verify(SECRET, f"t={T + 1},v1={EXPECTED_HEX}", BODY, now=T)


@pytest.mark.parametrize("now", [T + 301, T - 301, T + 86_400])
def test_verify_rejects_a_stale_or_future_timestamp(now: float) -> None:
    with pytest.raises(InvalidRequest, match="outside the 300 s tolerance"):
        verify(SECRET, f"t={T},v1={EXPECTED_HEX}", BODY, now=now)


def test_the_tolerance_is_configurable() -> None:
    verify(SECRET, f"t={T},v1={EXPECTED_HEX}", BODY, now=T + 3000, tolerance=3600)
    with pytest.raises(InvalidRequest, match="outside the 5 s tolerance"):
        verify(SECRET, f"t={T},v1={EXPECTED_HEX}", BODY, now=T + 6, tolerance=5)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        EXPECTED_HEX,
        f"v1={EXPECTED_HEX}",  # no timestamp
        f"t={T}",  # no signature
        f"t={T},v0={EXPECTED_HEX}",  # no signature of a scheme we know
        f"t=,v1={EXPECTED_HEX}",
        f"t=-{T},v1={EXPECTED_HEX}",
        f"t={T}.5,v1={EXPECTED_HEX}",
        f"t=soon,v1={EXPECTED_HEX}",
        f"t={T},t={T},v1={EXPECTED_HEX}",  # two timestamps
    ],
)
def test_verify_rejects_a_malformed_header(header: str) -> None:
    with pytest.raises(InvalidRequest, match="malformed Bosun-Signature header"):
        verify(SECRET, header, BODY, now=T)


def test_verify_survives_odd_signature_values() -> None:
    for value in ("", "é" * 64, "\udcff", EXPECTED_HEX.upper(), EXPECTED_HEX[:-1]):
        with pytest.raises(InvalidRequest, match="matches"):
            verify(SECRET, f"t={T},v1={value}", BODY, now=T)


def test_rotation_accepts_either_of_two_signatures() -> None:
    old = sign("whsec_old", BODY, T).split(",v1=")[1]
    new = sign("whsec_new", BODY, T).split(",v1=")[1]
    header = f"t={T},v1={old},v1={new}"
    verify("whsec_old", header, BODY, now=T)
    verify("whsec_new", header, BODY, now=T)
    with pytest.raises(InvalidRequest, match="matches"):
        verify("whsec_third", header, BODY, now=T)


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="BOSUN_WEBHOOK_SECRET"):
        sign("", BODY, T)
    with pytest.raises(ConfigurationError, match="BOSUN_WEBHOOK_SECRET"):
        verify("", f"t={T},v1={EXPECTED_HEX}", BODY, now=T)


# -- delivery to a real HTTP server on the loopback interface ---------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    status: int = 200
    answer: bytes = b"ok"
    stall: bool = False  # answer only when the test ends
    requests: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
            if state.stall:
                state.released.wait(10)
            try:
                self.send_response(state.status)
                self.send_header("Content-Length", str(len(state.answer)))
                self.end_headers()
                self.wfile.write(state.answer)
            except OSError:  # the client gave up waiting
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/bosun?token=t0ps3cret"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


LOOPBACK = ["127.0.0.1"]  # the receiver runs there: allow-listed, as a private receiver must be


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_deliver_posts_a_signed_body_that_verify_accepts(receiver: Receiver) -> None:
    before = int(time.time())
    assert await deliver(receiver.url, BODY, secret=SECRET, allow=LOOPBACK) == 200
    [request] = receiver.requests
    assert request.path == "/hooks/bosun?token=t0ps3cret"
    assert request.body == BODY
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "bosun-webhooks"
    verify(SECRET, headers["bosun-signature"], request.body)
    timestamp = int(headers["bosun-signature"].split(",")[0].removeprefix("t="))
    assert before <= timestamp <= time.time()
    with pytest.raises(InvalidRequest):
        verify("whsec_other", headers["bosun-signature"], request.body)


async def test_deliver_without_a_secret_sends_no_signature(receiver: Receiver) -> None:
    receiver.status = 204
    receiver.answer = b""
    assert await deliver(receiver.url, BODY, secret=None, allow=LOOPBACK) == 204
    assert len(receiver.requests) == 1
    assert all(SIGNATURE_HEADER.lower() not in map(str.lower, r.headers) for r in receiver.requests)


async def test_an_error_answer_fails_with_its_status(receiver: Receiver) -> None:
    receiver.status = 500
    receiver.answer = b"database on fire " * 1000
    with pytest.raises(WebhookFailed, match="answered 500 Internal Server Error: database") as info:
        await deliver(receiver.url, BODY, secret=SECRET, allow=LOOPBACK)
    assert info.value.status == 500
    assert len(str(info.value)) < 400  # only an excerpt of the answer
    assert "t0ps3cret" not in str(info.value)  # nor the URL's path and query


@pytest.mark.parametrize("status", [301, 302, 307, 308, 400, 401, 403, 404, 409, 410, 422])
async def test_redirects_and_client_errors_are_final(receiver: Receiver, status: int) -> None:
    receiver.status = status
    with pytest.raises(WebhookRejected, match=f"answered {status} .*not retried") as info:
        await deliver(receiver.url, BODY, secret=SECRET, allow=LOOPBACK)
    assert info.value.status == status
    assert "t0ps3cret" not in str(info.value)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_timeouts_throttling_and_server_errors_may_pass(
    receiver: Receiver, status: int
) -> None:
    receiver.status = status
    with pytest.raises(WebhookFailed) as info:
        await deliver(receiver.url, BODY, secret=SECRET, allow=LOOPBACK)
    assert not isinstance(info.value, WebhookRejected)
    assert info.value.status == status


async def test_the_delivery_id_is_sent_when_given(receiver: Receiver) -> None:
    await deliver(receiver.url, BODY, secret=SECRET, allow=LOOPBACK, delivery_id="d-1")
    await deliver(receiver.url, BODY, secret=SECRET, allow=LOOPBACK)
    first, second = ({k.lower(): v for k, v in r.headers.items()} for r in receiver.requests)
    assert DELIVERY_HEADER == "Bosun-Delivery"
    assert first["bosun-delivery"] == "d-1"
    assert "bosun-delivery" not in second


async def test_a_closed_port_fails_without_a_status() -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    with pytest.raises(WebhookFailed, match="could not be reached") as info:
        await deliver(url, BODY, secret=SECRET, allow=LOOPBACK)
    assert info.value.status is None


async def test_a_receiver_that_does_not_answer_in_time_fails(receiver: Receiver) -> None:
    receiver.stall = True  # it answers only once the test ends: only the timeout ends this
    with pytest.raises(WebhookFailed, match=r"did not answer within 0\.2 s") as info:
        await deliver(receiver.url, BODY, secret=SECRET, timeout=0.2, allow=LOOPBACK)
    assert info.value.status is None
    assert len(receiver.requests) == 1  # it reached the receiver, which held its answer back


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "example.com/hook",
        "http:///no-host",
        "javascript:alert(1)",
        "http://[::1",
    ],
)
async def test_only_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(InvalidRequest, match="webhook URL"):
        await deliver(url, BODY, secret=SECRET)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://a b.c/", r"U\+0020 \(SPACE\) at position 8"),
        ("http://hooks.example.com/x y", "whitespace"),
        ("http://hooks.example.com/\n", "control characters"),
        ("http://hooks.example.com/\x7f", "control characters"),
        ("http://hooks.example.com\u00a0/", "NO-BREAK SPACE"),
        ("http://hooks.example.com/\u202e", "RIGHT-TO-LEFT OVERRIDE"),
        ("http://user@hooks.example.com/", "user name or password"),
        ("http://user:pw@hooks.example.com/", "user name or password"),
        ("http://hooks.example.com:0/", "port 0 is not between 1 and 65535"),
        ("http://hooks.example.com:65536/", "port 65536"),
        ("http://hooks.example.com:80x/", "not a valid URL"),
        ("http://a%20b.c/", "not a valid host name"),
        ("http://-a.example.com/", "not a valid host name"),
        ("http://a-.example.com/", "not a valid host name"),
        ("http://a..example.com/", "not a valid host name"),
        ("http://a!b.example.com/", "not a valid URL|not a valid host name"),
        ("http://" + "a" * 64 + ".example.com/", "not a valid host name"),
        ("http://" + ".".join(["abcdefgh"] * 30) + "/", "not a valid host name"),
        ("http://\U0001f4a9.example/", "not a valid URL"),  # not a valid IDNA label
        ("http://999.1.1.1/", "not a valid URL"),
        ("http://2130706433/", "non-canonical"),  # 127.0.0.1 as one number
        ("http://0x7f.1/", "non-canonical"),
        ("http://[fe80::zz]/", "not a valid URL|not an IPv6 address"),
        ("http:///x", "no host"),
        ("mailto:a@example.com", "http:// or https://"),
    ],
)
def test_check_url_refuses_what_cannot_be_delivered(url: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/bosun?token=abc&x=%20y#frag",
        "HTTPS://Hooks.Example.COM/",
        "http://hooks.example.com:1/",
        "http://hooks.example.com:65535/",
        "http://hooks.example.com./",
        "http://b\u00fccher.example/caf\u00e9",
        "http://xn--bcher-kva.example/",
        "http://hooks_internal:8080/",
        "http://localhost/",
        "http://198.51.100.7/",
        "http://[2001:db8::1]/",
        "http://[::ffff:198.51.100.7]:8080/x",
        "http://" + ".".join(["a" * 63] * 3) + "/",
    ],
)
def test_check_url_accepts_deliverable_urls_unchanged(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:{port}/hook", "loopback"),
        ("http://localhost:{port}/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://10.1.2.3/hook", "private"),
        ("http://[::ffff:127.0.0.1]:{port}/hook", "loopback"),
    ],
)
async def test_webhooks_to_internal_addresses_are_refused(
    receiver: Receiver, url: str, why: str
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    with pytest.raises(InvalidRequest, match=f"not allowed.*{why}.*BOSUN_WEBHOOK_ALLOW"):
        await deliver(url.format(port=port), BODY, secret=SECRET)
    assert receiver.requests == []  # nothing reached the receiver on loopback


async def test_an_allow_listed_network_is_reachable(receiver: Receiver) -> None:
    assert await deliver(receiver.url, BODY, secret=SECRET, allow=["127.0.0.0/8"]) == 200
    with pytest.raises(InvalidRequest, match="not allowed"):
        await deliver(receiver.url, BODY, secret=SECRET, allow=["10.0.0.0/8"])


def test_the_allow_list_comes_from_the_environment_unless_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bosun

    monkeypatch.setenv("BOSUN_WEBHOOK_ALLOW", " hooks.internal, 10.8.0.0/16 ,")
    assert bosun.App("a").webhook_allow == ("hooks.internal", "10.8.0.0/16")
    assert bosun.App("b", webhook_allow=["x.internal"]).webhook_allow == ("x.internal",)
    monkeypatch.delenv("BOSUN_WEBHOOK_ALLOW")
    assert bosun.App("c").webhook_allow == ()
