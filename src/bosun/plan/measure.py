"""A workload profile fitted from a bosun database's recent runs.

From the store: the arrival rate (runs over the observed span), the pattern (a burst is
a cluster of runs arriving far faster than the background: each within a tenth of the mean
gap between runs, and within `BURST_GAP_S`; bursty when bursts hold a fifth of the runs;
a day-shaped hourly curve is diurnal;
otherwise steady), durations (finished minus the first journal entry's start, less time in
sleeps, signals and child runs, when a run holds no worker), steps and LLM calls per run,
the 95th percentile of state size, and the peak number of runs executing at once, which
sizes fixed pools. How far to trust it: low over less than an hour or with few finished
runs, medium under two days (no daily shape can show), else high. GPU needs, the team and
targets cannot be seen in runs: they come from `base`.
"""

from __future__ import annotations

import math
import time
from statistics import fmean, pvariance
from typing import TYPE_CHECKING, Any

from bosun.errors import ConfigurationError
from bosun.plan.evaluate import percentile
from bosun.plan.profile import Profile, parse_profile
from bosun.store.workload import WorkloadRun, WorkloadSample

if TYPE_CHECKING:
    from bosun.store import Store

BURST_GAP_S = 60.0  # runs created further apart than this never share a burst
BURST_DENSITY = 10.0  # a burst's runs arrive at least this many times faster than the mean
MIN_BURST = 3  # a cluster of at least this many runs is a burst
BURST_SHARE = 0.2  # bursts holding this share of the runs make the pattern bursty (chance
# clusters in a Poisson stream hold about 1%)
DAY_H = 24
LOW_SPAN_S = 3600.0  # measured over less than this: low confidence
LOW_RUNS = 20  # fewer finished runs than this: low confidence
FULL_SPAN_S = 2 * 86400.0  # under two days: medium confidence (no daily shape can show)


async def profile_from_store(
    store: Store, days: float = 7, *, base: Profile | None = None, now: float | None = None
) -> Profile:
    """Fit a profile to the runs created in the last `days` days.

    Raises:
        ConfigurationError: no finished run in that window to learn durations from.
    """
    now = time.time() if now is None else now
    sample = await store.workload_sample(now - days * 86400)
    return fit_profile(sample, days=days, now=now, base=base, source=store.url)


def fit_profile(
    sample: WorkloadSample,
    *,
    days: float,
    now: float,
    base: Profile | None = None,
    source: str = "",
) -> Profile:
    """The profile `sample` describes; fields runs do not show are taken from `base`."""
    finished = [r for r in sample.runs if r.finished_at is not None]
    if not finished or sample.first_created is None:
        raise ConfigurationError(
            f"no finished runs in the last {days:g} days to measure: give a longer --days "
            "or a profile YAML"
        )
    span_s = max(0.0, now - max(sample.first_created, now - days * 86400))
    span_h = max(1.0, span_s / 3600)
    durations = [_active(r) for r in finished]
    created = sorted(r.created_at for r in sample.runs)
    data: dict[str, Any] = base.model_dump() if base else {}
    data["name"] = data.get("name") or "measured"
    data.pop("concurrency", None)
    data["arrivals"] = _arrivals(sample, created, span_h)
    runs = dict(data.get("runs") or {})
    runs.update(
        duration_s={
            "p50": max(percentile(durations, 0.5), 0.001),
            "p95": max(percentile(durations, 0.95), percentile(durations, 0.5), 0.001),
        },
        steps=round(fmean(r.steps for r in sample.runs)),
        llm_calls=round(fmean(r.llm_calls for r in sample.runs)),
        longest_step_s=max(percentile([r.longest_step_s for r in finished], 0.95), 0.001),
        state_kb=round(percentile([r.state_bytes for r in sample.runs], 0.95) / 1024, 3),
    )
    data["runs"] = runs
    data["measured"] = {
        "source": _without_password(source),
        "days": days,
        "runs": sample.total,
        "sampled_runs": len(sample.runs),
        "finished_runs": len(finished),
        "failed_runs": sum(r.status == "failed" for r in sample.runs),
        "peak_concurrency": peak_concurrency(finished),
        "mean_concurrency": round(sum(durations) / (span_h * 3600), 3),
        "span_s": round(span_s, 1),
        **_confidence(span_s, len(finished)),
        "queues": sample.queues,
        "gpu_queues": [q for q in sample.queues if "gpu" in q.lower()],
    }
    return parse_profile(data, "the measured profile")


def _active(run: WorkloadRun) -> float:
    """Seconds the run held a worker: finished minus started, less its waits."""
    assert run.finished_at is not None
    started = run.started_at if run.started_at is not None else run.created_at
    return max(0.0, run.finished_at - started - run.waiting_s)


