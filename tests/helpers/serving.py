"""A real uvicorn server on a free loopback port, in a background thread, for HTTP tests."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

import bosun
from bosun.server import ServerConfig, create_server
from bosun.server.auth import new_key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """A running server: its URL, and a way to run coroutines on its event loop."""

    def __init__(self, app: bosun.App, server: uvicorn.Server, url: str) -> None:
        self.app = app
        self.server = server
        self.url = url
        self.loop: asyncio.AbstractEventLoop | None = None

    def call(self, coro: Any) -> Any:
        """Run a coroutine on the server's loop (where the App is open) and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def key(self, tenant: str, *scopes: str) -> str:
        """Create an API key on the server's database; return the secret."""
        secret, record = new_key(tenant, list(scopes) or ["submit"])
        self.call(self.app.store.create_api_key(record))
        return secret

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


@contextmanager
def serve(app: bosun.App, config: ServerConfig) -> Iterator[Served]:
    port = free_port()
    # Idle connections stay open for the test's length: uvicorn's 5 s default closes one that
    # a module's client may be sending on at that instant ("Server disconnected without
    # sending a response"), which httpx does not retry.
    server = uvicorn.Server(
        uvicorn.Config(
            create_server(app, config),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_keep_alive=600,
        )
    )
    served = Served(app, server, f"http://127.0.0.1:{port}")

    def run() -> None:
        loop = asyncio.new_event_loop()
        served.loop = loop
        loop.run_until_complete(server.serve())
        loop.close()

    thread = threading.Thread(target=run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield served
    finally:
        server.should_exit = True
        thread.join(30)


@contextmanager
def serve_asgi(app: Any, name: str) -> Iterator[str]:
    """Serve an ASGI app (a fake vendor API) on a free loopback port, in a thread, until the
    block ends; yields its base URL. Idle connections stay open as in `serve`."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws="none",
        timeout_keep_alive=600,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
