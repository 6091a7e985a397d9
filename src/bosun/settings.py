"""Settings read from the environment. Only the App's defaults and the CLI read it."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "sqlite:///.bosun/bosun.db"

ENVIRONMENT = {
    "BOSUN_DATABASE_URL": f"database URL (default {DEFAULT_DATABASE_URL}); "
    "sqlite:///path.db or postgresql://…",
    "BOSUN_LOG_LEVEL": "log level of the CLI and worker (default INFO)",
    "BOSUN_WEBHOOK_SECRET": "key that signs outbound webhooks (HMAC-SHA256); unset: unsigned",
    "BOSUN_URL": "URL of a bosun server, for `bosun run` and `bosun runs` over HTTP",
    "BOSUN_API_KEY": "API key for BOSUN_URL",
    "BOSUN_SANDBOX": "sandbox backend for untrusted tool code: auto (default), bubblewrap, "
    "landlock, or none (no isolation; logged loudly)",
    "BOSUN_METRICS_TOKEN": "bearer token that /metrics requires (server and worker); unset: open",
    "BOSUN_EXIT_TIMEOUT": "seconds a stopped `bosun worker` waits for its process to exit (store "
    "closed, threads the app started) before it exits anyway, logging their stacks (default 30)",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "send OpenTelemetry traces there (needs bosun[otel]); the "
    "other OTEL_* variables apply too (docs/observability.md)",
}


def database_url() -> str:
    """The database URL from BOSUN_DATABASE_URL, or the embedded SQLite default."""
    return os.environ.get("BOSUN_DATABASE_URL") or DEFAULT_DATABASE_URL


def redacted(url: str) -> str:
    """`url` fit for a log line or a terminal: its password (in the netloc, or a `password=`
    query parameter) shown as `***`."""
    parts = urlsplit(url)
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        url = url.replace(parts.netloc, f"{user.split(':', 1)[0]}:***@{host}", 1)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url)


def log_level() -> str:
    return os.environ.get("BOSUN_LOG_LEVEL", "INFO").upper()


def exit_timeout() -> float:
    """BOSUN_EXIT_TIMEOUT as seconds (default 30); ValueError names a bad value."""
    raw = os.environ.get("BOSUN_EXIT_TIMEOUT", "").strip() or "30"
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ValueError(f"BOSUN_EXIT_TIMEOUT must be a positive number of seconds, not {raw!r}")
    return seconds


def webhook_secret() -> str | None:
    return os.environ.get("BOSUN_WEBHOOK_SECRET") or None


def webhook_allow() -> tuple[str, ...]:
    """Hosts and networks webhooks may reach although private (comma-separated)."""
    raw = os.environ.get("BOSUN_WEBHOOK_ALLOW", "")
    return tuple(entry.strip() for entry in raw.split(",") if entry.strip())
