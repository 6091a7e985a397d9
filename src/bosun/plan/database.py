"""What a Kubernetes deployment asks of its PostgreSQL server: connections at full scale, as
the chart counts them (deploy/helm/bosun/templates/_connections.tpl), and CPU at the peak,
from the server's measured CPU per run and per step (`prices.database`, docs/scaling.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bosun.plan.prices import Prices
from bosun.plan.profile import Profile


@dataclass(frozen=True)
class DatabaseLoad:
    """A deployment's demands on its database."""

    processes: int  # bosun processes at full scale, rollout surges and the migration included
    connections: int  # without a pooler: each process's pool and LISTEN connection, and KEDA's
    pooled_connections: int  # through the chart's PgBouncer (processes poll)
    runs_per_s: float  # at the peak
    vcpu: float  # the server's CPU at the peak

    def over(self, prices: Prices) -> bool:
        """Whether the connections exceed the server's max_connections."""
        return self.connections > prices.database.max_connections


def kubernetes_load(profile: Profile, prices: Prices, worker_pods: list[int]) -> DatabaseLoad:
    """The chart's API replicas and worker pools of `worker_pods` maximum replicas each
    (Deployments: a rollout adds 25 %, rounded up), at the profile's peak."""
    k, db = prices.kubernetes, prices.database
    processes = k.api_replicas + 1 + sum(p + math.ceil(p * 0.25) for p in worker_pods) + 1
    scalers = len(worker_pods)  # KEDA's postgresql scaler: one connection per pool
    runs_per_s = profile.peak_concurrency / max(profile.runs.duration_s.mean, 1e-9)
    entries = profile.runs.steps + profile.runs.llm_calls + profile.gpu.steps
    cpu_ms = db.cpu_ms_per_run + entries * db.cpu_ms_per_step
    return DatabaseLoad(
        processes=processes,
        connections=processes * (k.pool_max + 1) + scalers,
        pooled_connections=k.pgbouncer_pool + 2 + scalers,  # PgBouncer's, the migration's
        runs_per_s=runs_per_s,
        vcpu=runs_per_s * cpu_ms / 1000,
    )


def describe(load: DatabaseLoad, prices: Prices) -> list[str]:
    """The deployment's database needs, in words, and what to change when they do not fit."""
    db = prices.database
    lines = [
        f"the database: up to {load.connections:,} connections at full scale ({load.processes} "
        f"bosun processes; max_connections {db.max_connections}) and {_amount(load.vcpu)} vCPU "
        f"at the peak of {_amount(load.runs_per_s)} runs/s ({db.cpu_ms_per_run:g} ms per run + "
        f"{db.cpu_ms_per_step:g} ms per step, measured: docs/scaling.md)"
    ]
    if load.vcpu > db.vcpu * db.target_utilization:
        lines.append(
            f"the database needs {load.vcpu:.1f} vCPU at the peak, more than "
            f"{db.target_utilization:.0%} of its {db.vcpu:g}: a larger instance "
            "(docs/scaling.md has the ceiling of one primary)"
        )
    return lines


def _amount(value: float) -> str:
    """A rate or share for people: `12.3`, `0.064`, or `under 0.001` (never `6.4e-05`)."""
    if value >= 10:
        return f"{value:,.0f}"
    if value >= 0.001:
        return f"{value:.2g}" if value < 1 else f"{value:.1f}"
    return "under 0.001"
