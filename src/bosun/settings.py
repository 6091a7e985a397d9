"""Settings read from the environment. Only the App's defaults and the CLI read it."""

from __future__ import annotations

import os

DEFAULT_DATABASE_URL = "sqlite:///.bosun/bosun.db"

ENVIRONMENT = {
    "BOSUN_DATABASE_URL": f"database URL (default {DEFAULT_DATABASE_URL}); "
    "sqlite:///path.db or postgresql://…",
    "BOSUN_LOG_LEVEL": "log level of the CLI and worker (default INFO)",
}


def database_url() -> str:
    """The database URL from BOSUN_DATABASE_URL, or the embedded SQLite default."""
    return os.environ.get("BOSUN_DATABASE_URL") or DEFAULT_DATABASE_URL


def log_level() -> str:
    return os.environ.get("BOSUN_LOG_LEVEL", "INFO").upper()
