"""Shared rate limits on PostgreSQL (see `bosun.ratelimit`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from bosun.buckets import BucketState, RateLimit, give_back, take
from bosun.records import JournalEntry, Lease
from bosun.store.postgres.io import Conn, Q, T, fence
from bosun.store.rows import entry_params


class PostgresRateLimits:
    """The rate-limit operations of `PostgresStore`."""

    async def _run(self, op: Callable[[Conn], Awaitable[T]], *, idempotent: bool = False) -> T:
        raise NotImplementedError

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
        # The upsert locks the limit's row until commit: concurrent reservations queue on it.
        async def op(conn: Conn) -> float:
            async with conn.transaction():
                await fence(conn, lease)
                state, at = await _rate_buckets(conn, name, limit, now)
                state, wait = take(state, limit, requests, tokens, at)
                if wait > 0:
                    return wait
                await _save_rate_buckets(conn, name, state, lease, entry)
                return 0.0

        return await self._run(op)

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
        async def op(conn: Conn) -> None:
            async with conn.transaction():
                await fence(conn, lease)
                state, at = await _rate_buckets(conn, name, limit, now)
                state = give_back(state, limit, tokens, at)
                await _save_rate_buckets(conn, name, state, lease, entry)

        await self._run(op)

    async def get_rate_buckets(self, name: str) -> BucketState | None:
        async def op(conn: Conn) -> BucketState | None:
            row = await (await conn.execute(Q["get_rate_buckets"], {"name": name})).fetchone()
            return None if row is None else BucketState(**row)

        return await self._run(op)


async def _rate_buckets(
    conn: Conn, name: str, limit: RateLimit, now: float | None
) -> tuple[BucketState, float]:
    """Copy the limit in, lock its row; return the stored buckets and the time to use."""
    params = {
        "name": name,
        "request_capacity": limit.requests,
        "token_capacity": limit.tokens,
        "per": limit.per,
        "now": now,
    }
    row = await (await conn.execute(Q["upsert_rate_limit"], params)).fetchone()
    assert row is not None
    return BucketState(row["requests"], row["tokens"], row["updated_at"]), float(row["now"])


async def _save_rate_buckets(
    conn: Conn,
    name: str,
    state: BucketState,
    lease: Lease | None,
    entry: JournalEntry | None,
) -> None:
    await conn.execute(Q["save_rate_buckets"], dataclasses.asdict(state) | {"name": name})
    if lease is not None and entry is not None:
        # The entry's finish time is the bucket's: grants then read in the order they took.
        entry = dataclasses.replace(entry, finished_at=state.updated_at)
        await conn.execute(
            Q["upsert_journal_entry"], entry_params(entry) | {"run_id": lease.run_id}
        )
