"""`bosun plan`'s Kubernetes answer says what it asks of the database: connections at full
scale, counted as the chart counts them (and the chart refuses what the planner flags), and
CPU at the peak from the measured cost per run and per step."""

from __future__ import annotations

import pytest

from bosun.deploy.helm import render
from bosun.errors import ConfigurationError
from bosun.plan import Prices, parse_profile
from bosun.plan.arch_servers import KubernetesKeda
from bosun.plan.database import DatabaseLoad, describe, kubernetes_load

PRICES = Prices()


def profile(concurrency: float, steps: int = 5, llm_calls: int = 3) -> object:
    return parse_profile(
        {
            "concurrency": concurrency,
            "runs": {
                "duration_s": {"p50": 60, "p95": 120},
                "steps": steps,
                "llm_calls": llm_calls,
                "cpu": 0.01,
                "memory_gb": 0.01,
            },
        }
    )


def test_the_planner_counts_connections_as_the_chart_does() -> None:
    steady = profile(120)
    setup = KubernetesKeda().setup(steady, PRICES)  # type: ignore[arg-type]
    high = int(setup.settings["max_replicas"])
    load = kubernetes_load(steady, PRICES, [high])  # type: ignore[arg-type]
    assert setup.settings["database_connections"] == load.connections
    values = {
        "database": {"url": "postgresql://u:p@db:5432/app", "maxConnections": load.connections},
        "app": {"ref": "app.py"},
        "pools": [{"name": "default", "queues": ["default"], "maxReplicas": high}],
    }
    render(values)  # exactly the planner's count fits
    values["database"]["maxConnections"] = load.connections - 1
    with pytest.raises(ConfigurationError, match=f"need up to {load.connections} connections"):
        render(values)
    assert load.connections > PRICES.database.max_connections
    note = next(n for n in setup.notes if "pgbouncer.enabled: true" in n)
    assert f"up to {load.connections:,} connections" in note
    assert f"PgBouncer it sees {load.pooled_connections}" in note
    values["pgbouncer"] = {"enabled": True}
    values["database"]["maxConnections"] = load.pooled_connections
    render(values)  # and through PgBouncer what the planner says


def test_database_cpu_follows_the_measured_cost_per_run_and_step() -> None:
    busy = profile(120, steps=5, llm_calls=3)
    load = kubernetes_load(busy, PRICES, [10])  # type: ignore[arg-type]
    db = PRICES.database
    rate = busy.peak_concurrency / busy.runs.duration_s.mean  # type: ignore[attr-defined]
    assert load.vcpu == pytest.approx(rate * (db.cpu_ms_per_run + 8 * db.cpu_ms_per_step) / 1000)
    estimate = KubernetesKeda()
    setup = estimate.setup(busy, PRICES)  # type: ignore[arg-type]
    assert setup.settings["database_vcpu"] == round(
        kubernetes_load(busy, PRICES, [int(setup.settings["max_replicas"])]).vcpu,
        3,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("runs_per_s", "vcpu", "shown"),
    [
        (0.000064, 0.0000064, "under 0.001 vCPU at the peak of under 0.001 runs/s"),
        (0.05, 0.0064, "0.0064 vCPU at the peak of 0.05 runs/s"),
        (3.0, 1.25, "1.2 vCPU at the peak of 3.0 runs/s"),
        (1500.0, 12.0, "12 vCPU at the peak of 1,500 runs/s"),
    ],
)
def test_the_database_line_reads_as_numbers_people_use(
    runs_per_s: float, vcpu: float, shown: str
) -> None:
    load = DatabaseLoad(
        processes=3, connections=30, pooled_connections=10, runs_per_s=runs_per_s, vcpu=vcpu
    )
    line = describe(load, PRICES)[0]
    assert shown in line and "e-0" not in line, line
