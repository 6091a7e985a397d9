"""The line `bosun worker` logs as it exits counts what happened to the runs it held: a run
whose workflow raised, or whose step failed for good, counts as failed; one that finished, as
completed. On both stores."""

from __future__ import annotations

import re

import pytest
from tests.helpers.processes import APPS, Env, summary, wait_exit

APP = APPS / "gated.py"


@pytest.mark.timeout(120)
def test_the_exit_summary_counts_failed_and_completed_runs(world: Env) -> None:
    failing = [
        world.submit(APP, "broken", {"reason": "the workflow raised"}),
        world.submit(APP, "broken_step", {"reason": "the step failed for good"}),
        world.submit(APP, "broken_child", {"reason": "the child failed"}),
    ]
    completing = [world.submit(APP, "fine") for _ in range(2)]

    code = wait_exit(world.worker(APP, "--until-idle"), 60, world)
    log = world.log()
    assert code == 0, log

    statuses = {run_id: world.show(run_id)["status"] for run_id in failing + completing}
    assert [statuses[r] for r in failing] == ["failed"] * 3, (statuses, log)
    assert [statuses[r] for r in completing] == ["completed"] * 2, (statuses, log)
    counts = summary(log)
    # Four runs failed: the three, and the child of the third. The parent's wait for its
    # child is one suspension; nothing else happened.
    assert counts == {
        "completed": 2,
        "failed": 4,
        "suspended": 1,
        "blocked": 0,
        "handed_back": 0,
        "abandoned": 0,
        "lost": 0,
        "kept": 0,
    }, log


RETRYING = """
import bosun

app = bosun.App("retrying")


@app.step(retry=bosun.Retry(attempts=3, initial=30))
def flaky() -> None:
    raise RuntimeError("not yet")


@app.workflow()
async def retries(ctx: bosun.Context) -> None:
    await flaky()
"""


@pytest.mark.timeout(120)
def test_a_run_left_waiting_to_retry_is_named_as_the_worker_exits(world: Env) -> None:
    """After a step's first failure the run waits 30 s to retry: not failed, not done. The
    `--until-idle` worker that leaves it says so, instead of a bare "0 failed"."""
    app = world.tmp / "retrying.py"
    app.write_text(RETRYING)
    run_id = world.submit(app, "retries")
    assert wait_exit(world.worker(app, "--until-idle"), 60, world) == 0
    log = world.log()
    assert summary(log)["failed"] == 0 and summary(log)["suspended"] == 1, log
    assert re.search(r"left 1 suspended run\(s\) due again within the hour, the first in \d", log)
    assert world.show(run_id)["status"] == "suspended"
