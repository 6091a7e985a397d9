"""SIGTERM drains: the step in flight finishes and is journaled, the run goes no further on
the draining worker, and its lease is released so another worker continues at once."""

from __future__ import annotations

import signal
import time

import pytest

from conftest import APPS, Env, wait_exit, wait_for

APP = APPS / "three_steps.py"
SLOW_SECONDS = 1.5
LEASE_TTL = 30.0  # far longer than the test: only an explicit release lets B in quickly


@pytest.mark.timeout(60)
def test_sigterm_finishes_the_step_in_flight_then_hands_the_run_back(env: Env) -> None:
    run_id = env.submit(APP, "three_steps")
    worker_a = env.worker(APP, "--lease-ttl", str(LEASE_TTL), "--grace", "10", name="a")
    wait_for(lambda: f"{run_id}:slow" in env.effect_lines(), 30, "the slow step to start on A")
    slow_seen_at = time.time()
    time.sleep(0.3)
    worker_a.send_signal(signal.SIGTERM)
    terminated_at = time.time()

    assert wait_exit(worker_a, 10, env, "a") == 0, env.log("a")
    exited_at = time.time()
    # A waited for the slow step rather than cutting it short…
    assert exited_at >= slow_seen_at + SLOW_SECONDS - 0.2, (
        f"A exited {exited_at - terminated_at:.2f} s after SIGTERM, before the slow step ended"
    )
    # …journaled its completion, went no further, and released the lease.
    after_a = env.show(run_id)
    by_name = {e["name"].rsplit(".", 1)[-1]: e for e in after_a["journal"] if e["kind"] == "step"}
    assert by_name["slow"]["status"] == "completed", after_a["journal"]
    assert "finish" not in by_name, "the run continued to its next step on the draining worker"
    assert f"{run_id}:finish" not in env.effect_lines()
    assert after_a["status"] == "queued", after_a
    assert after_a["lease_owner"] is None, after_a

    started_b = time.monotonic()
    worker_b = env.worker(APP, "--lease-ttl", str(LEASE_TTL), "--until-idle", name="b")
    assert wait_exit(worker_b, 20, env, "b") == 0, env.log("b")
    took_b = time.monotonic() - started_b
    print(
        f"\ndrain: A exited {exited_at - terminated_at:.2f} s after SIGTERM; "
        f"B (process start included) completed the run in {took_b:.2f} s"
    )
    assert took_b < 5, f"B needed {took_b:.1f} s: was the lease released or did it expire?"

    final = env.show(run_id)
    assert final["status"] == "completed", final
    assert final["result"] == ["prepared", "slow done", "finished"]
    assert sorted(env.effect_lines()) == sorted(
        f"{run_id}:{step}" for step in ("prepare", "slow", "finish")
    ), "every step ran exactly once across the drain"


@pytest.mark.parametrize("workflow", ["sync_overrun", "async_overrun"])
@pytest.mark.timeout(60)
def test_sigterm_exits_after_the_grace_period_when_a_step_overruns(env: Env, workflow: str) -> None:
    app = APPS / "overrun.py"
    run_id = env.submit(app, workflow)
    worker = env.worker(app, "--lease-ttl", str(LEASE_TTL), "--grace", "1")
    wait_for(lambda: f"{run_id}:{workflow}" in env.effect_lines(), 30, "the long step to start")
    worker.send_signal(signal.SIGTERM)
    terminated_at = time.monotonic()

    # The step takes 20 s; the grace period is 1 s. Past it the worker must give up on the
    # step (it will run again elsewhere: at least once) and exit, not keep the pod alive.
    code = wait_exit(worker, 8, env)
    took = time.monotonic() - terminated_at
    assert code == 0, env.log()
    print(f"\n{workflow}: worker exited {took:.2f} s after SIGTERM with --grace 1")
    run = env.show(run_id)
    assert run["status"] == "queued", run
    assert run["lease_owner"] is None, run
    assert not any(e["status"] == "completed" for e in run["journal"]), run["journal"]


@pytest.mark.timeout(60)
def test_sigterm_while_the_app_loads_stops_the_worker_cleanly(env: Env) -> None:
    worker = env.worker(APPS / "slow_import.py", name="slow")
    marker = env.effects.with_name(env.effects.name + ".importing")
    wait_for(marker.exists, 30, "the app's import to start")
    worker.send_signal(signal.SIGTERM)  # the worker's loop and handlers do not exist yet
    assert wait_exit(worker, 30, env, "slow") == 0, env.log("slow")
    assert "draining" in env.log("slow")
