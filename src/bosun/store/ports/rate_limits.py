"""Rate limits: token buckets shared by every process on the database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bosun.records import JournalEntry, Lease

if TYPE_CHECKING:
    from bosun.buckets import BucketState, RateLimit


class RateLimitStore(Protocol):
    """Reserves and settles requests and tokens against named buckets."""

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
        """Refill the named buckets, then take `requests` and `tokens` if both hold enough.

        Atomic across every process sharing the database; `limit` (from the code) replaces
        the stored one. Returns 0 when granted, else the seconds until both buckets would
        hold enough (nothing taken). With `lease`, a grant also writes `entry` to that run's
        journal in the same transaction, its `finished_at` set to the grant's time on the
        buckets' clock; `LeaseLost` (nothing written) if the lease is gone. `now` defaults
        to the database's clock.
        """

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
        """Refill, then give `tokens` back to the token bucket (negative: take more, into
        debt); with `lease`, fenced and journaled like `reserve_rate`."""

    async def get_rate_buckets(self, name: str) -> BucketState | None:
        """The stored (not refilled) buckets of a rate limit, or None if never used."""
