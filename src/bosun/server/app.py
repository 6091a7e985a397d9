"""The ASGI application: `/v1` API, health probes, the web UI, RFC 9457 errors."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bosun.app import App
from bosun.errors import BosunError, RateLimited
from bosun.observe.exposition import scrape
from bosun.problems import PROBLEM_CONTENT_TYPE, problem, problem_for
from bosun.server.api import router
from bosun.server.approvals_api import router as approvals_router
from bosun.server.sessions_api import router as sessions_router
from bosun.server.state import ServerConfig, ServerState
from bosun.server.ui import mount_ui
from bosun.version import __version__

log = logging.getLogger("bosun.server")


def problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=headers)


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413 before the app sees them: a declared
    Content-Length is checked up front; a body without one (chunked) is read here, up to the
    limit, and handed on whole."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.limit:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: wait for a disconnect
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = problem(
            413,
            "body-too-large",
            "Request body too large",
            f"request bodies are limited to {self.limit} bytes",
        )
        await problem_response(413, body)(scope, receive, send)


_NOSNIFF = b"x-content-type-options"


class NoSniff:
    """`X-Content-Type-Options: nosniff` on every response (API, UI pages, static files), so
    a browser never reads JSON or a script as something other than its declared type."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _NOSNIFF]
                message = {**message, "headers": [*headers, (_NOSNIFF, b"nosniff")]}
            await send(message)

        await self.app(scope, receive, send_nosniff)


def create_server(app: App, config: ServerConfig | None = None) -> FastAPI:
    """The ASGI application serving `app`; its lifespan opens the App (and runs an
    in-process worker when `config.worker_concurrency` > 0)."""
    config = config or ServerConfig()
    state = ServerState(app, config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await app.open()
            stack.push_async_callback(app.close)
            await app.store.follow_events()
            stack.push_async_callback(state.feeds.close)
            if config.worker_concurrency > 0:
                await stack.enter_async_context(
                    app.worker(
                        concurrency=config.worker_concurrency, queues=list(config.worker_queues)
                    )
                )
            yield

    api = FastAPI(
        title=f"bosun: {app.name}",
        version=__version__,
        description="Durable runs of AI agents: submit, inspect, signal and stream them.",
        lifespan=lifespan,
    )
    api.state.bosun = state
    api.include_router(router)
    api.include_router(approvals_router)
    api.include_router(sessions_router)
    mount_ui(api)
    _add_probes(api, state)
    _add_error_handlers(api)
    api.add_middleware(BodyLimit, limit=config.max_body_bytes)
    api.add_middleware(NoSniff)  # outermost: a 413 from BodyLimit carries it too
    return api


def _add_probes(api: FastAPI, state: ServerState) -> None:
    @api.get("/healthz", summary="The process is up", tags=["probes"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", summary="The database answers and its schema is current", tags=["probes"])
    async def readyz() -> JSONResponse:
        store = state.app.store
        try:
            version = await store.schema_version()
        except BosunError as exc:
            body = problem(503, "not-ready", "Not ready", f"the database does not answer: {exc}")
            return problem_response(503, body)
        if version != store.schema_latest:
            detail = f"schema version {version}, this server needs {store.schema_latest}"
            return problem_response(503, problem(503, "not-ready", "Not ready", detail))
        return JSONResponse({"status": "ready", "schema_version": version})

    @api.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        return await scrape(state.app, authorization, state.config.metrics_token)


def _add_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(BosunError)
    async def bosun_error(request: Request, exc: BosunError) -> JSONResponse:
        status, body = problem_for(exc)
        headers = None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return problem_response(status, body, headers)

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), exclude={"input", "ctx", "url"})
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        detail = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        # A body that is not JSON at all is a bad request; JSON of the wrong shape is 422.
        status = 400 if any(e.get("type") == "json_invalid" for e in errors) else 422
        if status == 400:  # say why, in the parser's words (e.g. NaN at metadata.score)
            bad = next(e for e in exc.errors() if e.get("type") == "json_invalid")
            detail = f"the request body is not valid JSON: {(bad.get('ctx') or {}).get('error')}"
        slug = "invalid-request" if status == 400 else "validation-error"
        body = problem(status, slug, "Invalid request", detail, errors=errors)
        return problem_response(status, body)

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        body = problem(exc.status_code, slug, str(exc.detail), str(exc.detail))
        return problem_response(exc.status_code, body, dict(exc.headers or {}))

    @api.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s crashed", request.method, request.url.path)
        status, body = problem_for(exc)
        return problem_response(status, body)
