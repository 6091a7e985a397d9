"""Charts of a profile across scales: monthly cost against concurrency, p95 wait against
burst size, one line per architecture. Drawn with matplotlib's object API (no pyplot, no
global backend), imported only when a chart is asked for; matplotlib is the `plan` extra.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bosun.errors import ConfigurationError
from bosun.plan.evaluate import Estimate, architectures, evaluate
from bosun.plan.prices import Prices
from bosun.plan.profile import Profile

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CONCURRENCIES = (1, 3, 10, 30, 100, 300)
BURST_SIZES = (1, 5, 20, 50, 100)
CHART_RUNS = 600  # runs simulated per point: enough for a trend, fast enough for a page
Series = dict[str, list[float | None]]


def cost_by_concurrency(profile: Profile, *, seed: int = 0, prices: Prices | None = None) -> Series:
    """Monthly cost per architecture at each of `CONCURRENCIES` (None where infeasible)."""
    scaled = [profile.scaled(concurrency=c) for c in CONCURRENCIES]
    return _series(scaled, lambda e: e.monthly_usd, seed, prices)


def wait_by_burst(profile: Profile, *, seed: int = 0, prices: Prices | None = None) -> Series:
    """p95 queue wait per architecture for bursts of each of `BURST_SIZES` runs."""
    scaled = [profile.scaled(burst_size=size) for size in BURST_SIZES]
    return _series(scaled, lambda e: e.p95_wait_s, seed, prices)


def _series(
    profiles: list[Profile], measure: Callable[[Estimate], float], seed: int, prices: Prices | None
) -> Series:
    """`measure` of every architecture on each profile, by architecture (None: infeasible)."""
    prices = prices or Prices()
    series: Series = {}
    for scaled in profiles:
        for arch in architectures():
            e = evaluate(arch, scaled, prices, seed=seed, max_runs=CHART_RUNS)
            series.setdefault(arch.label, []).append(measure(e) if e.feasible else None)
    return series


def _figure(
    title: str, xs: tuple[int, ...], series: Series, ylabel: str, xlabel: str, log_y: bool
) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigurationError("charts need matplotlib: pip install 'bosun[plan]'") from None
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    for label, ys in series.items():
        points = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def figures(profile: Profile, *, seed: int = 0, prices: Prices | None = None) -> dict[str, Figure]:
    """The two charts as matplotlib figures, by name."""
    cost = cost_by_concurrency(profile, seed=seed, prices=prices)
    wait = wait_by_burst(profile, seed=seed, prices=prices)
    return {
        "cost-vs-concurrency": _figure(
            f"{profile.name}: monthly cost by mean concurrent runs",
            CONCURRENCIES,
            cost,
            "USD a month",
            "mean runs executing at once",
            log_y=True,
        ),
        "wait-vs-burst": _figure(
            f"{profile.name}: p95 queue wait by burst size",
            BURST_SIZES,
            wait,
            "p95 wait (s)",
            "runs arriving together",
            log_y=False,
        ),
    }


def _render(fig: Figure, fmt: str) -> bytes:
    from matplotlib import rc_context

    buffer = io.BytesIO()
    # A fixed salt and no date keep the SVG text the same for the same data.
    with rc_context({"svg.hashsalt": "bosun-plan"}):
        metadata = {"Date": None} if fmt == "svg" else None
        fig.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()


def chart_svgs(profile: Profile, *, seed: int = 0, prices: Prices | None = None) -> dict[str, str]:
    """Each chart as SVG text, by name (for a web page)."""
    return {
        name: _render(fig, "svg").decode()
        for name, fig in figures(profile, seed=seed, prices=prices).items()
    }


def write_charts(
    profile: Profile, directory: str | Path, *, seed: int = 0, prices: Prices | None = None
) -> list[Path]:
    """Write each chart as NAME.png and NAME.svg under `directory`; return the paths."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in figures(profile, seed=seed, prices=prices).items():
        for fmt in ("png", "svg"):
            path = folder / f"{name}.{fmt}"
            path.write_bytes(_render(fig, fmt))
            written.append(path)
    return written
