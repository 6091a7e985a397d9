"""The PostgreSQL connector: psycopg 3 async with a pool, SKIP LOCKED claims, LISTEN/NOTIFY.

`PostgresStore` (in `store.py`) is the connector; its concerns live in modules of their own
(`schedules.py`, `sessions.py`, `memories.py`, …) mixed into it, the pool, URL handling,
migrations and SQL functions in `io.py`, and the batching of workers' writes in
`progress.py`. Only this package imports `psycopg` and `psycopg_pool`.
"""

from __future__ import annotations

from bosun.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
