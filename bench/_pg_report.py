"""Turn the PostgreSQL benchmark's results into the comparison table and the target checks.

``results`` maps a measurement key (``pg1``, ``dbos``, ``bosun_flight``, …) to the list of
parsed JSON lines of its repeats that succeeded (empty when all failed). Every value shown is
the median over those repeats; the spread column gives min-max and the number of repeats.
Ratios are bosun's value over the anchor's for the same quantity (for latencies and recovery:
lower is better, the ratio is still value / anchor).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from _report import markdown_table

Results = Mapping[str, Sequence[Mapping[str, Any]]]


@dataclass(frozen=True)
class Row:
    key: str  # measurement
    field: str  # JSON key
    system: str
    label: str
    fmt: str
    versus: tuple[tuple[str, str, str], ...] = ()  # (anchor name, measurement, field)


RAW16 = ("raw 16 clients", "pg16", "tx_per_s")
FLIGHT_ANCHORS = (
    ("DBOS", "dbos"),
    ("LangGraph", "langgraph"),
    ("Restate", "restate"),
    ("Absurd", "absurd"),
    ("Absurd 10 ms poll", "absurd_fast"),
)
LAT20_ANCHORS = (("Restate", "restate_lat"), ("Absurd", "absurd_lat"))


def versus(anchors: tuple[tuple[str, str], ...], field: str) -> tuple[tuple[str, str, str], ...]:
    return tuple((name, key, field) for name, key in anchors)


ROWS: list[Row] = [
    Row("pg1", "tx_per_s", "postgres", "INSERT+COMMIT tx/s, 1 client (psycopg)", "{:,.0f}"),
    Row("pg16", "tx_per_s", "postgres", "INSERT+COMMIT tx/s, 16 clients (psycopg)", "{:,.0f}"),
    Row("dbos", "runs_per_s", "dbos", "3-step runs/s, 64 in flight", "{:,.0f}"),
    Row("dbos", "seq_p50_ms", "dbos", "sequential 3-step p50 (ms)", "{:.2f}"),
    Row("langgraph", "runs_per_s", "langgraph", "3-node graphs/s, 64 in flight", "{:,.0f}"),
    Row("langgraph", "seq_p50_ms", "langgraph", "sequential 3-node p50 (ms)", "{:.2f}"),
    Row("restate", "runs_per_s", "restate", "3-step runs/s, 64 in flight", "{:,.0f}"),
    Row("restate", "seq_runs_per_s", "restate", "sequential 3-step runs/s", "{:,.0f}"),
    Row("restate", "seq_p50_ms", "restate", "sequential 3-step p50 (ms)", "{:.2f}"),
    Row("restate", "seq_p99_ms", "restate", "sequential 3-step p99 (ms)", "{:.2f}"),
    Row("restate_lat", "p50_ms", "restate", "submit->first step p50 (ms) at 20/s", "{:.2f}"),
    Row("restate_lat", "p99_ms", "restate", "submit->first step p99 (ms) at 20/s", "{:.2f}"),
    Row("absurd", "runs_per_s", "absurd", "3-step runs/s, 64 in flight", "{:,.0f}"),
    Row("absurd", "seq_runs_per_s", "absurd", "sequential 3-step runs/s", "{:,.0f}"),
    Row("absurd", "seq_p50_ms", "absurd", "sequential 3-step p50 (ms)", "{:.2f}"),
    Row("absurd", "seq_p99_ms", "absurd", "sequential 3-step p99 (ms)", "{:.2f}"),
    Row(
        "absurd_fast", "runs_per_s", "absurd", "3-step runs/s, 64 in flight, 10 ms poll", "{:,.0f}"
    ),
    Row(
        "absurd_fast", "seq_runs_per_s", "absurd", "sequential 3-step runs/s, 10 ms poll", "{:,.0f}"
    ),
    Row("absurd_fast", "seq_p50_ms", "absurd", "sequential 3-step p50 (ms), 10 ms poll", "{:.2f}"),
    Row("absurd_fast", "seq_p99_ms", "absurd", "sequential 3-step p99 (ms), 10 ms poll", "{:.2f}"),
    Row("absurd_lat", "p50_ms", "absurd", "submit->first step p50 (ms) at 20/s", "{:.2f}"),
    Row("absurd_lat", "p99_ms", "absurd", "submit->first step p99 (ms) at 20/s", "{:.2f}"),
    Row("pgq", "jobs_per_s", "pgqueuer", "no-op jobs/s, 1 worker process", "{:,.0f}"),
    Row("pgq_lat", "p50_ms", "pgqueuer", "enqueue->start p50 (ms) at 50/s", "{:.2f}"),
    Row("pgq_lat", "p99_ms", "pgqueuer", "enqueue->start p99 (ms) at 50/s", "{:.2f}"),
    Row(
        "bosun_flight",
        "runs_per_s",
        "bosun",
        "3-step runs/s, 64 in flight (in-process worker)",
        "{:,.0f}",
        versus(FLIGHT_ANCHORS, "runs_per_s"),
    ),
    Row(
        "bosun_flight",
        "seq_runs_per_s",
        "bosun",
        "sequential 3-step runs/s",
        "{:,.0f}",
        versus(FLIGHT_ANCHORS, "seq_runs_per_s"),
    ),
    Row(
        "bosun_flight",
        "seq_p50_ms",
        "bosun",
        "sequential 3-step p50 (ms)",
        "{:.2f}",
        versus(FLIGHT_ANCHORS, "seq_p50_ms"),
    ),
    Row(
        "bosun_flight",
        "seq_p99_ms",
        "bosun",
        "sequential 3-step p99 (ms)",
        "{:.2f}",
        versus(FLIGHT_ANCHORS, "seq_p99_ms"),
    ),
    Row(
        "bosun_one",
        "runs_per_s",
        "bosun",
        "one-step runs/s, 1 worker process",
        "{:,.0f}",
        (("pgqueuer", "pgq", "jobs_per_s"),),
    ),
    Row(
        "bosun_steps",
        "steps_per_s",
        "bosun",
        "durable steps/s, 2 worker processes",
        "{:,.0f}",
        (RAW16,),
    ),
    Row(
        "bosun_lat",
        "p50_ms",
        "bosun",
        "submit->first step p50 (ms) at 50/s",
        "{:.2f}",
        (("pgqueuer", "pgq_lat", "p50_ms"),),
    ),
    Row(
        "bosun_lat",
        "p99_ms",
        "bosun",
        "submit->first step p99 (ms) at 50/s",
        "{:.2f}",
        (("pgqueuer", "pgq_lat", "p99_ms"),),
    ),
    Row("bosun_lat", "e2e_p50_ms", "bosun", "submit->result seen p50 (ms) at 50/s", "{:.2f}"),
    Row(
        "bosun_lat20",
        "p50_ms",
        "bosun",
        "submit->first step p50 (ms) at 20/s",
        "{:.2f}",
        versus(LAT20_ANCHORS, "p50_ms"),
    ),
    Row(
        "bosun_lat20",
        "p99_ms",
        "bosun",
        "submit->first step p99 (ms) at 20/s",
        "{:.2f}",
        versus(LAT20_ANCHORS, "p99_ms"),
    ),
    Row("bosun_recovery", "recovery_max_s", "bosun", "SIGKILL -> resumed, max (s)", "{:.2f}"),
    Row("bosun_recovery", "recovery_p50_s", "bosun", "SIGKILL -> resumed, p50 (s)", "{:.2f}"),
]


def values(results: Results, key: str, field: str) -> list[float]:
    out = []
    for data in results.get(key, ()):
        value = data.get(field)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out.append(float(value))
    return out


def median(results: Results, key: str, field: str) -> float | None:
    found = values(results, key, field)
    return statistics.median(found) if found else None


def spread(found: list[float], fmt: str) -> str:
    if len(found) < 2:
        return f"n={len(found)}"
    return f"{fmt.format(min(found))}-{fmt.format(max(found))}, n={len(found)}"


def table_rows(results: Results, skipped: Mapping[str, str]) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in ROWS:
        if row.key not in results:
            continue
        found = values(results, row.key, row.field)
        missing = "not installed" if row.key in skipped else "FAILED"
        shown = fmt_or(row.fmt, statistics.median(found) if found else None, missing)
        ratios = []
        for name, key, field in row.versus:
            anchor = median(results, key, field)
            if found and anchor:
                ratios.append(f"{statistics.median(found) / anchor:.2f}x {name}")
        foreign = values(results, row.key, "foreign_cpu")
        other = f"{statistics.median(foreign):.2f}" if foreign else ""
        rows.append(
            [row.system, row.label, shown, spread(found, row.fmt), ", ".join(ratios), other]
        )
    return rows


def fmt_or(fmt: str, value: float | None, missing: str = "n/a") -> str:
    return missing if value is None else fmt.format(value)


# (measurement, system, unit, client CPU field, server CPU field or "", anchor measurements)
CPU_ROWS: list[tuple[str, str, str, str, str, str]] = [
    ("pg1", "postgres", "commit, 1 client", "client_cpu_ms", "server_cpu_ms", ""),
    ("pg16", "postgres", "commit, 16 clients", "client_cpu_ms", "server_cpu_ms", ""),
    ("dbos", "dbos", "3-step run, 64 in flight", "cpu_ms_per_run", "", ""),
    ("langgraph", "langgraph", "3-node graph, 64 in flight", "cpu_ms_per_run", "", ""),
    ("restate", "restate", "3-step run, 64 in flight", "client_cpu_ms", "server_cpu_ms", ""),
    ("absurd", "absurd", "3-step run, 64 in flight", "client_cpu_ms", "server_cpu_ms", ""),
    (
        "absurd_fast",
        "absurd",
        "3-step run, 64 in flight, 10 ms poll",
        "client_cpu_ms",
        "server_cpu_ms",
        "",
    ),
    ("pgq", "pgqueuer", "no-op job", "client_cpu_ms", "server_cpu_ms", ""),
    (
        "bosun_flight",
        "bosun",
        "3-step run, 64 in flight",
        "client_cpu_ms",
        "server_cpu_ms",
        "restate,absurd,absurd_fast",
    ),
    ("bosun_one", "bosun", "one-step run, 1 worker", "client_cpu_ms", "server_cpu_ms", "pgq"),
    ("bosun_steps", "bosun", "durable step, 2 workers", "client_cpu_ms", "server_cpu_ms", "pg16"),
]


def cpu_rows(results: Results) -> list[list[str]]:
    rows = []
    for key, system, unit, client_field, server_field, anchor in CPU_ROWS:
        if key not in results:
            continue
        client = median(results, key, client_field)
        server = median(results, key, server_field) if server_field else None
        total = None if client is None or server is None else client + server
        ratios = []
        for other in anchor.split(",") if anchor and total is not None else ():
            a_client = median(results, other, "client_cpu_ms")
            a_server = median(results, other, "server_cpu_ms")
            if total is not None and a_client is not None and a_server is not None:
                anchor_total = a_client + a_server
                ratios.append(f"{total / anchor_total:.2f}x {other}" if anchor_total > 0 else "")
        ratios = [r for r in ratios if r]
        ratio = ", ".join(ratios)
        rows.append(
            [
                system,
                unit,
                fmt_or("{:.3f}", client),
                fmt_or("{:.3f}", server),
                fmt_or("{:.3f}", total),
                ratio,
            ]
        )
    return rows


@dataclass
class Check:
    name: str
    ok: bool | None  # None: could not be evaluated (a measurement failed or was skipped)
    detail: str

    @property
    def verdict(self) -> str:
        return "n/a" if self.ok is None else ("PASS" if self.ok else "FAIL")


def at_least(
    name: str, value: float | None, anchor: float | None, factor: float, fmt: str = "{:,.0f}"
) -> Check:
    if value is None or not anchor:
        return Check(name, None, "missing result")
    need = factor * anchor
    detail = f"{fmt.format(value)} vs {fmt.format(need)} needed ({value / anchor:.2f}x)"
    return Check(name, value >= need, detail)


def at_most(name: str, value: float | None, limit: float, unit: str) -> Check:
    if value is None:
        return Check(name, None, "missing result")
    return Check(name, value <= limit, f"{value:.2f} {unit} (limit {limit:g} {unit})")


def checks(results: Results) -> list[Check]:
    def m(key: str, field: str) -> float | None:
        return median(results, key, field)

    runs = m("bosun_flight", "runs_per_s")
    lease = m("bosun_recovery", "lease_ttl")
    recovery = m("bosun_recovery", "recovery_max_s")
    recovery_check = (
        at_most(
            f"recovery after SIGKILL <= lease TTL + 1 s ({lease:g} s lease)",
            recovery,
            lease + 1,
            "s",
        )
        if lease is not None
        else Check("recovery after SIGKILL <= lease TTL + 1 s", None, "missing result")
    )
    return [
        at_least("3-step runs/s >= 10x DBOS", runs, m("dbos", "runs_per_s"), 10),
        at_least("3-step runs/s >= 5x LangGraph", runs, m("langgraph", "runs_per_s"), 5),
        at_least(
            "one-step runs/s (1 worker process) >= pgqueuer jobs/s",
            m("bosun_one", "runs_per_s"),
            m("pgq", "jobs_per_s"),
            1,
        ),
        at_least(
            "durable steps/s (2 workers) >= 50% of 16-client commit tx/s",
            m("bosun_steps", "steps_per_s"),
            m("pg16", "tx_per_s"),
            0.5,
        ),
        at_most("submit->first step p50 <= 3 ms at 50/s", m("bosun_lat", "p50_ms"), 3, "ms"),
        at_most("submit->first step p99 <= 9 ms at 50/s", m("bosun_lat", "p99_ms"), 9, "ms"),
        recovery_check,
    ]


def render(
    machine: Mapping[str, str],
    results: Results,
    notes: list[str],
    skipped: Mapping[str, str] | None = None,
) -> str:
    lines = ["## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    lines += ["", "## Results (medians)", ""]
    header = ["system", "metric", "value", "spread", "ratio", "other CPU"]
    lines += markdown_table(header, table_rows(results, skipped or {}))
    lines += ["", "## Targets", ""]
    lines += markdown_table(
        ["target", "verdict", "measured"], [[c.name, c.verdict, c.detail] for c in checks(results)]
    )
    lines += [
        "",
        "other CPU: median cores used during the measurement by processes that are neither this",
        "benchmark's nor PostgreSQL's (a shared box); above ~0.2 the numbers are disturbed.",
        "",
        "## CPU cost per unit of work (ms, medians)",
        "",
    ]
    lines += markdown_table(
        ["system", "unit", "client", "PostgreSQL backends", "total", "ratio"], cpu_rows(results)
    )
    lines += [
        "",
        "client: the measuring process (bosun: its worker processes; Restate: with its hypercorn",
        "service process); PostgreSQL backends: the server processes of this measurement's",
        "connections, read from /proc (Restate: the restate-server process; kernel time of",
        "loopback networking is partly missed). Less disturbed by a busy box than the rates; with",
        "N cores, no rate can exceed N x 1000 / total.",
    ]
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"
