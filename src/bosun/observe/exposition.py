"""Serving `/metrics`: on the API server (a route), and on a worker's own port.

Metrics carry workflow, queue and tenant names. They are served without credentials by
default, as Prometheus scrapes; with a token (`--metrics-token`, `BOSUN_METRICS_TOKEN`)
every scrape must send `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bosun.errors import ConfigurationError
from bosun.problems import PROBLEM_CONTENT_TYPE, problem

if TYPE_CHECKING:
    from bosun.observe import Observability
    from bosun.observe.metrics import ScrapedStore


log = logging.getLogger("bosun.observe")


class Scraped(Protocol):
    """What `/metrics` reads of the App (`bosun.app.App` is one; this module never imports
    it): its metrics, the store its queue depths come from, and the queues it declares."""

    @property
    def observability(self) -> Observability: ...

    @property
    def store(self) -> ScrapedStore: ...

    def declared_queues(self) -> set[str]: ...


async def scrape(app: Scraped, authorization: str | None, token: str | None) -> Response:
    """The App's metrics in Prometheus' text format, or 401 when `token` is set and the
    request does not carry it."""
    expected = f"Bearer {token}".encode()
    if token and not hmac.compare_digest((authorization or "").encode(), expected):
        body = problem(
            401,
            "unauthorized",
            "Unauthorized",
            "/metrics needs the metrics token: send 'Authorization: Bearer <token>'",
        )
        return JSONResponse(
            body,
            status_code=401,
            media_type=PROBLEM_CONTENT_TYPE,
            headers={"WWW-Authenticate": "Bearer"},
        )
    metrics = app.observability.metrics
    await metrics.refresh_queues(app.store, app.declared_queues())
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def serve_metrics(
    app: Scraped, host: str, port: int | None, token: str | None = None
) -> contextlib.AbstractAsyncContextManager[str | None]:
    """`metrics_server(app, host, port, token)`, or nothing when `port` is None."""
    if port is None:
        return contextlib.nullcontext()
    return metrics_server(app, host, port, token)


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the worker's own handlers drain it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@asynccontextmanager
async def metrics_server(
    app: Scraped, host: str, port: int, token: str | None = None
) -> AsyncIterator[str]:
    """Serve the App's `/metrics` on `host:port` while the block runs; yields its URL.

    `/healthz` answers 200 from the same event loop, without the token and without the
    database: a liveness probe that fails only when the process cannot answer (a step that
    blocks the loop), not when the metrics token is set or the database is away.

    Raises:
        ConfigurationError: the address cannot be listened on (in use, not local…).
    """

    async def endpoint(request: Request) -> Response:
        return await scrape(app, request.headers.get("authorization"), token)

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"cannot serve metrics on {host}:{port} ({exc.strerror or exc}): choose another "
            f"--metrics-port"
        ) from None
    bound = sock.getsockname()[1]

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok\n")

    asgi = Starlette(routes=[Route("/metrics", endpoint), Route("/healthz", healthz)])
    config = uvicorn.Config(
        asgi, log_config=None, access_log=False, lifespan="off", log_level="warning"
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="bosun-metrics")
    url = f"http://{host}:{bound}/metrics"
    try:
        # uvicorn tells it started only by a flag.
        while not server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if serving.done():
            serving.result()  # raises what stopped it
            raise ConfigurationError(f"the metrics server on {host}:{bound} stopped at start")
        log.info("metrics at %s", url)
        yield url
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await serving
        sock.close()
