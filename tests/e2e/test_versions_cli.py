"""Deployment versions from the command line: `bosun worker --version`, `bosun workers`,
and `bosun runs list --version`."""

from __future__ import annotations

import json
import signal

import pytest
from tests.helpers.processes import APPS, Env, wait_exit
from tests.helpers.wait import wait_for

APP = APPS / "three_steps.py"


@pytest.mark.timeout(60)
def test_workers_advertise_their_version_and_runs_are_listed_by_it(env: Env) -> None:
    worker = env.worker(
        APP, "--version", "blue", "--compatible-with", "azure", "--queue", "default", name="blue"
    )

    def registered() -> list[dict[str, object]]:
        done = env.bosun("workers", "--database", env.url, "--json")
        if done.returncode != 0:  # the worker has not created the database yet
            return []
        return [w for w in json.loads(done.stdout) if w["version"] == "blue"]

    [entry] = wait_for(registered, 20, "the worker to register")
    assert entry["queues"] == ["default"] and entry["state"] == "alive"
    assert entry["concurrency"] == 16
    assert entry["compatible"] == ["azure"]  # may take over azure's runs

    run_id = env.submit(APP, "three_steps")
    wait_for(lambda: env.show(run_id)["status"] == "completed", 30, "the run to complete")
    listed = json.loads(
        env.ok("runs", "list", "--database", env.url, "--version", "blue", "--json")
    )
    assert [r["id"] for r in listed] == [run_id]
    assert (
        json.loads(env.ok("runs", "list", "--database", env.url, "--version", "green", "--json"))
        == []
    )
    assert "blue" in env.ok("workers", "--database", env.url)

    worker.send_signal(signal.SIGTERM)
    assert wait_exit(worker, 20, env, "blue") == 0, env.log("blue")
    assert (
        json.loads(env.ok("workers", "--database", env.url, "--json")) == []
    )  # retired on a clean exit
