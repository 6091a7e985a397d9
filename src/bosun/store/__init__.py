"""Stores: the database URL picks the connector."""

from __future__ import annotations

from urllib.parse import urlsplit

from bosun.errors import ConfigurationError
from bosun.store.base import Store


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


__all__ = ["Store", "store_for_url"]
