"""Drain mode (`bosun worker APP --until-idle --max-seconds N`): a long run made of short steps
completes across many time-boxed invocations with every step run exactly once; a step that
would overrun the budget is cut short and its run handed back at once; a worker that cannot
hand its runs back says so with exit status 3."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from tests.helpers.processes import APPS, Env, PgEnv, summary, wait_exit
from tests.helpers.wait import wait_for

LONG = APPS / "long_run.py"
OVERRUN = APPS / "overrun.py"
BUDGET = 2.0
EXIT_TOLERANCE = 15.0  # process start and shutdown on a loaded machine; not a speed bound
MAX_INVOCATIONS = 40


def invoke(world: Env, app: object, name: str, *args: str) -> tuple[int, dict[str, int]]:
    """One time-boxed invocation to its end: its exit status and its summary."""
    proc = world.worker(str(app), "--until-idle", "--max-seconds", str(BUDGET), *args, name=name)
    code = wait_exit(proc, BUDGET + EXIT_TOLERANCE, world, name)
    return code, summary(world.log(name))


@pytest.mark.timeout(120)
def test_a_long_run_completes_across_time_boxed_invocations(world: Env) -> None:
    run_id = world.submit(LONG, "long_run")
    totals: Counter[str] = Counter()
    invocations = 0
    # run ids are hex: safe to inline, and the same SQL for both databases
    done = f"SELECT count(*) FROM runs WHERE id = '{run_id}' AND status = 'completed'"
    while not world.count(done):
        assert invocations < MAX_INVOCATIONS, f"not done after {invocations} invocations"
        code, counts = invoke(world, LONG, f"invocation-{invocations}")
        assert code == 0, world.log(f"invocation-{invocations}")
        totals.update(counts)
        invocations += 1

    run = world.show(run_id)
    assert run["result"] == sum(i * i for i in range(30))
    # Every step ran exactly once across all the invocations: nothing lost, nothing repeated.
    assert sorted(world.effect_lines()) == sorted(f"{run_id}:{i}" for i in range(30))
    assert invocations >= 5, f"the run fit in {invocations} invocation(s) of {BUDGET} s"
    assert totals["handed_back"] >= 3, totals  # the run moved between invocations…
    assert totals["suspended"] == 1, totals  # …slept once in between…
    assert totals["completed"] == 1, totals  # …and completed once
    assert totals["abandoned"] == totals["kept"] == totals["lost"] == 0, totals
    print(f"\nlong run: 30 steps done across {invocations} invocations of {BUDGET} s; {totals}")


@pytest.mark.parametrize("workflow", ["async_overrun", "sync_overrun"])
@pytest.mark.timeout(90)
def test_a_step_that_overruns_the_budget_is_cut_short_and_handed_back(
    env: Env, workflow: str
) -> None:
    run_id = env.submit(OVERRUN, workflow)
    code, counts = invoke(env, OVERRUN, "first")
    assert code == 0, env.log("first")
    assert counts["abandoned"] == counts["handed_back"] == 1, counts
    run = env.show(run_id)
    assert run["status"] == "queued" and run["lease_owner"] is None, run
    assert not any(e["status"] == "completed" for e in run["journal"]), run["journal"]

    # The lease (30 s) was released, not left to expire: the next invocation takes the run
    # at once and starts the step again (steps run at least once).
    code, counts = invoke(env, OVERRUN, "second")
    assert code == 0, env.log("second")
    assert counts["handed_back"] == 1, counts
    assert env.effect_lines() == [f"{run_id}:{workflow}"] * 2


def _pg_admin(database: str) -> tuple[str, str]:
    """(admin URL, database name) for a test database URL."""
    parts = urlsplit(database)
    return parts._replace(path="/postgres").geturl(), parts.path.lstrip("/")


def _cut_off(database: str, allow: bool) -> None:
    admin_url, name = _pg_admin(database)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}'.encode())
        if not allow:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


@pytest.mark.postgres
@pytest.mark.timeout(90)
def test_exit_status_3_when_the_runs_cannot_be_handed_back(pg_env: PgEnv) -> None:
    run_id = pg_env.submit(OVERRUN, "async_overrun")
    proc = pg_env.worker(OVERRUN, "--until-idle", "--max-seconds", str(BUDGET), name="cut-off")
    wait_for(lambda: pg_env.effect_lines(), 30, "the long step to start")
    _cut_off(pg_env.database, allow=False)  # the database goes away mid-step
    try:
        code = wait_exit(proc, 60, pg_env, "cut-off")
    finally:
        _cut_off(pg_env.database, allow=True)
    log = pg_env.log("cut-off")
    assert code == 3, log
    counts: dict[str, Any] = summary(log)
    assert counts["abandoned"] == counts["kept"] == 1 and counts["handed_back"] == 0, counts
    run = pg_env.show(run_id)
    assert run["lease_owner"] is not None, run  # it resumes once the lease expires


def test_a_grace_that_does_not_fit_the_budget_is_a_usage_error(env: Env) -> None:
    done = env.bosun(
        "worker",
        str(LONG),
        "--until-idle",
        "--max-seconds",
        "2",
        "--grace",
        "5",
        "--database",
        env.url,
    )
    assert done.returncode == 2, done.stderr
    assert "shorter than --max-seconds" in done.stderr, done.stderr
