"""SIGTERM drains: the step in flight finishes and is journaled, the run goes no further on
the draining worker, and its lease is released so another worker continues at once."""

from __future__ import annotations

import signal

import pytest
from tests.helpers.processes import APPS, Env, wait_exit
from tests.helpers.wait import wait_for

APP = APPS / "three_steps.py"
# Far longer than the test: a run that B can take while the test runs was released, since
# only a worker's explicit release frees a lease this long before it expires.
LEASE_TTL = 3600.0


@pytest.mark.timeout(120)
def test_sigterm_finishes_the_step_in_flight_then_hands_the_run_back(env: Env) -> None:
    gate = env.tmp / "slow-gate"  # the slow step ends once this file exists
    env.extra["BOSUN_E2E_SLOW_GATE"] = str(gate)
    run_id = env.submit(APP, "three_steps")
    worker_a = env.worker(APP, "--lease-ttl", str(LEASE_TTL), "--grace", "60", name="a")
    wait_for(lambda: f"{run_id}:slow" in env.effect_lines(), 30, "the slow step to start on A")
    worker_a.send_signal(signal.SIGTERM)
    wait_for(lambda: "draining" in env.log("a"), 30, "A to begin draining")
    # Draining, A waits for the step in flight rather than cutting it short: the step
    # cannot end before the gate opens, nor A exit before the step ends.
    assert worker_a.poll() is None, f"A exited mid-step:\n{env.log('a')}"
    gate.touch()
    assert wait_exit(worker_a, 60, env, "a") == 0, env.log("a")

    # …journaled its completion, went no further, and released the lease: the run is
    # queued and unleased (an expired lease would leave it `running`, still leased to A).
    after_a = env.show(run_id)
    by_name = {e["name"].rsplit(".", 1)[-1]: e for e in after_a["journal"] if e["kind"] == "step"}
    assert by_name["slow"]["status"] == "completed", after_a["journal"]
    assert "finish" not in by_name, "the run continued to its next step on the draining worker"
    assert f"{run_id}:finish" not in env.effect_lines()
    assert after_a["status"] == "queued", after_a
    assert after_a["lease_owner"] is None, after_a
    [leased] = env.query("SELECT lease_owner, lease_expires_at FROM runs WHERE id = ?", run_id)
    assert tuple(leased) == (None, None), tuple(leased)
    assert "1 handed back, 0 abandoned" in env.log("a"), env.log("a")  # A's summary line

    # B exits as soon as it finds nothing to claim (--until-idle): it completes the run only
    # if the run was claimable at once, which a lease of an hour is only once released.
    worker_b = env.worker(APP, "--lease-ttl", str(LEASE_TTL), "--until-idle", name="b")
    assert wait_exit(worker_b, 60, env, "b") == 0, env.log("b")

    final = env.show(run_id)
    assert final["status"] == "completed", (final, env.log("b"))
    assert final["result"] == ["prepared", "slow done", "finished"]
    assert sorted(env.effect_lines()) == sorted(
        f"{run_id}:{step}" for step in ("prepare", "slow", "finish")
    ), "every step ran exactly once across the drain"


@pytest.mark.parametrize("workflow", ["sync_overrun", "async_overrun"])
@pytest.mark.timeout(90)
def test_sigterm_exits_after_the_grace_period_when_a_step_overruns(env: Env, workflow: str) -> None:
    app = APPS / "overrun.py"
    run_id = env.submit(app, workflow)
    worker = env.worker(app, "--lease-ttl", str(LEASE_TTL), "--grace", "1")
    wait_for(lambda: f"{run_id}:{workflow}" in env.effect_lines(), 30, "the long step to start")
    worker.send_signal(signal.SIGTERM)

    # The step takes 20 s; the grace period is 1 s. Past it the worker must give up on the
    # step (it will run again elsewhere: at least once) and exit, not keep the pod alive:
    # had it waited for the step instead, the step would be journaled as completed.
    assert wait_exit(worker, 60, env) == 0, env.log()
    run = env.show(run_id)
    assert not any(e["status"] == "completed" for e in run["journal"]), run["journal"]
    assert run["status"] == "queued", run
    assert run["lease_owner"] is None, run
    assert "1 handed back, 1 abandoned" in env.log(), env.log()


@pytest.mark.timeout(60)
def test_sigterm_while_the_app_loads_stops_the_worker_cleanly(env: Env) -> None:
    worker = env.worker(APPS / "slow_import.py", name="slow")
    marker = env.effects.with_name(env.effects.name + ".importing")
    wait_for(marker.exists, 30, "the app's import to start")
    worker.send_signal(signal.SIGTERM)  # the worker's loop and handlers do not exist yet
    assert wait_exit(worker, 30, env, "slow") == 0, env.log("slow")
    assert "draining" in env.log("slow")
