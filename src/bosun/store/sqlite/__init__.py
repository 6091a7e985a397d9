"""The SQLite connector: stdlib sqlite3 in WAL mode, one group-committing writer.

`SqliteStore` (in `store.py`) is the connector; its concerns live in modules of their own
(`schedules.py`, `sessions.py`, `memories.py`, …) mixed into it, and the connections, the
writer thread and the migrations in `io.py`. `SqliteConfig` is what a `sqlite:///` URL says
(the file's path and the connection settings). Only this package imports `sqlite3`.
"""

from __future__ import annotations

from bosun.store.sqlite.io import SqliteConfig
from bosun.store.sqlite.store import SqliteStore

__all__ = ["SqliteConfig", "SqliteStore"]
