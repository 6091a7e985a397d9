"""Per-API-key limits of one server process: a request rate and a number of open streams.

`RequestRateLimiter` is a token bucket per key: it holds up to `burst` tokens, refills at
`rate` per second, and each request takes one. Over any `w` seconds a key gets at most
`burst + rate * w` requests. A full bucket is the same as no bucket, so idle keys are
forgotten when the table grows past `max_keys`; memory stays bounded whatever keys arrive.

`StreamSlots` counts the Server-Sent Event streams each key holds open.

Both live in memory and count per process, as the API documents; nothing here does I/O.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bosun.errors import ConfigurationError, RateLimited

__all__ = ["RequestRateLimiter", "StreamSlots"]

_SLACK = 1e-9  # float dust from refills must not refuse a request that fits


@dataclass(slots=True)
class _Bucket:
    level: float
    updated: float


class RequestRateLimiter:
    """A token bucket per key: `burst` requests at once, then `rate` per second.

    Args:
        rate: tokens added per second; `0` or less means no limit.
        burst: the bucket's capacity, at least 1 when `rate` is positive.
        clock: seconds from a monotonic clock; injectable for tests.
        max_keys: how many buckets to keep; past it, full buckets are forgotten first, else
            the least recently used one.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_keys: int = 100_000,
    ) -> None:
        if not math.isfinite(rate):
            raise ConfigurationError(f"rate limit {rate!r}: use a finite number per second")
        if rate > 0 and not (math.isfinite(burst) and burst >= 1):
            raise ConfigurationError(
                f"rate limit burst {burst!r}: use a finite number >= 1, or no request could pass"
            )
        if max_keys < 1:
            raise ConfigurationError(f"max_keys={max_keys!r}: use a positive integer")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: str) -> float | None:
        """Take a token for `key` if it has one.

        Returns:
            `None` when the request may go ahead, or the seconds until it would (for a
            `Retry-After` header); a refused request takes nothing.
        """
        if self.rate <= 0:
            return None
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        else:
            self._refill(bucket, now)
            self._buckets.move_to_end(key)
        if bucket.level >= 1 - _SLACK:
            bucket.level = max(0.0, bucket.level - 1)
            return None
        return (1 - bucket.level) / self.rate

    def _refill(self, bucket: _Bucket, now: float) -> None:
        elapsed = max(0.0, now - bucket.updated)  # a clock that steps back refills nothing
        bucket.level = min(self.burst, bucket.level + elapsed * self.rate)
        bucket.updated = max(now, bucket.updated)

    def _is_full(self, bucket: _Bucket, now: float) -> bool:
        return bucket.level + max(0.0, now - bucket.updated) * self.rate >= self.burst - _SLACK

    def _make_room(self, now: float) -> None:
        """Forget buckets until one more fits: the full ones at the least recently used end
        (losing nothing), else the least recently used one (its key gets a fresh burst)."""
        if len(self._buckets) < self.max_keys:
            return
        # Checking from the least recently used end finds full buckets first and stops at
        # the first busy one, so each call costs O(1) amortised.
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if not self._is_full(oldest, now):
                break
            self._buckets.popitem(last=False)
        if len(self._buckets) >= self.max_keys:
            self._buckets.popitem(last=False)


class StreamSlots:
    """How many streams each key holds open, at most `limit` at a time.

    Args:
        limit: open streams allowed per key; `0` or less means no limit.
        retry_after: the seconds `hold` suggests waiting when a key has none left.
    """

    def __init__(self, limit: int, *, retry_after: float = 5.0) -> None:
        self.limit = limit
        self.retry_after = retry_after
        self._open: dict[str, int] = {}

    def active(self, key: str) -> int:
        """How many streams `key` holds open."""
        return self._open.get(key, 0)

    def acquire(self, key: str) -> bool:
        """Take a slot for `key`: `True` if it had one left (release it later), else `False`."""
        held = self._open.get(key, 0)
        if 0 < self.limit <= held:
            return False
        self._open[key] = held + 1
        return True

    def release(self, key: str) -> None:
        """Give back a slot that `acquire` granted to `key`."""
        held = self._open.get(key, 0)
        if held <= 0:
            raise RuntimeError(f"StreamSlots.release({key!r}) without a matching acquire")
        if held == 1:
            del self._open[key]  # keys with nothing open take no memory
        else:
            self._open[key] = held - 1

    def take(self, key: str) -> None:
        """Take a slot for `key` (give it back with `release`).

        Raises:
            RateLimited: `key` already holds `limit` streams (HTTP 429 with `Retry-After`).
        """
        if not self.acquire(key):
            raise RateLimited(
                f"this API key already has {self.limit} event streams open, the most one server "
                f"allows; close one, or retry in {self.retry_after:g} s",
                retry_after=self.retry_after,
            )

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Hold a slot for the `with` block, in sync or async code alike (see `take`)."""
        self.take(key)
        try:
            yield
        finally:
            self.release(key)
