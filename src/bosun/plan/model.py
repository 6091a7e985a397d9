"""What every architecture model provides: a setup to simulate, a cost, risks, a command.

An `Architecture` turns a profile and prices into a `Setup` (pools to simulate and limits),
then prices the simulated month (`Usage`) into a `Cost`. The shared sizing helpers live
here so each model reads as its own assumptions only.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields, replace
from typing import Any

from bosun.plan.prices import HOURS_PER_MONTH, Prices
from bosun.plan.profile import Profile
from bosun.plan.simulate import PoolResult, PoolSpec

MONTH_S = HOURS_PER_MONTH * 3600
UNTIL_IDLE_S = 0.2  # bosun worker's poll interval: an until-idle worker exits one claim later
DRAIN_GRACE_S = 30.0  # bosun.worker.timebox.DEFAULT_GRACE: drain mode's grace, at most


@dataclass(frozen=True)
class Setup:
    """How an architecture runs the profile."""

    cpu: PoolSpec
    gpu: PoolSpec | None = None
    limit_s: float | None = None  # one invocation's time limit
    durable: bool = True  # bosun drain splits longer runs; without it they fail at the limit
    replay_s: float = 0.0  # a resumed piece first replays its journal
    step_pieces: bool = False  # each step is its own invocation (Step Functions)
    settings: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # why it cannot run this profile at all
    notes: tuple[str, ...] = ()  # settings to change in what `bosun deploy` writes


@dataclass
class Usage:
    """The simulation scaled to one month."""

    runs: float
    failed: float
    reruns: float
    waits: list[float]  # per counted run: seconds waiting for capacity (CPU and GPU)
    gpu_waits: list[float]
    cpu: PoolResult
    gpu: PoolResult | None


@dataclass(frozen=True)
class Cost:
    """Monthly dollars: work done, capacity paid for but idle, and fixed or per-call fees."""

    compute: float
    idle: float
    fees: float

    @property
    def total(self) -> float:
        return self.compute + self.idle + self.fees

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.compute + other.compute, self.idle + other.idle, self.fees + other.fees)


NO_COST = Cost(0.0, 0.0, 0.0)


def scaled(result: PoolResult, factor: float) -> PoolResult:
    """The window's integrals and counts times `factor` (waits stay per run)."""
    numbers = {
        f.name: getattr(result, f.name) * factor for f in fields(result) if f.name != "waits"
    }
    return replace(result, **numbers)


def split_capacity(billed: float, used_share: float) -> Cost:
    """Capacity billed whether used or not: the used share is compute, the rest idle."""
    used = min(1.0, max(0.0, used_share))
    return Cost(billed * used, billed * (1 - used), 0.0)


def runs_that_fit(profile: Profile, vcpu: float, gib: float, prices: Prices) -> int:
    """Runs one worker process of `vcpu`/`gib` holds at the target utilization (0: not
    even one)."""
    runs = profile.runs
    util = prices.vm.target_utilization
    by_cpu = vcpu * util / runs.cpu
    by_memory = (gib * util - runs.process_memory_gb) / runs.memory_gb
    # 1e-9: 2.0 * 0.7 - 0.2 is 1.1999999999999997, and 12 runs of 0.1 GB fit in it.
    return max(0, min(math.floor(by_cpu + 1e-9), math.floor(by_memory + 1e-9)))


def slots_per_worker(
    profile: Profile, vcpu: float, gib: float, prices: Prices, most: int | None = None
) -> int:
    """Runs one worker process of `vcpu`/`gib` holds at the target utilization, at least 1
    and at most `most` (default: the chart's worker concurrency)."""
    limit = prices.kubernetes.worker_concurrency if most is None else most
    return max(1, min(limit, runs_that_fit(profile, vcpu, gib, prices)))


def drain_grace(budget: float) -> float:
    """Drain mode's default grace for a budget (bosun.worker.timebox.drain_grace)."""
    return min(DRAIN_GRACE_S, budget / 4)


def mean_step_s(profile: Profile) -> float:
    """A run's mean step: its mean duration over its steps and LLM calls."""
    return profile.runs.duration_s.mean / max(1, profile.runs.steps + profile.runs.llm_calls)


def gpu_peak(profile: Profile) -> int:
    """GPUs a fixed pool needs so GPU steps rarely queue: busy GPUs at peak plus headroom."""
    busy = profile.rate_per_hour / 3600 * profile.gpu.steps * profile.gpu.step_s
    if profile.arrivals.pattern == "diurnal":
        busy *= profile.arrivals.peak_to_mean
    elif profile.arrivals.pattern == "bursty":
        busy = max(busy, min(profile.arrivals.burst_size, 8) * 0.5)
    return max(1, math.ceil(busy + 2 * math.sqrt(busy)))


def max_instances(peak: int, slots: int) -> int:
    """A ceiling for autoscaled pools: twice the peak, so the ceiling itself rarely binds."""
    return max(1, math.ceil(2 * peak / slots) + 1)


class Architecture(ABC):
    """One way to run bosun's workers (or to replace bosun) and its cost model."""

    key: str
    label: str
    family: str
    serverless: bool = False
    replaces_bosun: bool = False

    @abstractmethod
    def setup(self, profile: Profile, prices: Prices) -> Setup:
        """Pools, limits and settings for this profile."""

    @abstractmethod
    def cost(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> Cost:
        """The month's cost from the simulated usage."""

    @abstractmethod
    def ops_hours(self, profile: Profile, prices: Prices) -> float:
        """Engineer hours a month to keep it running."""

    def risks(self, profile: Profile, prices: Prices, setup: Setup, usage: Usage) -> list[str]:
        """What could go wrong, in words (limits close to the profile, team gaps)."""
        return []

    def deploy(self, app_ref: str, setup: Setup) -> tuple[str | None, str]:
        """The `bosun deploy` command that sets up what was simulated and what that sets
        up; or None and why bosun cannot deploy it (it is then only compared)."""
        return None, "no bosun deploy command"
