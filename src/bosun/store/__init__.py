"""Stores: the ports (`bosun.store.ports`), the `Store` combining them, and the database URL
that picks the connector (`bosun.store.sqlite`, `bosun.store.postgres`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from bosun.errors import ConfigurationError
from bosun.store.base import Store
from bosun.store.ports import (
    ApiKeyStore,
    EventStore,
    LifecycleStore,
    MemoryStore,
    QueueStore,
    RateLimitStore,
    RunStore,
    ScheduleStore,
    SessionStore,
    UsageStore,
    WorkerStore,
    WorkloadStore,
)


def store_for_url(url: str) -> Store:
    """A (not yet opened) store for `sqlite:///…` or `postgresql://…`."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from bosun.store.sqlite import SqliteStore

        return SqliteStore(url)
    if scheme in ("postgresql", "postgres"):
        from bosun.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ConfigurationError(
        f"unsupported database URL {url!r}: use sqlite:///path.db or postgresql://…"
    )


__all__ = [
    "ApiKeyStore",
    "EventStore",
    "LifecycleStore",
    "MemoryStore",
    "QueueStore",
    "RateLimitStore",
    "RunStore",
    "ScheduleStore",
    "SessionStore",
    "Store",
    "UsageStore",
    "WorkerStore",
    "WorkloadStore",
    "store_for_url",
]
