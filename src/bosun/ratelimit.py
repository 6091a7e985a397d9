"""Shared rate limits: token buckets kept in the database, reserved and settled by workflows.

A `RateLimit` caps requests and/or tokens per `per` seconds under a name, such as an LLM
model. Each name has one row in the store with two buckets (requests, tokens), refilled
continuously at `capacity / per`. `ctx.reserve(name, tokens=estimate)` takes one request and
the estimated tokens in one transaction, so every worker sharing the database sees the same
buckets; when they hold too little the run suspends, holding no worker, until they would hold
enough, then tries again. `ctx.settle(reservation, tokens=actual)` hands back the unused part
of the estimate, or takes the excess, which may leave the token bucket in debt.

A grant and its journal entry commit together, fenced by the run's lease: replay, crashes and
takeovers never reserve or settle twice. A full bucket lets `capacity` through at once, then
the refill rate: over any `w` seconds at most `capacity * (1 + w / per)` are granted.

This module holds the bucket arithmetic (pure, shared by the connectors) and the journaled
operations behind `Context.reserve` and `Context.settle`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from bosun.engine.control import Abandon, Suspend
from bosun.errors import ConfigurationError, StoreError
from bosun.store.records import JournalEntry

if TYPE_CHECKING:
    from bosun.engine.execution import Execution

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


def _limit(execution: Execution, name: str) -> RateLimit:
    try:
        return execution.env.rate_limits[name]
    except KeyError:
        known = ", ".join(sorted(execution.env.rate_limits)) or "none"
        raise ConfigurationError(
            f"no rate limit named {name!r} is registered (known: {known}); register it with "
            f"app.rate_limit({name!r}, bosun.RateLimit(...))"
        ) from None


async def reserve(execution: Execution, name: str, tokens: int, requests: int = 1) -> Reservation:
    """Take `requests` and `tokens` from the named limit, suspending the run until it can."""
    limit = _limit(execution, name)
    check_demand(name, limit, requests, tokens)
    seq, entry = execution._position("reserve", name)
    if entry is not None and entry.status == "completed":
        return Reservation(**json.loads(entry.output or "{}"))
    reservation = Reservation(name, tokens, requests)
    attempt = 1 if entry is None else entry.attempt + 1
    await execution.flush()  # keep the journal in order: what came before is written first
    now = time.time()
    started = now if entry is None or entry.started_at is None else entry.started_at
    granted = JournalEntry(
        seq,
        "reserve",
        name,
        "completed",
        output=json.dumps(asdict(reservation)),
        attempt=attempt,
        started_at=started,
        finished_at=now,
    )
    try:
        wait = await execution.env.store.reserve_rate(
            name, limit, requests, tokens, lease=execution.lease, entry=granted
        )
    except StoreError as exc:  # lease lost or database away: resume from the journal later
        raise Abandon(exc) from exc
    if wait <= 0:
        return reservation
    wake_at = now + wait
    execution.record(
        JournalEntry(
            seq, "reserve", name, "waiting", attempt=attempt, started_at=started, wake_at=wake_at
        )
    )
    raise Suspend(wake_at)


async def settle(execution: Execution, reservation: Reservation, tokens: int) -> None:
    """Record the real usage of a reservation: return the unused estimate, or take the excess."""
    if not isinstance(reservation, Reservation):
        raise ConfigurationError(
            f"settle() takes the Reservation ctx.reserve returned, got {reservation!r}"
        )
    if type(tokens) is not int or tokens < 0:
        raise ConfigurationError(
            f"settle({reservation.name!r}, tokens={tokens!r}): use an integer ≥ 0"
        )
    limit = _limit(execution, reservation.name)
    seq, entry = execution._position("settle", reservation.name)
    if entry is not None:
        return
    await execution.flush()
    now = time.time()
    done = JournalEntry(
        seq,
        "settle",
        reservation.name,
        "completed",
        output=json.dumps({"reserved": reservation.tokens, "used": tokens}),
        started_at=now,
        finished_at=now,
    )
    try:
        await execution.env.store.settle_rate(
            reservation.name, limit, reservation.tokens - tokens, lease=execution.lease, entry=done
        )
    except StoreError as exc:
        raise Abandon(exc) from exc
