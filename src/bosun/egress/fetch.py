"""`http_fetch`: one HTTP(S) request an agent may make, kept off the worker's own network.

The fetch refuses private, loopback, link-local, carrier-grade NAT, unique-local, multicast,
reserved and cloud-metadata addresses (see `bosun.egress.addresses`) unless the host, its
address or a network holding it is in `allow`. The check is made on what the name *resolves
to*, and the connection goes to exactly the address that was checked:

1. the host is resolved once, here (`asyncio` `getaddrinfo`, or the `resolver` given);
2. every address it resolves to is checked; one refused address refuses the fetch, since a
   name answering with a mix is what a DNS-rebinding attack looks like;
3. the request is sent to a URL whose host is the checked IP literal, so nothing resolves
   the name again between the check and the connect (no time-of-check/time-of-use gap). The
   `Host` header keeps the original host, and for HTTPS the `sni_hostname` request extension
   (documented by httpx, honoured by httpcore's TLS handshake) makes the TLS server name
   *and the certificate check* use the host name, not the IP.

Redirects are followed here, not by httpx, and each hop goes through the same three steps.
No proxy is used (`trust_env=False`): a proxy would resolve names itself.

```
BosunError
├── FetchRefused   the URL, method, scheme or (resolved) address is not allowed
└── FetchFailed    the server could not be reached, or did not answer in time
```
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx

from bosun.egress.addresses import (
    METADATA_HOSTS,
    AllowList,
    describe,
    is_ambiguous_number,
    normalize_host,
    parse_ip,
    refused_class,
)
from bosun.errors import BosunError, ConfigurationError

__all__ = ["FetchFailed", "FetchRefused", "FetchResult", "Resolver", "http_fetch", "resolve"]

MiB = 1024 * 1024
METHODS = frozenset({"GET", "POST", "HEAD"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DROPPED = frozenset({"host", "content-length", "transfer-encoding"})  # set per hop
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})
_CHARSET = re.compile(r"charset=\"?([\w.:-]+)", re.IGNORECASE)

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""`(host, port) -> addresses`: how a host name becomes IP addresses (text)."""


class FetchRefused(BosunError):
    """The fetch is not allowed: a bad URL, scheme or method, or an address of a refused
    class (`address_class`: "loopback", "private", "cloud metadata"…)."""

    def __init__(self, message: str, *, address_class: str | None = None) -> None:
        super().__init__(message)
        self.address_class = address_class


class FetchFailed(BosunError):
    """The server could not be resolved or reached, broke the exchange, or was too slow."""


@dataclass(frozen=True)
class FetchResult:
    """The answer to a fetch, after redirects.

    Attributes:
        status: the HTTP status code.
        headers: the response headers, names in lower case (repeated ones joined by ", ").
        body: the body as sent (no `Content-Encoding` is asked for), at most `max_bytes`.
        truncated: whether the body was longer than `max_bytes` and cut.
        url: the URL that answered, after redirects.
        elapsed: seconds from the start of the fetch to the end of the body.
    """

    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool
    url: str
    elapsed: float

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def text(self) -> str:
        """The body decoded by the charset the response names (UTF-8 when none), with
        undecodable bytes replaced."""
        found = _CHARSET.search(self.content_type or "")
        encoding = "utf-8"
        if found:
            with contextlib.suppress(LookupError):
                encoding = codecs.lookup(found.group(1)).name
        return self.body.decode(encoding, "replace")


