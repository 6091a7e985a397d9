"""Turn the sub-scripts' JSON results into the comparison table and the target checks.

``results`` maps a system name (``sqlite``, ``dbos``, ``bosun``, ``ceiling``: bosun with fsync
off) to its parsed JSON line, or to ``None`` when its subprocess failed. Ratios are ``value /
anchor value`` for the same quantity: workflow metrics against DBOS, step/commit rates against
the raw SQLite commit rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Results = Mapping[str, Mapping[str, Any] | None]

# (system, JSON key, label, format); DBOS is the anchor for every workflow metric.
METRICS: list[tuple[str, str, str, str]] = [
    ("sqlite", "tx_per_s", "single-row INSERT+COMMIT (tx/s)", "{:,.0f}"),
    ("dbos", "seq_p50_ms", "sequential 3-step p50 (ms)", "{:.2f}"),
    ("dbos", "seq_p99_ms", "sequential 3-step p99 (ms)", "{:.2f}"),
    ("dbos", "runs_per_s", "64 in flight: runs/s", "{:,.0f}"),
    ("dbos", "steps_per_s", "64 in flight: durable steps/s", "{:,.0f}"),
    ("dbos", "cpu_ms_per_run", "64 in flight: CPU ms/run", "{:.2f}"),
    ("bosun", "seq_p50_ms", "sequential 3-step p50 (ms)", "{:.2f}"),
    ("bosun", "seq_p99_ms", "sequential 3-step p99 (ms)", "{:.2f}"),
    ("bosun", "runs_per_s", "64 in flight: runs/s", "{:,.0f}"),
    ("bosun", "steps_per_s", "64 in flight: durable steps/s", "{:,.0f}"),
    ("bosun", "cpu_ms_per_run", "64 in flight: CPU ms/run", "{:.2f}"),
    ("ceiling", "steps_per_s", "fsync off, 64 in flight: steps/s", "{:,.0f}"),
    ("ceiling", "cpu_util", "fsync off, 64 in flight: CPU cores busy", "{:.2f}"),
]
STEP_RATES = {"tx_per_s", "steps_per_s"}  # compared with the raw commit rate too


@dataclass
class Check:
    name: str
    ok: bool | None  # None: could not be evaluated (a system failed)
    detail: str

    @property
    def verdict(self) -> str:
        return "n/a" if self.ok is None else ("PASS" if self.ok else "FAIL")


def get(results: Results, system: str, key: str) -> float | None:
    data = results.get(system)
    value = data.get(key) if data else None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def ratio(value: float | None, anchor: float | None) -> str:
    if value is None or not anchor:
        return ""
    return f"{value / anchor:.2f}x"


def table_rows(results: Results) -> list[list[str]]:
    rows: list[list[str]] = []
    failed_shown: set[str] = set()
    for system, key, label, fmt in METRICS:
        if system not in results:
            continue
        if results[system] is None:
            if system not in failed_shown:
                rows.append([system, "(all metrics)", "FAILED", "", ""])
                failed_shown.add(system)
            continue
        value = get(results, system, key)
        compared = system in ("dbos", "bosun")
        vs_dbos = ratio(value, get(results, "dbos", key)) if compared else ""
        vs_sqlite = ratio(value, get(results, "sqlite", "tx_per_s")) if key in STEP_RATES else ""
        shown = "n/a" if value is None else fmt.format(value)
        rows.append([system, label, shown, vs_dbos, vs_sqlite])
    return rows


def versus(value: float, anchor: float) -> str:
    return f"{value:,.0f} vs {anchor:,.0f} ({value / anchor:.2f}x)"


def check(name: str, outcome: tuple[bool, str] | None) -> Check:
    return Check(name, None, "missing result") if outcome is None else Check(name, *outcome)


def checks(results: Results) -> list[Check]:
    p50 = get(results, "bosun", "seq_p50_ms")
    runs, dbos_runs = get(results, "bosun", "runs_per_s"), get(results, "dbos", "runs_per_s")
    steps, commits = get(results, "bosun", "steps_per_s"), get(results, "sqlite", "tx_per_s")
    return [
        check(
            "bosun sequential 3-step p50 <= 2 ms",
            None if p50 is None else (p50 <= 2.0, f"{p50:.2f} ms"),
        ),
        check(
            "bosun runs/s >= 10x DBOS (64 in flight)",
            None
            if runs is None or not dbos_runs
            else (runs >= 10 * dbos_runs, versus(runs, dbos_runs)),
        ),
        check(
            "bosun durable steps/s >= raw commit tx/s",
            None if steps is None or not commits else (steps >= commits, versus(steps, commits)),
        ),
        check(
            "bosun durable steps/s >= 1.5x raw commit tx/s",
            None
            if steps is None or not commits
            else (steps >= 1.5 * commits, versus(steps, commits) + ceiling(results, commits)),
        ),
    ]


def ceiling(results: Results, commits: float) -> str:
    """What bosun reaches with fsync off, where measured: above 1.5x, the disk bounds it."""
    steps = get(results, "ceiling", "steps_per_s")
    return "" if steps is None else f"; fsync off: {steps / commits:.2f}x"


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]


def render(machine: Mapping[str, str], results: Results, notes: list[str]) -> str:
    lines = ["## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    lines += ["", "## Results", ""]
    header = ["system", "metric", "value", "vs DBOS", "vs raw commit"]
    lines += markdown_table(header, table_rows(results))
    lines += ["", "## Targets", ""]
    lines += markdown_table(
        ["target", "verdict", "measured"], [[c.name, c.verdict, c.detail] for c in checks(results)]
    )
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"
