"""The local autoscaler's decisions, as pure functions of queue load, size and time.

Desired workers = clamp(ceil(runnable / concurrency), MIN, MAX), where `runnable` is the
in-flight runs plus the ready runs flow control admits now (`ready + in_flight` without queue
limits or concurrency keys: a queue limited to 2 running runs wants 2 runs' worth of workers,
however many wait), plus one more than now whenever the oldest ready run has waited longer than
`scale_up_age` while some ready run is admitted (the count says there are enough workers, but
work still waits: add capacity a step at a time). Scaling up happens at once; scaling down
only once the desired size has stayed below the current one for `cooldown` seconds, so a pause
between bursts does not drain warm workers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from bosun.errors import ConfigurationError
from bosun.records import QueueStats

RESTART_BACKOFF = 0.5  # seconds before restarting a crashed worker, doubling per crash
RESTART_BACKOFF_MAX = 30.0


@dataclass(frozen=True)
class ScalePolicy:
    """How many worker processes to run for a load.

    Args:
        minimum: processes kept even when idle (0: scale to zero).
        maximum: processes at most.
        concurrency: runs each process executes at once.
        cooldown: seconds the load must stay below the current size before scaling down.
        scale_up_age: seconds the oldest ready run may wait before one more process starts.
    """

    minimum: int
    maximum: int
    concurrency: int = 16
    cooldown: float = 60.0
    scale_up_age: float = 30.0

    def __post_init__(self) -> None:
        if not 0 <= self.minimum <= self.maximum or self.maximum < 1:
            raise ConfigurationError(
                f"--autoscale {self.minimum}:{self.maximum}: give MIN:MAX with "
                "0 <= MIN <= MAX and MAX >= 1, e.g. --autoscale 1:8"
            )
        if self.concurrency < 1:
            raise ConfigurationError("--concurrency must be at least 1")
        if self.cooldown < 0 or self.scale_up_age < 0:
            raise ConfigurationError("--cooldown and --scale-up-age must not be negative")

    @staticmethod
    def parse_range(spec: str) -> tuple[int, int]:
        """`"1:8"` → (1, 8); a bad spec raises ConfigurationError saying what to write."""
        low, sep, high = spec.partition(":")
        try:
            if not sep:
                raise ValueError(spec)
            return int(low), int(high)
        except ValueError:
            raise ConfigurationError(
                f"--autoscale {spec!r}: give MIN:MAX worker processes, e.g. --autoscale 1:8"
            ) from None


@dataclass(frozen=True)
class Load:
    """The load of the queues a pool serves: what it scales on.

    `runnable`: the in-flight runs plus the ready runs flow control admits now (None: not
    counted, taken as `ready + in_flight`).
    """

    ready: int = 0
    in_flight: int = 0
    oldest_ready_age: float = 0.0
    runnable: int | None = None

    @property
    def demand(self) -> int:
        """The runs the pool has work for: `runnable`, else `ready + in_flight`."""
        return self.ready + self.in_flight if self.runnable is None else self.runnable

    @classmethod
    def of(cls, stats: Iterable[QueueStats], queues: Iterable[str]) -> Load:
        """Sum the stats of `queues` (the oldest ready age is the largest of them)."""
        served = set(queues)
        mine = [s for s in stats if s.queue in served]
        return cls(
            ready=sum(s.ready for s in mine),
            in_flight=sum(s.in_flight for s in mine),
            oldest_ready_age=max((s.oldest_ready_age for s in mine if s.ready), default=0.0),
            runnable=sum(s.demand for s in mine),
        )


@dataclass(frozen=True)
class ScaleState:
    """The size the supervisor keeps, and since when the load has wanted fewer (or None)."""

    target: int
    below_since: float | None = None


def desired_workers(policy: ScalePolicy, load: Load, current: int) -> int:
    """How many processes `load` calls for, given `current` of them."""
    wanted = math.ceil(load.demand / policy.concurrency)
    # Old ready work adds a worker only while some ready run may start: runs held back by a
    # queue limit or a concurrency key age without any worker being able to take them.
    admitted = load.demand > load.in_flight
    if load.ready and admitted and load.oldest_ready_age > policy.scale_up_age:
        wanted = max(wanted, current + 1)
    return min(max(wanted, policy.minimum), policy.maximum)


def next_state(policy: ScalePolicy, state: ScaleState, desired: int, now: float) -> ScaleState:
    """Up (or steady) at once; down to `desired` only after `cooldown` seconds below."""
    if desired >= state.target:
        return ScaleState(desired)
    below_since = now if state.below_since is None else state.below_since
    if now - below_since >= policy.cooldown:
        return ScaleState(desired)
    return ScaleState(state.target, below_since)


def restart_delay(crashes: int) -> float:
    """Seconds to wait before restarting after `crashes` crashes in a row (0 for none)."""
    if crashes <= 0:
        return 0.0
    return float(min(RESTART_BACKOFF * 2.0 ** (crashes - 1), RESTART_BACKOFF_MAX))
