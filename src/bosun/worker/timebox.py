"""Drain mode: a worker with a time budget, for serverless functions and scheduled jobs.

A worker given `max_seconds` (`bosun worker APP --until-idle --max-seconds N`, or the Lambda
handler) must be gone before its platform kills it, so it splits the budget in two:

```
0 ──────── claim and execute ──────── N - grace ──── steps in flight finish ──── N
                                      stop claiming                               cut short,
                                      (runs go back at their next step boundary)  hand back
```

At `N - grace` it stops claiming; each run it holds goes back to the queue as soon as its step
in flight is journaled. A step still running at `N` is abandoned and its run handed back at
once (its lease released, so the next invocation resumes it by replay without waiting for
the lease to expire); the step runs again there, since steps run at least once. With
`until_idle` the worker also stops early once nothing is ready and nothing runs.

What comes after `N` is bounded too: a claim still in flight, the hand-back and the removal of
the worker's registry entry get at most HANDBACK_WAIT seconds past `N` together (a database
out of reach would otherwise make each wait for its connection timeout); runs it could not
hand back resume once their leases expire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bosun.errors import ConfigurationError

DEFAULT_GRACE = 30.0
BUDGET_SHARE = 0.25  # by default at most this share of a short budget goes to the drain
# Past the budget's end, the most a worker spends handing its runs back and removing its
# registry entry: with the database out of reach each store call would otherwise wait for its
# connection timeout, and the platform's kill would come first.
HANDBACK_WAIT = 2.0
MIN_CLOSING_WAIT = 0.2


def drain_grace(max_seconds: float, grace: float | None = None) -> float:
    """The grace period of a worker with a time budget: given, or min(30 s, a quarter of it).

    Raises:
        ConfigurationError: the budget is not positive, or the grace does not fit in it.
    """
    if max_seconds <= 0:
        raise ConfigurationError(f"--max-seconds must be positive, got {max_seconds:g}")
    if grace is None:
        return min(DEFAULT_GRACE, max_seconds * BUDGET_SHARE)
    if grace < 0 or grace >= max_seconds:
        raise ConfigurationError(
            f"--grace {grace:g} must be at least 0 and shorter than --max-seconds "
            f"{max_seconds:g}: the worker stops claiming `grace` seconds before its budget "
            "ends (leave --grace out for min(30, max-seconds / 4))"
        )
    return grace


def worker_grace(grace: float | None, max_seconds: float | None) -> float:
    """A worker's grace period: `grace` if given, else 30 s, or `drain_grace` with a budget."""
    if max_seconds is not None:
        return drain_grace(max_seconds, grace)
    return DEFAULT_GRACE if grace is None else grace


def budget_end(max_seconds: float | None) -> float | None:
    """The event loop's time at which a budget of `max_seconds` counted from now ends (None
    without a budget)."""
    if max_seconds is None:
        return None
    return asyncio.get_running_loop().time() + max_seconds


def stop_near_budget(
    end: float | None, grace: float, request_stop: Callable[[], None]
) -> asyncio.TimerHandle | None:
    """Make a worker whose budget ends at `end` (loop time) stop claiming (`request_stop`)
    `grace` seconds before that.

    Returns the timer (cancel it if the worker stops first), or None without a budget.
    """
    if end is None:
        return None
    return asyncio.get_running_loop().call_at(end - grace, request_stop)


def drain_wait(end: float | None, grace: float) -> float:
    """How long a stopping worker lets its runs finish: `grace`, but never past the budget's
    end (a stop that came late, after a slow claim, still ends at `N`)."""
    if end is None:
        return grace
    return max(0.0, min(grace, end - asyncio.get_running_loop().time()))


def closing_wait(end: float | None, unbounded: float) -> float:
    """How long one step of a stopping worker's exit (an in-flight claim, the hand-back, the
    registry entry's removal) may still take: `unbounded` without a budget; with one, what is
    left until HANDBACK_WAIT past its end, and never less than MIN_CLOSING_WAIT (a cancelled
    task needs a turn of the loop to end)."""
    if end is None:
        return unbounded
    left = end + HANDBACK_WAIT - asyncio.get_running_loop().time()
    return max(MIN_CLOSING_WAIT, left)
