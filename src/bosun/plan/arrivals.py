"""Runs drawn from a profile: arrival times and durations, reproducible from a seed.

A day is simulated when it holds at most `max_runs` runs. Busier profiles are simulated over
shorter windows that keep the day's shape: four windows spread over the day for a diurnal
profile, one window with the bursts at their share for a bursty one. Each window starts
with a warm-up whose runs load the system but are not counted.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from bosun.plan.profile import Profile

DAY = 86400.0


@dataclass(frozen=True)
class Window:
    """Simulated time `[start, start + length)` counted, after `warmup` seconds uncounted."""

    start: float
    length: float
    warmup: float
    bursts: int = 0  # bursty profiles: bursts placed evenly in the window


@dataclass(frozen=True)
class Run:
    """One simulated run."""

    index: int
    arrive: float
    duration: float
    counted: bool


def plan_windows(profile: Profile, max_runs: int) -> list[Window]:
    """The windows that stand for one day of `profile` with at most ~`max_runs` runs."""
    rate = profile.rate_per_hour / 3600
    warmup = min(1800.0, 3 * profile.runs.duration_s.mean)
    arrivals = profile.arrivals
    bursty = arrivals.pattern == "bursty"
    if rate * DAY <= max_runs:
        bursts = _burst_count(arrivals.bursts_per_day) if bursty else 0
        return [Window(0.0, DAY, warmup, bursts)]
    # At least ten minutes, so polling scalers and cooldowns play out, unless that would
    # hold more than five times `max_runs` (a profile of very short, very frequent runs).
    length = max(min(600.0, 5 * max_runs / rate), max_runs / rate)
    if arrivals.pattern == "diurnal":
        piece = length / 4
        return [Window(k * DAY / 4, piece, min(warmup, piece)) for k in range(4)]
    bursts = max(1, round(arrivals.bursts_per_day * length / DAY)) if bursty else 0
    return [Window(0.0, length, warmup, bursts)]


def _burst_count(per_day: float) -> int:
    return max(1, round(per_day))


def draw_runs(profile: Profile, window: Window, rng: random.Random, first: int = 0) -> list[Run]:
    """Runs arriving in the window and its warm-up, in arrival order."""
    times = _arrival_times(profile, window, rng)
    duration = profile.runs.duration_s
    mu, sigma = math.log(duration.p50), duration.sigma
    return [
        Run(first + i, t, rng.lognormvariate(mu, sigma), t >= window.start)
        for i, t in enumerate(times)
    ]


def _arrival_times(profile: Profile, window: Window, rng: random.Random) -> list[float]:
    begin, end = window.start - window.warmup, window.start + window.length
    rate = profile.rate_per_hour / 3600
    arrivals = profile.arrivals
    if arrivals.pattern == "steady":
        return _poisson(rng, rate, begin, end)
    if arrivals.pattern == "diurnal":
        return _diurnal(profile, rng, rate, begin, end)
    size, spread = arrivals.burst_size, arrivals.burst_spread_s
    in_bursts = window.bursts * size
    background = max(0.0, rate - in_bursts / window.length)
    times = _poisson(rng, background, begin, end)
    gap = window.length / max(1, window.bursts)
    for k in range(window.bursts):
        at = window.start + gap * k + rng.uniform(0, max(0.0, gap - spread))
        times.extend(at + rng.uniform(0, spread) for _ in range(size))
    times.sort()
    return times


def _poisson(rng: random.Random, rate: float, begin: float, end: float) -> list[float]:
    times: list[float] = []
    if rate <= 0:
        return times
    t = begin + rng.expovariate(rate)
    while t < end:
        times.append(t)
        t += rng.expovariate(rate)
    return times


def _diurnal(
    profile: Profile, rng: random.Random, rate: float, begin: float, end: float
) -> list[float]:
    """Thinning: a cosine wave peaking at `peak_hour` with the profile's peak-to-mean."""
    swing = profile.arrivals.peak_to_mean - 1
    peak = profile.arrivals.peak_hour * 3600
    top = rate * (1 + swing)
    kept = []
    for t in _poisson(rng, top, begin, end):
        level = rate * (1 + swing * math.cos(2 * math.pi * (t - peak) / DAY))
        if rng.random() * top < level:
            kept.append(t)
    return kept
