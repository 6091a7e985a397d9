"""Shared rate limits' arithmetic: a `RateLimit`, the two token buckets kept for it in the
store, and how a request takes from them or hands back. Pure functions, shared by both store
connectors; the journaled operations on top are in `bosun.ratelimit`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bosun.errors import ConfigurationError

_SLACK = 1e-9  # float dust from refills must not deny a request that fits


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` calls and `tokens` tokens per `per` seconds, across all workers.

    Register it with `app.rate_limit(name, limit)`. Leave a dimension `None` to not limit it.
    The limit in code is the source of truth: the stored buckets follow it.
    """

    requests: int | None = None
    tokens: int | None = None
    per: float = 60.0

    def __post_init__(self) -> None:
        for field, value in (("requests", self.requests), ("tokens", self.tokens)):
            if value is not None and (type(value) is not int or value <= 0):
                raise ConfigurationError(
                    f"RateLimit({field}={value!r}): use a positive integer, or None for no limit"
                )
        if self.requests is None and self.tokens is None:
            raise ConfigurationError("RateLimit needs requests=…, tokens=… or both")
        if (
            isinstance(self.per, bool)
            or not isinstance(self.per, int | float)
            or not math.isfinite(self.per)
            or self.per <= 0
        ):
            raise ConfigurationError(
                f"RateLimit(per={self.per!r}): use a positive number of seconds"
            )


@dataclass(frozen=True)
class Reservation:
    """What `ctx.reserve` granted: pass it to `ctx.settle` with the real usage."""

    name: str
    tokens: int
    requests: int = 1


@dataclass(frozen=True)
class BucketState:
    """The stored levels of one name's buckets at `updated_at`.

    `None` where the limit has no such dimension (or the row predates it: it counts as full).
    A negative token level is debt, paid off by the refill.
    """

    requests: float | None
    tokens: float | None
    updated_at: float


# -- bucket arithmetic ------------------------------------------------------------------------


def _refilled(
    level: float | None, capacity: int | None, elapsed: float, per: float
) -> float | None:
    if capacity is None:
        return None
    if level is None:
        return float(capacity)
    return min(float(capacity), level + elapsed * capacity / per)


def refill(state: BucketState | None, limit: RateLimit, now: float) -> BucketState:
    """The buckets at `now` (a new name starts full). Time never runs backwards: a clock
    behind the last update refills nothing."""
    if state is None:
        return BucketState(
            _refilled(None, limit.requests, 0, limit.per),
            _refilled(None, limit.tokens, 0, limit.per),
            now,
        )
    at = max(now, state.updated_at)
    elapsed = at - state.updated_at
    return BucketState(
        _refilled(state.requests, limit.requests, elapsed, limit.per),
        _refilled(state.tokens, limit.tokens, elapsed, limit.per),
        at,
    )


def _wait(level: float | None, capacity: int | None, need: int, per: float) -> float:
    if capacity is None or level is None or need - level <= _SLACK:
        return 0.0
    return (need - level) * per / capacity


def take(
    state: BucketState | None, limit: RateLimit, requests: int, tokens: int, now: float
) -> tuple[BucketState, float]:
    """Refill, then take `requests` and `tokens` if both buckets hold enough.

    Returns the new state and 0 when granted, or the refilled state and the seconds until
    both buckets would hold enough.
    """
    full = refill(state, limit, now)
    wait = max(
        _wait(full.requests, limit.requests, requests, limit.per),
        _wait(full.tokens, limit.tokens, tokens, limit.per),
    )
    if wait > 0:
        return full, wait
    return (
        BucketState(
            None if full.requests is None else full.requests - requests,
            None if full.tokens is None else full.tokens - tokens,
            full.updated_at,
        ),
        0.0,
    )


def give_back(state: BucketState | None, limit: RateLimit, tokens: int, now: float) -> BucketState:
    """Refill, then return `tokens` to the token bucket (negative: take them, into debt)."""
    full = refill(state, limit, now)
    if full.tokens is None or limit.tokens is None:
        return full
    return BucketState(
        full.requests, min(float(limit.tokens), full.tokens + tokens), full.updated_at
    )


def check_demand(name: str, limit: RateLimit, requests: int, tokens: int) -> None:
    """Refuse a demand that is malformed or could never be granted."""
    if type(tokens) is not int or tokens < 0:
        raise ConfigurationError(f"reserve({name!r}, tokens={tokens!r}): use an integer ≥ 0")
    if type(requests) is not int or requests < 1:
        raise ConfigurationError(f"reserve({name!r}, requests={requests!r}): use an integer ≥ 1")
    for what, need, capacity in (
        ("tokens", tokens, limit.tokens),
        ("requests", requests, limit.requests),
    ):
        if capacity is not None and need > capacity:
            raise ConfigurationError(
                f"cannot reserve {need} {what} from rate limit {name!r}: it allows at most "
                f"{capacity} per {limit.per:g} s, so the reservation could never be granted. "
                f"Split the work, or raise the limit"
            )


# -- journaled operations ---------------------------------------------------------------------
