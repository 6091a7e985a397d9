"""Code changed under a parked run: replay that diverges blocks the run with a precise
message; the fixed deploy resumes it; `ctx.version` lets new and old runs coexist."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers.processes import APPS, Env


def deploy(env: Env, version: str) -> Path:
    """Put version `version` of the app at the one path every worker loads."""
    target = env.tmp / "flow_app.py"
    shutil.copyfile(APPS / f"flow_{version}.py", target)
    return target


def drain(env: Env, app: Path) -> None:
    """Run a worker until nothing is ready or running."""
    env.ok("worker", str(app), "--database", env.url, "--until-idle")


def steps_of(run: dict) -> list[str]:
    return [e["name"] for e in run["journal"] if e["kind"] == "step"]


def test_changed_step_order_blocks_the_run_until_the_old_code_is_back(env: Env) -> None:
    app = deploy(env, "v1")
    run_id = env.submit(app, "flow")
    drain(env, app)
    parked = env.show(run_id)
    assert parked["status"] == "suspended", parked
    assert steps_of(parked) == ["step_a", "step_b"]

    app = deploy(env, "v2")
    env.ok("runs", "signal", run_id, "go", "--payload", '"now"', "--database", env.url)
    drain(env, app)
    blocked = env.show(run_id)
    assert blocked["status"] == "blocked", blocked
    message = blocked["error"]["message"]
    assert "'step_b'" in message and "'step_x'" in message, message
    assert "position 2" in message, message
    assert f"bosun runs resume {run_id}" in message, message
    assert steps_of(blocked) == ["step_a", "step_b"], "a blocked run must not run new steps"

    app = deploy(env, "v1")
    env.ok("runs", "resume", run_id, "--database", env.url)
    drain(env, app)
    done = env.show(run_id)
    assert done["status"] == "completed", done
    assert done["result"] == ["a", "b", "c:now"]
    assert done["error"] is None
    assert steps_of(done) == ["step_a", "step_b", "step_c"]


def test_version_branch_keeps_old_runs_on_the_old_path_and_new_runs_on_the_new(
    env: Env,
) -> None:
    app = deploy(env, "v1")
    old_run = env.submit(app, "flow")
    drain(env, app)
    assert env.show(old_run)["status"] == "suspended"

    app = deploy(env, "v3")
    new_run = env.submit(app, "flow")
    for run_id in (old_run, new_run):
        env.ok("runs", "signal", run_id, "go", "--payload", '"now"', "--database", env.url)
    drain(env, app)

    old, new = env.show(old_run), env.show(new_run)
    assert old["status"] == "completed", old
    assert old["result"] == ["a", "b", "c:now"]
    assert steps_of(old) == ["step_a", "step_b", "step_c"]
    assert new["status"] == "completed", new
    assert new["result"] == ["a", "x", "c:now"]
    assert steps_of(new) == ["step_a", "step_x", "step_c"]
    versions = {
        name: [e["output"] for e in run["journal"] if e["kind"] == "version"]
        for name, run in (("old", old), ("new", new))
    }
    assert versions == {"old": ["0"], "new": ["1"]}, versions
