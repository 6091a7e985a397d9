"""Outbound webhooks: sign a body, verify a signature, deliver one signed `POST`.

Each request carries `Bosun-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, the HMAC keyed
with the shared secret over `"<t>." + body`. A receiver checks it with `verify`, which also
refuses a timestamp too far from its own clock, so a captured request cannot be replayed
later. While a secret is being rotated the header may carry several `v1=` entries; one match
is enough.

`deliver` makes one attempt and raises `WebhookFailed` when it does not succeed; retrying with
back-off is the caller's business (bosun runs each delivery as a durable run).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from http import HTTPStatus

import httpx

from bosun.errors import BosunError, ConfigurationError, InvalidRequest
from bosun.sandbox.fetch import FetchFailed, FetchRefused, http_fetch

__all__ = ["SIGNATURE_HEADER", "WebhookFailed", "deliver", "sign", "verify"]

SIGNATURE_HEADER = "Bosun-Signature"
_SCHEME = "v1"
_EXCERPT_BYTES = 200  # of a failed answer's body, enough to say why without reading it all
_KNOWN_STATUSES = frozenset(status.value for status in HTTPStatus)


class WebhookFailed(BosunError):
    """One delivery attempt did not get a 2xx answer.

    Attributes:
        status: the HTTP status the receiver answered, or `None` when no answer came
            (connection refused, timeout, TLS or protocol error).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    if not secret:
        raise ConfigurationError(
            "the webhook secret is empty; set BOSUN_WEBHOOK_SECRET to a long random string"
        )
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Bosun-Signature` header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},{_SCHEME}={_digest(secret, body, timestamp)}"


def _parse(header: str) -> tuple[int, list[str]]:
    """The timestamp and the `v1` signatures of a header; entries of other schemes are
    ignored, so a newer sender stays readable."""
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            timestamps.append(value)
        elif name == _SCHEME:
            signatures.append(value)
    if len(timestamps) != 1 or not (timestamps[0].isascii() and timestamps[0].isdigit()):
        raise InvalidRequest(
            f"malformed {SIGNATURE_HEADER} header {header[:200]!r}: expected one "
            f"'t=<unix seconds>' entry, as in 't=1700000000,v1=<hex>'"
        )
    if not signatures:
        raise InvalidRequest(
            f"malformed {SIGNATURE_HEADER} header {header[:200]!r}: no '{_SCHEME}=<hex>' "
            f"signature, as in 't=1700000000,v1=<hex>'"
        )
    return int(timestamps[0]), signatures


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> None:
    """Check a `Bosun-Signature` header against the exact bytes received.

    Args:
        secret: the shared secret (`BOSUN_WEBHOOK_SECRET` on the sending side).
        header: the header's value.
        body: the raw request body, before any JSON parsing.
        tolerance: how many seconds the signed timestamp may be from `now`, either way.
        now: the current unix time; `time.time()` when omitted.

    Raises:
        InvalidRequest: the header is malformed, its timestamp is outside the tolerance, or
            no `v1` signature matches.
    """
    timestamp, signatures = _parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidRequest(
            f"{SIGNATURE_HEADER} timestamp {timestamp} is {current - timestamp:+.0f} s from now, "
            f"outside the {tolerance:g} s tolerance: the request may be a replay; if it is not, "
            f"check that the sender's and receiver's clocks are synchronised"
        )
    expected = _digest(secret, body, timestamp).encode()
    # Compare with every entry (no early exit) so timing tells nothing about which matched.
    matches = [
        hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
        for candidate in signatures
    ]
    if not any(matches):
        raise InvalidRequest(
            f"no {_SCHEME} signature in the {SIGNATURE_HEADER} header matches the body: the "
            f"secret differs from the sender's, or the body was changed (verify the raw bytes, "
            f"not re-serialised JSON)"
        )


def _check_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidRequest(f"webhook URL {url!r} is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidRequest(
            f"webhook URL {url!r} is not allowed: use an http:// or https:// URL with a host"
        )
    return parsed


def _origin(url: httpx.URL) -> str:
    """Scheme, host and port only: webhook URLs often carry a token in the path or query."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def _excerpt(body: bytes) -> str:
    """The start of an answer's body, for the error message."""
    text = body[:_EXCERPT_BYTES].decode("utf-8", "replace").strip()
    return f": {text}" if text else ""


async def deliver(
    url: str,
    body: bytes,
    *,
    secret: str | None,
    timeout: float = 10.0,
    allow: Sequence[str] = (),
) -> int:
    """POST `body` (JSON) to `url` once, signed when `secret` is given.

    The receiver's name is resolved here and every address checked before connecting, as
    `bosun.sandbox.http_fetch` does: a tenant's webhook cannot make a worker call its
    internal network (private, loopback, link-local, metadata addresses) unless `allow`
    lists the host or network.

    Args:
        url: the receiver; only `http` and `https` URLs are accepted. Redirects are not
            followed: the receiver must answer at the URL it registered.
        body: the JSON document, exactly as it will be signed and sent.
        secret: the signing secret, or `None` to send no `Bosun-Signature` header.
        timeout: seconds the whole attempt may take, connecting and answering included.
        allow: host names, addresses and CIDR networks reachable although their address
            class is refused (e.g. `["hooks.internal", "10.8.0.0/16"]`).

    Returns:
        The receiver's 2xx status code.

    Raises:
        InvalidRequest: `url` is not an http(s) URL, or its host is refused.
        ConfigurationError: `secret` is the empty string.
        WebhookFailed: the receiver answered something other than 2xx, or did not answer.
    """
    target = _check_url(url)
    headers = {"Content-Type": "application/json", "User-Agent": "bosun-webhooks"}
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(secret, body, int(time.time()))
    where = _origin(target)
    try:
        answer = await http_fetch(
            str(target),
            method="POST",
            body=body,
            headers=headers,
            timeout=timeout,
            max_bytes=_EXCERPT_BYTES,
            follow_redirects=False,
            allow=allow,
        )
    except FetchRefused as exc:
        raise InvalidRequest(
            f"webhook receiver {where} is not allowed: {exc}. Allow-list a receiver on a "
            "private network with App(webhook_allow=[...]) or BOSUN_WEBHOOK_ALLOW"
        ) from exc
    except FetchFailed as exc:
        if isinstance(exc.__cause__, TimeoutError | httpx.TimeoutException):
            message = f"webhook at {where} did not answer within {timeout:g} s"
        else:
            message = f"webhook at {where} could not be reached: {exc}"
        raise WebhookFailed(message) from exc
    if 200 <= answer.status < 300:
        return answer.status
    reason = HTTPStatus(answer.status).phrase if answer.status in _KNOWN_STATUSES else ""
    raise WebhookFailed(
        f"webhook at {where} answered {answer.status} {reason}".rstrip() + _excerpt(answer.body),
        status=answer.status,
    )
