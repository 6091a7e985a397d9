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

This module holds the journaled operations behind `Context.reserve` and `Context.settle`; the
bucket arithmetic, pure and shared by the store connectors, is `bosun.buckets`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from bosun.buckets import RateLimit, Reservation, check_demand
from bosun.engine.control import Abandon, Suspend
from bosun.errors import ConfigurationError, StoreError
from bosun.records import JournalEntry

if TYPE_CHECKING:
    from bosun.engine.execution import Execution


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
