"""Outbound webhooks: sign a body, verify a signature, deliver one signed `POST`.

Each request carries `Bosun-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, the HMAC keyed
with the shared secret over `"<t>." + body`. A receiver checks it with `verify`, which also
refuses a timestamp too far from its own clock, so a captured request cannot be replayed
later. While a secret is being rotated the header may carry several `v1=` entries; one match
is enough.

Each request also carries `Bosun-Delivery: <id>`, the same on every attempt of one delivery.
Delivery is at least once: an attempt whose answer is lost or late (the receiver took longer
than the timeout) is made again, so a receiver deduplicates on that id.

`deliver` makes one attempt and raises `WebhookFailed` when it does not succeed, or
`WebhookRejected` when the answer says another attempt would not either (a 3xx, since
redirects are not followed, or a 4xx other than 408 and 429); retrying with back-off is the
caller's business (bosun runs each delivery as a durable run).

httpx logs every request's full URL (at INFO) and httpcore traces each exchange (at DEBUG);
webhook URLs often carry a token in the path or query, so while `deliver` sends, a filter on
those loggers hides the URL's path, query and fragment in whatever they write.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import time
import unicodedata
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from http import HTTPStatus
from typing import TYPE_CHECKING

from bosun.egress.addresses import is_ambiguous_number
from bosun.errors import ConfigurationError, InvalidRequest, WebhookFailed, WebhookRejected
from bosun.retry import retry_after_seconds

if TYPE_CHECKING:
    import httpx

# httpx and the egress guard are imported when a URL is first checked or a webhook sent:
# a worker whose runs have no webhook never loads them.

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "WebhookFailed",
    "WebhookRejected",
    "check_url",
    "deliver",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "Bosun-Signature"
DELIVERY_HEADER = "Bosun-Delivery"
_SCHEME = "v1"
_EXCERPT_BYTES = 200  # of a failed answer's body, enough to say why without reading it all
_KNOWN_STATUSES = frozenset(status.value for status in HTTPStatus)


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


# -- URLs ---------------------------------------------------------------------------------------

_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Zs"})  # controls, format marks, spaces
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.IGNORECASE)


def check_url(url: str) -> str:
    """Check a webhook URL when it is given, so that a bad one fails the submission rather
    than every delivery attempt.

    Accepted: an `http` or `https` URL whose host is a DNS name (labels of letters, digits,
    hyphens and underscores, up to 63 characters each; an international name in Unicode or
    IDNA form), an IPv4 address written a.b.c.d or an IPv6 address in brackets; a port from
    1 to 65535; any path and query. Refused: whitespace and control characters anywhere
    (percent-encode them), and a user name or password (`user:pass@`): receivers
    authenticate bosun by its `Bosun-Signature`, and credentials in a URL end up in places
    secrets should not. Whether the host's address may be reached is decided at delivery,
    when the name is resolved (see `deliver`).

    Returns:
        `url`, unchanged.

    Raises:
        InvalidRequest: the URL is not one bosun can deliver to; the message says why.
    """
    if not isinstance(url, str):
        raise InvalidRequest(f"a webhook URL is a string, not {type(url).__name__}")
    for position, char in enumerate(url):
        if unicodedata.category(char) in _INVISIBLE:
            name = unicodedata.name(char, "a control character")
            raise InvalidRequest(
                f"a webhook URL may not contain whitespace or control characters; found "
                f"U+{ord(char):04X} ({name}) at position {position}: percent-encode it in the "
                f"path or query, or remove it"
            )
    _parsed(url)
    return url


def _parsed(url: str) -> httpx.URL:
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidRequest(f"the webhook URL is not a valid URL: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise InvalidRequest(
            f"a webhook URL must start with http:// or https://, not "
            f"{parsed.scheme + '://' if parsed.scheme else 'a path'}"
        )
    if parsed.userinfo:
        raise InvalidRequest(
            "a webhook URL may not carry a user name or password (user:pass@host): receivers "
            "check the Bosun-Signature header instead (set BOSUN_WEBHOOK_SECRET)"
        )
    port = parsed.port
    if port is not None and not 1 <= port <= 65535:
        raise InvalidRequest(f"the webhook URL's port {port} is not between 1 and 65535")
    _check_host(parsed.raw_host.decode("ascii"))
    return parsed


def _check_host(host: str) -> None:
    """A host is an IP literal or a DNS name (already in IDNA form, as httpx encodes it)."""
    if not host:
        raise InvalidRequest("the webhook URL has no host: write it as https://host/path")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidRequest(
                f"the webhook URL's host [{host}] is not an IPv6 address"
            ) from None
        return
    name = host.removesuffix(".")
    if is_ambiguous_number(name.lower()):
        raise InvalidRequest(
            f"the webhook URL's host {host!r} is a number in a non-canonical form, which "
            f"resolvers read differently; write the address as a dotted quad (a.b.c.d)"
        )
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidRequest(
            f"the webhook URL's host {host!r} is not a valid host name: use labels of "
            f"letters, digits and hyphens (up to 63 each) separated by dots, or an IP address"
        )


def _origin(url: httpx.URL) -> str:
    """Scheme, host and port only: webhook URLs often carry a token in the path or query."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


# -- logs ---------------------------------------------------------------------------------------

_HIDDEN: ContextVar[tuple[str, ...]] = ContextVar("bosun_webhook_hidden", default=())
_HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
_HIDDEN_MARK = "/[hidden]"