def _confidence(span_s: float, finished: int) -> dict[str, str]:
    """How far the measured profile can be trusted, and why."""
    if span_s < LOW_SPAN_S:
        minutes = round(span_s / 60)
        span = "less than a minute" if minutes < 1 else f"{minutes} minute" + "s" * (minutes > 1)
        return {"confidence": "low", "confidence_why": f"measured over {span}"}
    if finished < LOW_RUNS:
        return {"confidence": "low", "confidence_why": f"only {finished} finished runs"}
    if span_s < FULL_SPAN_S:
        why = f"measured over {span_s / 3600:.1f} hours: a daily pattern needs two days"
        return {"confidence": "medium", "confidence_why": why}
    return {"confidence": "high", "confidence_why": f"measured over {span_s / 86400:.1f} days"}


def _arrivals(sample: WorkloadSample, created: list[float], span_h: float) -> dict[str, Any]:
    rate = sample.total / span_h
    bursts = bursts_of(created, span_h * 3600)
    in_bursts = sum(len(b) for b in bursts)
    if bursts and in_bursts >= BURST_SHARE * len(created):
        size = round(fmean(len(b) for b in bursts))
        per_day = len(bursts) / (span_h / DAY_H)
        spread = fmean(b[-1] - b[0] for b in bursts)
        # Bursts seen in the detailed sample must not imply more runs than were counted.
        per_day = min(per_day, rate * DAY_H / size)
        return {
            "pattern": "bursty",
            "runs_per_hour": rate,
            "burst_size": size,
            "bursts_per_day": per_day,
            "burst_spread_s": round(spread, 3),
        }
    shape = daily_shape(sample.hourly, span_h)
    if shape is not None:
        peak_hour, peak_to_mean = shape
        return {
            "pattern": "diurnal",
            "runs_per_hour": rate,
            "peak_hour": peak_hour,
            "peak_to_mean": peak_to_mean,
        }
    return {"pattern": "steady", "runs_per_hour": rate}


def burst_gap(created: list[float], span_s: float) -> float:
    """The longest gap inside a burst: a tenth of the mean gap between runs (so a burst
    arrives ten times faster than the background), and at most `BURST_GAP_S`."""
    mean_gap = span_s / max(1, len(created))
    return min(BURST_GAP_S, mean_gap / BURST_DENSITY)


def bursts_of(created: list[float], span_s: float | None = None) -> list[list[float]]:
    """Clusters of at least `MIN_BURST` creation times, each within `burst_gap` of the
    previous one (`span_s`: the time they were observed over; default their own span)."""
    if span_s is None:
        span_s = created[-1] - created[0] if len(created) > 1 else 0.0
    gap = burst_gap(created, span_s)
    clusters: list[list[float]] = []
    for t in created:
        if clusters and t - clusters[-1][-1] <= gap:
            clusters[-1].append(t)
        else:
            clusters.append([t])
    return [c for c in clusters if len(c) >= MIN_BURST]


def daily_shape(hourly: list[tuple[int, int]], span_h: float) -> tuple[int, float] | None:
    """(peak hour, peak-to-mean) when two or more days of hourly counts follow one daily
    curve: the hour-of-day means explain at least half their variance, well beyond Poisson
    noise. None for a flat or too-short history."""
    if span_h < 2 * DAY_H or not hourly:
        return None
    first = hourly[0][0]
    hours = math.ceil(span_h)
    counts = [0] * hours
    for hour, n in hourly:
        if 0 <= hour - first < hours:
            counts[hour - first] = n
    mean = fmean(counts)
    variance = pvariance(counts)
    if mean <= 0 or variance <= 2 * mean:  # Poisson counts have variance ≈ mean
        return None
    by_hour = [fmean(counts[h::DAY_H]) for h in range(DAY_H) if counts[h::DAY_H]]
    explained = pvariance(by_hour) / variance
    if explained < 0.5:
        return None
    peak = max(range(len(by_hour)), key=by_hour.__getitem__)
    return (first + peak) % DAY_H, round(min(2.0, max(1.0, by_hour[peak] / mean)), 3)


def peak_concurrency(runs: list[WorkloadRun]) -> int:
    """The most finished runs executing at one moment (first entry's start to finish)."""
    edges: list[tuple[float, int]] = []
    for r in runs:
        assert r.finished_at is not None
        started = r.started_at if r.started_at is not None else r.created_at
        edges += [(started, 1), (r.finished_at, -1)]
    edges.sort(key=lambda e: (e[0], e[1]))  # a run ending frees its slot before one starts
    peak = level = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return peak


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
