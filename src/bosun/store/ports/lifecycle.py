"""Opening and closing a store, and the schema version it migrates to."""

from __future__ import annotations

from typing import Protocol


class LifecycleStore(Protocol):
    """A connection to one database, opened before use and closed after."""

    url: str
    schema_latest: int  # the schema version this code migrates to

    async def open(self) -> None:
        """Connect and apply pending migrations; refuse a schema newer than the code."""

    async def close(self) -> None:
        """Release connections and threads."""

    async def schema_version(self) -> int:
        """The migration version the database is at."""
