"""A worker that stops leaves runs leased to it. On this machine a worker killed with
`kill -9` is recognised as dead from its pid, and the next worker takes its runs over at
once instead of after the lease (30 s by default); a worker that hangs (here: SIGSTOP) is
alive as far as anyone can tell, so its runs wait for the lease, and the waiting worker's
log says so and until when. Either way a journaled step never runs twice and a late write
of the old worker fails."""

from __future__ import annotations

import json
import signal
from collections import Counter

import pytest
from tests.helpers.processes import APPS, Env, wait_exit
from tests.helpers.wait import wait_for

APP = APPS / "gated.py"


def steps_run(env: Env, run_id: str) -> Counter[str]:
    return Counter(line.split(":", 1)[1] for line in env.effect_lines() if line.startswith(run_id))


def worker_id(env: Env, name: str) -> str:
    """The id a worker logs when it starts (`worker <id> (version …) serving …`)."""
    found = wait_for(
        lambda: next(
            (
                json.loads(line)["message"].split()[1]
                for line in env.log(name).splitlines()
                if line.startswith("{") and "serving" in line
            ),
            None,
        ),
        60,
        f"worker {name} to start",
    )
    return str(found)


def completed(env: Env, run_id: str) -> bool:
    return bool(
        env.count(f"SELECT count(*) FROM runs WHERE id = '{run_id}' AND status = 'completed'")
    )


def assert_each_journaled_step_ran_once(env: Env, run_id: str, middle: str = "hold") -> None:
    run = env.show(run_id)
    assert run["status"] == "completed", run
    assert run["result"] == ["before", "held", "after"], run
    assert run["attempts"] == 2, run  # claimed by the first worker, then taken over
    steps = [e for e in run["journal"] if e["kind"] == "step"]
    assert [(e["name"].split(".")[-1], e["status"]) for e in steps] == [
        ("before", "completed"),
        (middle, "completed"),
        ("after", "completed"),
    ], steps
    ran = steps_run(env, run_id)
    # `before` was journaled before the first worker stopped: it never ran again. `hold` was
    # in flight: it ran again on the second worker (steps run at least once).
    assert ran == Counter({"before": 1, "hold": 2, "after": 1}), ran


@pytest.mark.timeout(120)
def test_kill_9_the_next_worker_on_this_machine_takes_over_at_once(world: Env) -> None:
    gate = world.tmp / "gate"
    run_id = world.submit(APP, "gated", {"gate": str(gate)})
    first = world.worker(APP, name="first")  # the default 30 s lease
    first_id = worker_id(world, "first")
    wait_for(lambda: steps_run(world, run_id)["hold"] == 1, 60, "the long step to start")

    first.send_signal(signal.SIGKILL)
    assert first.wait(30) == -signal.SIGKILL
    gate.touch()  # the step finishes at once when it runs again
    second = world.worker(APP, name="second")  # the default 30 s lease too

    wait_for(lambda: completed(world, run_id), 60, "the second worker to complete the run")
    log = world.log("second")
    # It did not wait out the 30 s lease: it found the first worker's process gone.
    gone = f"worker {first_id} (pid {first.pid} on this machine) is gone"
    assert gone in log, log
    assert f"run {run_id}: taken over from worker {first_id}, whose process is gone" in log, log
    assert "taking over then" not in log, log
    assert_each_journaled_step_ran_once(world, run_id)
    second.send_signal(signal.SIGTERM)
    assert wait_exit(second, 30, world, "second") == 0, log


@pytest.mark.timeout(180)
def test_a_hung_worker_is_waited_for_and_the_wait_is_logged(world: Env) -> None:
    """A step blocks its worker's event loop: the process runs, so nothing tells it is dead,
    but its heartbeat stops. The other worker logs which run waits on whose lease until when,
    takes it over once the lease expired, and the hung worker's late write fails."""
    gate = world.tmp / "gate"
    run_id = world.submit(APP, "hogged", {"gate": str(gate)})
    # A lease long enough that the other worker surely looks while it still holds: the hung
    # worker counts as stalled half a TTL after its last heartbeat (6 s), its lease ends a
    # whole TTL after its last renewal (12 s), and the other worker looks every second.
    hung = world.worker(APP, "--lease-ttl", "12", name="hung")
    hung_id = worker_id(world, "hung")
    wait_for(lambda: steps_run(world, run_id)["hold"] == 1, 60, "the hung worker to hang")
    # Renewed before the hang at the latest; nothing renews it now.
    [row] = world.query(f"SELECT lease_expires_at FROM runs WHERE id = '{run_id}'")
    lease_left = row["lease_expires_at"]
    other = world.worker(APP, "--lease-ttl", "6", name="other")

    waiting = f"run {run_id}: lease held by worker {hung_id} (stopped heartbeating"
    wait_for(lambda: waiting in world.log("other"), 90, "the other worker to log the wait")
    taken = f"run {run_id}: taken over from worker {hung_id}, which stopped heartbeating"
    wait_for(lambda: taken in world.log("other"), 90, "the other worker to take the run over")
    gate.touch()  # both copies of the step end; the hung worker wakes up
    wait_for(lambda: completed(world, run_id), 90, "the other worker to complete the run")

    log = world.log("other")
    assert log.count(waiting) == 1, log  # once per lease, not once per look
    assert "is gone" not in log, log
    run = world.show(run_id)
    hold = next(e for e in run["journal"] if e["name"].endswith("hog"))
    assert hold["started_at"] >= lease_left, (hold, lease_left)  # it waited out the lease
    # Woken, the hung worker's write of its copy of the step fails the fence.
    wait_for(
        lambda: "another worker owns it now" in world.log("hung"),
        60,
        "the hung worker to find its lease lost",
    )
    assert_each_journaled_step_ran_once(world, run_id, "hog")
    for proc, name in ((other, "other"), (hung, "hung")):
        proc.send_signal(signal.SIGTERM)
        assert wait_exit(proc, 30, world, name) == 0, world.log(name)
