"""Many workers, one database: the 200-process fleet and PostgreSQL's CPU per run and per step
(docs/scaling.md).

Every measurement starts a throwaway PostgreSQL cluster of its own (initdb on a free port,
`max_connections = 100`, fsync off), and PgBouncer (transaction pooling) where it says so,
so nothing else on the machine shares the server it measures; the server's CPU is that of
all its processes (postmaster, backends, background workers). The worker processes are real
`bosun worker` command lines, forked from one launcher (tests/helpers/fleet.py).

- `fleet`: 200 workers (2 runs at once each, `pool_max=2`) on the server, through PgBouncer
  (20 server connections) and then directly; 3,000 two-step runs submitted over 15 s while a
  random worker is SIGKILLed every second. Claim latency (created -> first claimed) p50/p99,
  server CPU per run, the server's connections, workers refused.
- `cost`: 4 workers (16 runs at once each) drain 1-step and 6-step runs of empty steps,
  directly (each worker LISTENs) and through PgBouncer (they poll); the difference between the
  two run lengths is the CPU per step, the rest the CPU per run (submit, claim, finish).

`--quick` runs a small fleet and fewer runs (the smoke test's pass). Prints a table, then one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]

from tests.helpers.fleet import FleetPlan, check_exactly_once, run_fleet  # noqa: E402

FLEET = FleetPlan(
    workers=200,
    runs=3000,
    steps=2,
    step_seconds=0.02,
    concurrency=2,
    pool_max=2,
    bouncer_pool=20,
    max_connections=100,
    submit_seconds=15.0,
    kill_every=1.0,
    poll_interval=1.0,
    idle_seconds=5.0,
    finish_within=300.0,
)
COST = FleetPlan(
    workers=4,
    runs=3000,
    step_seconds=0.0,
    concurrency=16,
    pool_max=8,
    bouncer_pool=20,
    submit_seconds=6.0,
    kill_every=0.0,
    poll_interval=0.2,
    idle_seconds=1.0,
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fleet(quick: bool) -> list[dict[str, Any]]:
    plan = replace(FLEET, workers=40, runs=400, submit_seconds=4.0) if quick else FLEET
    results = []
    for pooler in (True, False):
        with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
            report = run_fleet(replace(plan, pooler=pooler), Path(tmp))
            summary = report.summary()
            summary["repeated_step_starts"] = check_exactly_once(report)
            summary["limit_message"] = (report.limit_messages or [""])[0][-400:]
            results.append(summary)
    return results


def cost(quick: bool) -> list[dict[str, Any]]:
    results = []
    runs = 600 if quick else COST.runs
    for pooler in (False, True):
        per_steps = {}
        for steps in (1, 6):
            with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
                plan = replace(COST, pooler=pooler, steps=steps, runs=runs)
                report = run_fleet(plan, Path(tmp))
                check_exactly_once(report)
                per_steps[steps] = report
        one, six = per_steps[1], per_steps[6]
        per_step = (six.server_cpu_ms_per_run - one.server_cpu_ms_per_run) / 5
        results.append(
            {
                "pooler": "pgbouncer (transaction)" if pooler else "none (LISTEN/NOTIFY)",
                "server_cpu_ms_per_1_step_run": round(one.server_cpu_ms_per_run, 3),
                "server_cpu_ms_per_6_step_run": round(six.server_cpu_ms_per_run, 3),
                "server_cpu_ms_per_step": round(per_step, 3),
                "server_cpu_ms_per_run_fixed": round(one.server_cpu_ms_per_run - per_step, 3),
                "bouncer_cpu_ms_per_1_step_run": round(
                    one.bouncer_cpu_s * 1000 / max(one.completed, 1), 3
                ),
                "runs_per_s_1_step": round(one.completed / one.busy_s, 1),
            }
        )
    return results


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    width = max(len(k) for k in keys)
    lines = []
    for key in keys:
        values = " | ".join(f"{row[key]!s:>24}" for row in rows)
        lines.append(f"{key:<{width}} | {values}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="cost,fleet", help="cost, fleet or both")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    os.environ.pop("BOSUN_DATABASE_URL", None)
    out: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {cpu_model()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "quick": args.quick,
    }
    only = set(args.only.split(","))
    if "cost" in only:
        out["cost"] = cost(args.quick)
        print("PostgreSQL CPU per run and per step (4 workers x 16, empty steps)")
        print(table(out["cost"]))
    if "fleet" in only:
        out["fleet"] = fleet(args.quick)
        print("The fleet (SIGKILL of a random worker every second)")
        print(table([{k: v for k, v in r.items() if k != "limit_message"} for r in out["fleet"]]))
        for row in out["fleet"]:
            if row["limit_message"]:
                print(f"refused worker's log: {row['limit_message']}")
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
