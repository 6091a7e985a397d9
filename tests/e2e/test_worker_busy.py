"""`bosun workers` shows how many runs each worker holds, soon after that changes: a run in a
long step counts while the step runs, and stops counting once the run is done. On both
stores."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from tests.helpers.processes import APPS, Env, wait_exit
from tests.helpers.wait import wait_for

APP = APPS / "gated.py"
# The registry's periodic refresh comes every third of the lease TTL: with this one, only an
# update on the change itself can show the count during the test.
LEASE_TTL = "900"


def registered(env: Env, pid: int) -> dict[str, Any] | None:
    listed = json.loads(env.ok("workers", "--database", env.url, "--json"))
    return next((w for w in listed if w["pid"] == pid), None)


@pytest.mark.timeout(120)
def test_busy_counts_the_runs_a_worker_holds(world: Env) -> None:
    gate = world.tmp / "gate"
    world.ok("db", "upgrade", "--database", world.url)  # `bosun workers` needs a database
    worker = world.worker(APP, "--lease-ttl", LEASE_TTL)
    first = wait_for(lambda: registered(world, worker.pid), 60, "the worker to register")
    assert first["busy"] == 0, first

    run_id = world.submit(APP, "gated", {"gate": str(gate)})
    wait_for(lambda: f"{run_id}:hold" in world.effect_lines(), 60, "the long step to start")
    row = wait_for(
        lambda: (w := registered(world, worker.pid)) and w["busy"] >= 1 and w,
        60,
        "`bosun workers` to show the run in its long step",
    )
    assert (row["busy"], row["concurrency"], row["state"]) == (1, 16, "alive"), row

    gate.touch()
    wait_for(
        lambda: world.count(
            f"SELECT count(*) FROM runs WHERE id = '{run_id}' AND status = 'completed'"
        ),
        60,
        "the run to complete",
    )
    wait_for(
        lambda: (w := registered(world, worker.pid)) and w["busy"] == 0,
        60,
        "`bosun workers` to show the worker idle again",
    )
    worker.send_signal(signal.SIGTERM)
    assert wait_exit(worker, 30, world) == 0, world.log()