class _HideTargets(logging.Filter):
    """Hides the path, query and fragment of the URL a delivery is sending to, in the
    records httpx and httpcore write while it sends (the context variable says which)."""

    def filter(self, record: logging.LogRecord) -> bool:
        hidden = _HIDDEN.get()
        if not hidden:
            return True
        try:
            message = record.getMessage()
        except Exception:  # unformattable: replaced, as logging's error report shows its args
            record.msg, record.args = f"({record.name}: a record that could not be formatted)", None
            return True
        redacted = message
        for text in hidden:
            redacted = redacted.replace(text, _HIDDEN_MARK)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_HIDE = _HideTargets()


def _guard_http_logs() -> None:
    """Put the filter on every logger httpx and httpcore write to. Run at each delivery, so
    a logging setup made since (`dictConfig`, a framework's) cannot have removed it; a filter
    belongs to the logger that creates a record, so each one needs its own."""
    names = set(_HTTP_LOGGERS)
    names.update(
        name
        for name in list(logging.Logger.manager.loggerDict)
        if name.startswith(("httpx.", "httpcore."))
    )
    for name in names:
        logger = logging.getLogger(name)
        if _HIDE not in logger.filters:
            logger.addFilter(_HIDE)


def _secret_parts(url: httpx.URL) -> tuple[str, ...]:
    """Every spelling of the URL's path, query and fragment a log line could show, longest
    first so that a longer one is hidden whole."""
    target = url.raw_path.decode("ascii")  # path and query as sent
    parts = {
        target,
        target.partition("?")[0],
        url.path,
        url.query.decode("ascii", "replace"),
        url.fragment,
    }
    if url.fragment:
        parts.add(f"{target}#{url.fragment}")
    return tuple(sorted((p for p in parts if p and p != "/"), key=len, reverse=True))


# -- delivery -----------------------------------------------------------------------------------

_RETRIED_4XX = frozenset({408, 429})  # Request Timeout, Too Many Requests: worth another try


def _excerpt(body: bytes) -> str:
    """The start of an answer's body, for the error message."""
    text = body[:_EXCERPT_BYTES].decode("utf-8", "replace").strip()
    return f": {text}" if text else ""


def _failure(
    where: str, status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> WebhookFailed:
    """The error for a non-2xx answer: final for a 3xx or a 4xx other than 408 and 429; a
    429 or 503 carries the wait its `Retry-After` asks for."""
    reason = HTTPStatus(status).phrase if status in _KNOWN_STATUSES else ""
    answered = f"webhook at {where} answered {status} {reason}".rstrip()
    if 300 <= status < 400:
        return WebhookRejected(
            f"{answered}, not retried: redirects are not followed; register the URL the "
            f"receiver redirects to",
            status=status,
        )
    if 400 <= status < 500 and status not in _RETRIED_4XX:
        return WebhookRejected(
            f"{answered}, not retried: a 4xx answer other than 408 and 429 means the "
            f"receiver refuses this call{_excerpt(body)}",
            status=status,
        )
    asked = retry_after_seconds(headers or {}) if status in (429, 503) else None
    return WebhookFailed(answered + _excerpt(body), status=status, retry_after=asked)


async def deliver(
    url: str,
    body: bytes,
    *,
    secret: str | None,
    timeout: float = 10.0,
    allow: Sequence[str] = (),
    delivery_id: str | None = None,
) -> int:
    """POST `body` (JSON) to `url` once, signed when `secret` is given.

    The receiver's name is resolved here and every address checked before connecting, as
    `bosun.sandbox.http_fetch` does: a tenant's webhook cannot make a worker call its
    internal network (private, loopback, link-local, metadata addresses) unless `allow`
    lists the host or network.

    Args:
        url: the receiver; only `http` and `https` URLs are accepted (see `check_url`).
            Redirects are not followed: the receiver must answer at the URL it registered.
        body: the JSON document, exactly as it will be signed and sent.
        secret: the signing secret, or `None` to send no `Bosun-Signature` header.
        timeout: seconds the whole attempt may take, connecting and answering included.
        allow: host names, addresses and CIDR networks reachable although their address
            class is refused (e.g. `["hooks.internal", "10.8.0.0/16"]`).
        delivery_id: sent as the `Bosun-Delivery` header; the same on every attempt of one
            delivery, so the receiver can drop repeats.

    Returns:
        The receiver's 2xx status code.

    Raises:
        InvalidRequest: `url` is not one `check_url` accepts, or its host is refused.
        ConfigurationError: `secret` is the empty string.
        WebhookRejected: the receiver answered a 3xx, or a 4xx other than 408 and 429.
        WebhookFailed: the receiver answered something else than 2xx, or did not answer.
    """
    import httpx

    from bosun.egress.fetch import FetchFailed, FetchRefused, http_fetch

    target = _parsed(check_url(url))
    headers = {"Content-Type": "application/json", "User-Agent": "bosun-webhooks"}
    if delivery_id is not None:
        headers[DELIVERY_HEADER] = delivery_id
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(secret, body, int(time.time()))
    where = _origin(target)
    _guard_http_logs()
    hiding = _HIDDEN.set(_secret_parts(target))
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
    finally:
        _HIDDEN.reset(hiding)
    if 200 <= answer.status < 300:
        return answer.status
    raise _failure(where, answer.status, answer.body, answer.headers)