async def resolve(host: str, port: int) -> list[str]:
    """The IPv4 and IPv6 addresses of `host`, in the system resolver's order."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"cannot resolve host {host!r}: {exc}") from exc
    families = (socket.AF_INET, socket.AF_INET6)
    return list(dict.fromkeys(str(info[4][0]) for info in infos if info[0] in families))


async def http_fetch(
    url: str,
    *,
    method: str = "GET",
    body: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    max_bytes: int = 1 * MiB,
    max_redirects: int = 5,
    follow_redirects: bool = True,
    allow: Sequence[str] = (),
    resolver: Resolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> FetchResult:
    """Make one HTTP(S) request, refusing the worker's internal network; see the module.

    Args:
        url: an `http://` or `https://` URL.
        method: `GET`, `POST` or `HEAD`.
        body: the request body (text is sent as UTF-8).
        headers: extra request headers (`Host` is always the URL's host).
        timeout: seconds the whole fetch may take, resolution and redirects included.
        max_bytes: the body is read up to this size; the rest is dropped (`truncated`).
        max_redirects: redirects followed before giving up.
        follow_redirects: False: a redirect is the answer (its body unread).
        allow: host names, addresses and CIDR networks reachable although their address
            class is refused (e.g. `["api.internal", "10.8.0.0/16"]`).
        resolver: resolves host names (`resolve`, the system resolver, when None); tests
            and custom DNS plug in here.
        ssl_context: verifies HTTPS servers (httpx's default, certifi's roots, when None).

    Raises:
        FetchRefused: the URL, scheme, method or an address is not allowed.
        FetchFailed: resolution, connection or the exchange failed, there were more than
            `max_redirects` redirects, or it took longer than `timeout`.
    """
    if timeout <= 0 or max_bytes < 0 or max_redirects < 0:
        raise ConfigurationError("timeout must be > 0, max_bytes and max_redirects >= 0")
    verb = method.upper()
    if verb not in METHODS:
        raise FetchRefused(f"method {method!r} is not allowed: use GET, POST or HEAD")
    request = _Request(
        url=_parse_url(url),
        method=verb,
        body=body.encode() if isinstance(body, str) else body,
        headers={k: v for k, v in (headers or {}).items() if k.lower() not in _DROPPED},
    )
    hop = _Hop(
        allow=AllowList.parse(allow),
        resolver=resolver or resolve,
        ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
        timeout=timeout,
        max_bytes=max_bytes,
    )
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            for _ in range(max_redirects + 1):
                answer = await hop.send(request)
                location = answer.headers.get("location")
                if answer.status not in _REDIRECTS or location is None or not follow_redirects:
                    return FetchResult(
                        answer.status,
                        answer.headers,
                        answer.body,
                        answer.truncated,
                        str(request.url),
                        time.monotonic() - started,
                    )
                request = request.redirected(answer.status, location)
    except (TimeoutError, httpx.TimeoutException) as exc:
        where = _origin(request.url)
        raise FetchFailed(f"fetching {where} took longer than {timeout:g} s") from exc
    raise FetchFailed(
        f"{url} redirected more than {max_redirects} times (last to {_origin(request.url)})"
    )


# -- internals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    url: httpx.URL
    method: str
    body: bytes | None
    headers: dict[str, str]
    via: str | None = None  # the origin that redirected here

    def redirected(self, status: int, location: str) -> _Request:
        """The request a redirect asks for: 303 (and 301/302 after a POST) become a GET
        without a body; credentials are not carried to another origin."""
        try:
            target = _parse_url(str(self.url.join(location)))
        except httpx.InvalidURL as exc:
            raise FetchFailed(f"{_origin(self.url)} redirected to an invalid URL") from exc
        method, body, headers = self.method, self.body, dict(self.headers)
        if method != "HEAD" and (status == 303 or (status in (301, 302) and method == "POST")):
            method, body = "GET", None
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        if _origin(target) != _origin(self.url):
            headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
        return _Request(target, method, body, headers, via=_origin(self.url))


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool


@dataclass(frozen=True)
class _Hop:
    """How each hop is checked and sent."""

    allow: AllowList
    resolver: Resolver
    ssl_context: ssl.SSLContext
    timeout: float
    max_bytes: int

    async def send(self, request: _Request) -> _Answer:
        """Check where `request` goes, then send it to a checked address, trying the next
        one when a connection cannot be made."""
        addresses = await self.checked_addresses(request)
        url, host = request.url, normalize_host(request.url.host)
        headers = {**request.headers, "Host": url.netloc.decode("ascii")}
        headers.setdefault("Accept-Encoding", "identity")
        extensions = {} if parse_ip(host) else {"sni_hostname": host}
        failures: list[str] = []
        # A client per hop: no cookie or connection is carried from one host to another.
        async with httpx.AsyncClient(
            verify=self.ssl_context, trust_env=False, timeout=self.timeout
        ) as client:
            for address in addresses:
                try:
                    async with client.stream(
                        request.method,
                        url.copy_with(host=address),
                        content=request.body,
                        headers=headers,
                        extensions=extensions,
                    ) as response:
                        return await self.answer(response)
                except httpx.ConnectError as exc:
                    failures.append(f"{address}: {str(exc) or type(exc).__name__}")
                except httpx.TimeoutException:
                    raise
                except (httpx.HTTPError, httpx.InvalidURL) as exc:
                    raise FetchFailed(
                        f"fetching {_origin(url)} failed: {type(exc).__name__}: {exc}"
                    ) from exc
        raise FetchFailed(f"cannot connect to {_origin(url)} ({'; '.join(failures)})")

    async def checked_addresses(self, request: _Request) -> list[str]:
        """The addresses the request's host resolves to, each checked against the policy."""
        url = request.url
        host = normalize_host(url.host)
        if parse_ip(host) is not None:
            self.check(request, host, [host])
            return [host]
        if host in METADATA_HOSTS and not self.allow.allows_host(host):
            self.check(request, host, [])  # refused by name: not even resolved
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = list(await self.resolver(host, port))
        if not addresses:
            raise FetchFailed(f"host {host!r} resolves to no address")
        self.check(request, host, addresses)
        return addresses

    def check(self, request: _Request, host: str, addresses: list[str]) -> None:
        if self.allow.allows_host(host):
            return
        if host in METADATA_HOSTS:
            why = f"{host} is a cloud metadata host name"
            raise _refused(request, why, "cloud metadata")
        for text in addresses:
            address = parse_ip(text)
            if address is None:
                raise FetchFailed(f"the resolver gave {text!r} for {host!r}: not an IP address")
            if self.allow.allows_address(address):
                continue
            name = refused_class(address)
            if name is not None:
                shown = describe(text, address)
                where = shown if text == host else f"{host} resolves to {shown}, which"
                article = "an" if name[0] in "aeiou" else "a"
                raise _refused(request, f"{where} is {article} {name} address", name)

    async def answer(self, response: httpx.Response) -> _Answer:
        headers: dict[str, str] = {}
        for name, value in response.headers.multi_items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if response.status_code in _REDIRECTS and "location" in headers:
            return _Answer(response.status_code, headers, b"", False)  # body unread
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            room = self.max_bytes - size
            if len(chunk) > room:
                chunks.append(chunk[:room])
                return _Answer(response.status_code, headers, b"".join(chunks), True)
            chunks.append(chunk)
            size += len(chunk)
        return _Answer(response.status_code, headers, b"".join(chunks), False)


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchRefused(f"{url!r} is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchRefused(f"{url!r} is not allowed: use an http:// or https:// URL with a host")
    if is_ambiguous_number(normalize_host(parsed.host)):
        raise FetchRefused(
            f"{url!r} names its host as a number in a non-canonical form, which resolvers "
            f"read differently; write the address as a dotted quad (a.b.c.d)",
            address_class="ambiguous numeric address",
        )
    return parsed


def _origin(url: httpx.URL) -> str:
    """Scheme, host and port only: URLs often carry tokens in the path or query."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def _refused(request: _Request, why: str, address_class: str) -> FetchRefused:
    via = "" if request.via is None else f" (where {request.via} redirected)"
    return FetchRefused(
        f"http_fetch refused {_origin(request.url)}{via}: {why}. Private, loopback, "
        f"link-local and cloud metadata addresses are refused so that fetched URLs cannot "
        f"reach internal services; if this host is meant to be reachable, add it (or its "
        f"address or network) to allow",
        address_class=address_class,
    )
