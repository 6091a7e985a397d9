"""kill -9 a worker mid-run: another worker takes over, and every step whose completion was
journaled ran exactly once. On this machine the other worker finds the killed process gone
and takes over at once, without waiting for the leases to expire (test_takeover.py has a
worker that hangs instead, whose leases are waited out)."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import pytest
from tests.helpers.processes import APPS, Env, wait_exit
from tests.helpers.wait import wait_for

APP = APPS / "six_steps.py"
RUNS = 4
STEPS = 6
LEASE_TTL = 2.0


def _completed_steps(env: Env, run_id: str) -> set[int]:
    rows = env.query(
        "SELECT output FROM journal WHERE run_id = ? AND kind = 'step' AND status = 'completed'",
        run_id,
    )
    return {int(r["output"]) for r in rows}


@pytest.mark.timeout(90)
def test_sigkill_mid_run_recovers_and_runs_journaled_steps_once(env: Env) -> None:
    ids = [env.submit(APP, "six_steps", {"steps": STEPS}) for _ in range(RUNS)]
    worker_a = env.worker(APP, "--lease-ttl", str(LEASE_TTL), name="a")

    def all_mid_way() -> bool:
        done = Counter(line.split(":")[0] for line in env.effect_lines())
        return all(2 <= done[i] < STEPS for i in ids)

    wait_for(all_mid_way, 30, "every run to be mid-way on worker A")
    worker_a.send_signal(signal.SIGKILL)
    killed_at = time.time()
    assert worker_a.wait(10) == -signal.SIGKILL

    # Nothing writes now: this is exactly what the crash left behind.
    ran_at_kill = Counter(env.effect_lines())
    lease_left = {r["id"]: r["lease_expires_at"] for r in env.query("SELECT * FROM runs")}
    journaled_at_kill = {i: _completed_steps(env, i) for i in ids}
    in_flight = {
        i: {n for n in range(1, STEPS + 1) if ran_at_kill[f"{i}:{n}"]} - journaled_at_kill[i]
        for i in ids
    }
    for i in ids:
        assert len(in_flight[i]) <= 1, f"run {i}: more than one step unjournaled: {in_flight[i]}"
        assert len(journaled_at_kill[i]) < STEPS, f"run {i} finished before the kill"

    # Not --until-idle: B takes A's runs over as it finds A's process gone (or, were that
    # missed, as A's leases expire), not necessarily before its first claim.
    worker_b = env.worker(APP, "--lease-ttl", str(LEASE_TTL), name="b")
    wait_for(
        lambda: env.count("SELECT count(*) FROM runs WHERE status = 'completed'") == RUNS,
        30,
        "worker B to complete every run",
    )
    worker_b.send_signal(signal.SIGTERM)
    assert wait_exit(worker_b, 15, env, "b") == 0, env.log("b")

    ran = Counter(env.effect_lines())
    recovered_at = []
    for i in ids:
        run = env.show(i)
        assert run["status"] == "completed", run
        assert run["result"] == sum(range(1, STEPS + 1))
        assert run["attempts"] >= 2, f"run {i} was not reclaimed: {run}"
        steps = [e for e in run["journal"] if e["kind"] == "step"]
        assert [int(e["output"]) for e in steps] == list(range(1, STEPS + 1))
        assert all(e["status"] == "completed" for e in steps)
        for n in range(1, STEPS + 1):
            times = ran[f"{i}:{n}"]
            if n in in_flight[i]:
                # Interrupted by the crash: at least once means it ran again on B.
                assert times == 2, f"run {i} step {n} (in flight at the kill) ran {times}x"
            else:
                assert times == 1, f"run {i} step {n} ran {times}x (journaled: exactly once)"
        resumed_at = min(e["started_at"] for e in steps if e["started_at"] > killed_at)
        # B took a run over before the lease A left (renewed every TTL/3 until the kill)
        # expired only because it found A's process gone.
        assert lease_left[i] is not None, lease_left
        if resumed_at < lease_left[i]:
            assert f"(pid {worker_a.pid} on this machine) is gone" in env.log("b"), env.log("b")
        recovered_at.append(resumed_at)
        # The event stream tells the same story: positions without gaps, every step
        # completed exactly once (replayed steps emit nothing), one final event.
        events = env.query("SELECT seq, type, data FROM events WHERE run_id = ? ORDER BY seq", i)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        completed = [json.loads(e["data"])["seq"] for e in events if e["type"] == "step.completed"]
        assert sorted(completed, key=int) == [str(n) for n in range(1, STEPS + 1)], completed
        assert [e["type"] for e in events].count("run.completed") == 1
        assert events[-1]["type"] == "run.completed"

    print(
        f"\nrecovery after kill -9: first step on B {min(recovered_at) - killed_at:.2f} s after "
        f"the kill (lease TTL {LEASE_TTL} s); last run resumed after "
        f"{max(recovered_at) - killed_at:.2f} s; "
        f"{sum(map(len, in_flight.values()))} interrupted step(s) ran again"
    )
