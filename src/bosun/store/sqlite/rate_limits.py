"""Shared rate limits on SQLite (see `bosun.ratelimit`)."""

from __future__ import annotations

import dataclasses
import sqlite3
import time

from bosun.buckets import BucketState, RateLimit, give_back, take
from bosun.records import JournalEntry, Lease
from bosun.store.sqlite.io import GroupCommitWriter, Q, Reader, fence, journal_params


class SqliteRateLimits:
    """The rate-limit operations of `SqliteStore`."""

    _writer: GroupCommitWriter
    _reader: Reader

    async def reserve_rate(
        self,
        name: str,
        limit: RateLimit,
        requests: int,
        tokens: int,
        *,
        now: float | None = None,
        lease: Lease | None = None,
        entry: JournalEntry | None = None,
    ) -> float:
        # The writer's transaction (BEGIN IMMEDIATE) holds the database's write lock, so no
        # other process can move the buckets between the read and the write.
        def op(conn: sqlite3.Connection) -> float:
            at = time.time() if now is None else now
            fence(conn, lease)
            state, wait = take(_rate_buckets(conn, name, limit, at), limit, requests, tokens, at)
            if wait > 0:
                return wait
            _save_rate_buckets(conn, name, state, lease, entry)
            return 0.0

        return await self._writer.submit(op)

    async def settle_rate(
        self,
        name: str,
        limit: RateLimit,
        tokens: int,
        *,
        now: float | None = None,
        lease: Lease | None = None,
        entry: JournalEntry | None = None,
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            at = time.time() if now is None else now
            fence(conn, lease)
            state = give_back(_rate_buckets(conn, name, limit, at), limit, tokens, at)
            _save_rate_buckets(conn, name, state, lease, entry)

        await self._writer.submit(op)

    async def get_rate_buckets(self, name: str) -> BucketState | None:
        def op(conn: sqlite3.Connection) -> BucketState | None:
            row = conn.execute(Q["get_rate_buckets"], {"name": name}).fetchone()
            return None if row is None else BucketState(*row)

        return self._reader.call(op)


def _rate_buckets(conn: sqlite3.Connection, name: str, limit: RateLimit, now: float) -> BucketState:
    params = {
        "name": name,
        "request_capacity": limit.requests,
        "token_capacity": limit.tokens,
        "per": limit.per,
        "now": now,
    }
    return BucketState(*conn.execute(Q["upsert_rate_limit"], params).fetchone())


def _save_rate_buckets(
    conn: sqlite3.Connection,
    name: str,
    state: BucketState,
    lease: Lease | None,
    entry: JournalEntry | None,
) -> None:
    params = dataclasses.asdict(state) | {"name": name}
    conn.execute(Q["save_rate_buckets"], params)
    if lease is not None and entry is not None:
        # The entry's finish time is the bucket's: grants then read in the order they took.
        entry = dataclasses.replace(entry, finished_at=state.updated_at)
        conn.execute(Q["upsert_journal"], journal_params(lease.run_id, entry))
