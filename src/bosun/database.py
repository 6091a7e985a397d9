"""`Database`: the store an App opens on first use, picked by its URL (`sqlite:///…` or
`postgresql://…`). The services an App wires take it as a `bosun.hosts.StoreHost`."""

from __future__ import annotations

import asyncio

from bosun.errors import ConfigurationError, StoreError
from bosun.store import Store, store_for_url


class Database:
    """One database URL and, once opened, its store (migrated on open)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._store: Store | None = None
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str:
        return self._url

    @property
    def store(self) -> Store:
        if self._store is None:
            raise StoreError("the app is not open: use `async with app:` or `await app.open()`")
        return self._store

    def use(self, url: str) -> None:
        """Point a not-yet-open database at another URL (the CLI's --database)."""
        if self._store is not None:
            raise ConfigurationError("cannot change the database of an open app")
        self._url = url

    async def open(self) -> None:
        """Connect and apply migrations (idempotent)."""
        if self._store is not None:  # every start/result/status calls this: no lock then
            return
        async with self._lock:
            if self._store is None:
                store = store_for_url(self._url)
                await store.open()
                self._store = store

    async def close(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await store.close()
