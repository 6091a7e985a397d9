"""kill -9 around a tool call awaiting approval: a worker killed while the run waits loses
nothing (the decision, sent while no worker holds the run, is kept and applied when it
resumes), and a worker killed while the approved tool runs leaves a run that resumes without
asking the human or the model again; only the tool in flight at the kill runs again."""

from __future__ import annotations

import json
import signal

import pytest
from tests.helpers.processes import APPS, Env, wait_exit
from tests.helpers.wait import wait_for

APP = APPS / "approvals_kill.py"
LEASE_TTL = "2"


@pytest.mark.timeout(120)
def test_kill_9_neither_re_asks_nor_re_runs_what_was_journaled(env: Env) -> None:
    hold = env.tmp / "hold"
    hold.touch()  # the refund tool holds while this exists
    env.extra["BOSUN_E2E_HOLD"] = str(hold)
    run_id = env.submit(APP, "refunds", {"message": "refund order 7"})
    worker_a = env.worker(APP, "--lease-ttl", LEASE_TTL, name="a")

    def waiting() -> list[dict[str, str]]:
        run = env.show(run_id)
        return run["pending_approvals"] if run["status"] == "suspended" else []

    (pending,) = wait_for(waiting, 30, "the run to wait for approval", every=0.2)
    worker_a.send_signal(signal.SIGKILL)
    assert worker_a.wait(10) == -signal.SIGKILL

    # No worker runs: the decision waits in the database for the run to resume.
    edit = json.dumps({"order_id": 7, "amount": 25})
    call = pending["call_id"]
    env.ok("runs", "approve", run_id, call, "--edit-json", edit, "--database", env.url)
    worker_b = env.worker(APP, "--lease-ttl", LEASE_TTL, name="b")
    wait_for(lambda: "refund:25" in env.effect_lines(), 30, "the edited refund to start on B")
    worker_b.send_signal(signal.SIGKILL)  # mid-tool: the decision is journaled, the tool not
    assert worker_b.wait(10) == -signal.SIGKILL

    hold.unlink()
    worker_c = env.worker(APP, "--lease-ttl", LEASE_TTL, name="c")
    wait_for(
        lambda: env.count("SELECT count(*) FROM runs WHERE status = 'completed'") == 1,
        60,
        "worker C to finish the run",
    )
    worker_c.send_signal(signal.SIGTERM)
    assert wait_exit(worker_c, 15, env, "c") == 0, env.log("c")

    run = env.show(run_id)
    assert run["result"] == "model saw: refunded $25.00 on order 7"
    assert run["pending_approvals"] == []
    effects = env.effect_lines()
    assert effects.count("llm") == 2  # the proposal and the answer: no replay asked again
    assert effects.count("refund:25") == 2  # in flight at the kill: it ran again, on C
    assert "refund:40" not in effects  # the model's arguments never ran
    (asked,) = [e for e in run["journal"] if e["name"].startswith("bosun.approval:")]
    assert asked["status"] == "completed"
    assert json.loads(asked["output"])["decision"] == "edit"
    types = [r["type"] for r in env.query("SELECT type FROM events WHERE run_id = ?", run_id)]
    assert types.count("approval.requested") == 1  # asked once, through three workers
