"""`bosun server` and `bosun dev`: serving the HTTP API (and, with dev, the UI and a worker)."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from bosun import settings
from bosun.cli.common import (
    AppRef,
    DatabaseOpt,
    LogFormatOpt,
    MetricsTokenOpt,
    fail,
    load_app,
    out,
    run_async,
    setup_logging,
    with_store,
)
from bosun.store import Store

HostOpt = Annotated[str, typer.Option("--host", help="Address to listen on.")]
PortOpt = Annotated[
    int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free one).")
]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(host: str, port: int) -> socket.socket:
    """Bind the server's socket before anything is printed, so a busy port is a clear error
    rather than a banner followed by uvicorn's `address already in use`."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        fail(f"--host {host}: {exc.strerror}", 2)
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        fail(
            f"cannot listen on {host}:{port}: {exc.strerror}. Another process (a `bosun dev` "
            "still running?) may hold it: pass --port with another port, or --port 0 to take "
            "any free one.",
            2,
        )
    return sock


def _serve(app_ref: str, database: str | None, sock: socket.socket, config: Any) -> None:
    import uvicorn

    from bosun.server import create_server

    app = load_app(app_ref)
    if database:
        app.use_database(database)
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(
        uvicorn.Config(
            create_server(app, config),
            host=host,
            port=port,
            log_level=settings.log_level().lower(),
            log_config=None,  # uvicorn's records go through bosun's handler (JSON or text)
            lifespan="on",
            timeout_graceful_shutdown=35,
        )
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again under the
    # handlers it found; with these, that ends the process with 0 like `bosun worker` does.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_after_drain)
    server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(1)


def _exit_after_drain(signum: int, frame: object) -> None:
    raise SystemExit(0)


def server(
    app_ref: AppRef,
    database: DatabaseOpt = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    no_auth: Annotated[
        bool,
        typer.Option("--no-auth", help="Serve without API keys (loopback addresses only)."),
    ] = False,
    worker_slots: Annotated[
        int, typer.Option("--worker-slots", help="Also run a worker with this many slots.")
    ] = 0,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", help="Largest request body accepted.")
    ] = 8 * 1024 * 1024,
    rate_limit: Annotated[
        float, typer.Option("--rate-limit", help="Requests per second per API key (0: off).")
    ] = 50.0,
    max_streams: Annotated[
        int, typer.Option("--max-streams", help="Open event streams per API key (0: off).")
    ] = 100,
    metrics_token: MetricsTokenOpt = None,
    log_format: LogFormatOpt = "auto",
) -> None:
    """Serve the HTTP API (/v1, SSE, /healthz, /readyz, /metrics, /openapi.json) for the App."""
    from bosun.server import ServerConfig

    setup_logging(log_format)
    if no_auth and not _is_loopback(host):
        fail(
            f"--no-auth serves everyone as the default tenant; it is only allowed on a loopback "
            f"address, not {host}. Create a key with `bosun keys create --tenant NAME` instead.",
            2,
        )
    sock = _listen(host, port)
    config = ServerConfig(
        auth=not no_auth,
        worker_concurrency=worker_slots,
        max_body_bytes=max_body_bytes,
        rate_limit=rate_limit,
        max_streams=max_streams,
        metrics_token=metrics_token,
    )
    _serve(app_ref, database, sock, config)


def dev(
    app_ref: AppRef,
    database: DatabaseOpt = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    concurrency: Annotated[
        int, typer.Option("--concurrency", help="Worker slots in this process.")
    ] = 16,
    log_format: LogFormatOpt = "text",
) -> None:
    """Run everything in one process: API, UI and a worker, on the embedded SQLite store.

    Prints the URL and an API key (kept in .bosun/dev-key and reused while it is valid).
    """
    from bosun.server import ServerConfig
    from bosun.server.ui.access import login_link

    setup_logging(log_format)
    url = database or settings.database_url()
    sock = _listen(host, port)
    key = run_async(lambda: with_store(url, _dev_key, create=True))
    base = f"http://{host}:{sock.getsockname()[1]}"
    shown = settings.redacted(url)
    out.print(f"bosun dev: serving {app_ref} at [bold]{base}[/bold] (database {shown})")
    out.print(f"API key:   [bold]{key}[/bold]")
    out.print(f"Web UI:    {login_link(base, key)}", soft_wrap=True)
    out.print(
        f"Try:       curl -H 'Authorization: Bearer {key}' {base}/v1/workflows", soft_wrap=True
    )
    config = ServerConfig(worker_concurrency=concurrency, rate_limit=0)
    _serve(app_ref, url, sock, config)


async def _dev_key(store: Store) -> str:
    """The development key: the one saved in .bosun/dev-key if it still works, else a new
    admin key for the default tenant, saved there (readable by this user only)."""
    from bosun.server.auth import new_key

    path = Path(".bosun") / "dev-key"
    if path.exists():
        saved = path.read_text().strip()
        parts = saved.split("_")
        if len(parts) >= 3:
            record = await store.get_api_key(parts[1])
            if record is not None and record.revoked_at is None:
                return saved
    key, record = new_key("default", ["admin"], name="bosun dev")
    await store.create_api_key(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
