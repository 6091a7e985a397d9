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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bosun.errors import ConfigurationError

DEFAULT_GRACE = 30.0
BUDGET_SHARE = 0.25  # by default at most this share of a short budget goes to the drain


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


def stop_near_budget(
    max_seconds: float | None, grace: float, request_stop: Callable[[], None]
) -> asyncio.TimerHandle | None:
    """Make a worker with `max_seconds` stop claiming (`request_stop`) `grace` seconds before
    its budget ends.

    Returns the timer (cancel it if the worker stops first), or None without a budget.
    """
    if max_seconds is None:
        return None
    stop_in = max(max_seconds - grace, 0.0)
    return asyncio.get_running_loop().call_later(stop_in, request_stop)
