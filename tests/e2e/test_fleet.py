"""A fleet of worker processes on one PostgreSQL server of `max_connections = 100`, its own
(initdb on a free port), SIGKILLing a random worker every second while runs are submitted.

Through PgBouncer's transaction pooling every run completes exactly once and nothing is ever
refused. Without a pooler the same fleet asks for more connections than the server has: the
workers that are refused say so, naming the limit and their budget, and keep trying, while
the others run everything; nothing is lost.

The fleet here is 50 processes, so that the test stays within a minute on a 2-core machine;
`bench/fleet.py` runs the 200-process fleet of docs/scaling.md with the same code
(`tests/helpers/fleet.py`). Numbers are printed, never asserted.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from tests.helpers.fleet import FleetPlan, FleetReport, check_exactly_once, run_fleet

# Both tests load the machine's every core: one xdist process runs them, one after the other.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fleet"), pytest.mark.timeout(300)]

PLAN = FleetPlan(
    workers=50,
    runs=500,
    steps=2,
    concurrency=2,
    pool_max=2,
    bouncer_pool=20,
    max_connections=100,
    submit_seconds=5.0,
    kill_every=1.0,
    poll_interval=1.0,
    idle_seconds=2.0,
)


def show(report: FleetReport, repeated: int) -> None:
    print(f"\nfleet: {json.dumps(report.summary())}; {repeated} step start(s) repeated")


def test_a_fleet_through_pgbouncer_runs_every_run_once_while_workers_are_killed(
    tmp_path: Path,
) -> None:
    report = run_fleet(PLAN, tmp_path)
    repeated = check_exactly_once(report)
    show(report, repeated)
    assert report.completed == PLAN.runs
    assert len(report.kills) >= 3, "the kills hit nothing: the test exercised nothing"
    assert report.registered_workers == PLAN.workers, "every worker got in"
    assert report.refused_workers == 0 and report.too_many_clients == 0, report.limit_messages
    # The server saw PgBouncer's pool and the test's own connections, not the fleet's.
    assert report.peak_server_connections <= PLAN.bouncer_pool + 10
    assert report.exit_code == 0, "a worker did not drain cleanly"


def test_the_same_fleet_without_a_pooler_is_refused_cleanly_and_loses_nothing(
    tmp_path: Path,
) -> None:
    plan = replace(PLAN, pooler=False)
    report = run_fleet(plan, tmp_path)
    repeated = check_exactly_once(report)
    show(report, repeated)
    # 50 processes of up to 2 + 1 connections each want more than the 97 slots left to them.
    assert report.refused_workers > 0, "the server never refused: the fleet fits after all"
    message = report.limit_messages[0]
    assert "max_connections" in message and "pool_max" in message, message
    assert "retrying" in message, message
    assert report.completed == plan.runs, "runs were lost"
    assert report.exit_code == 0, "a worker did not drain cleanly"
