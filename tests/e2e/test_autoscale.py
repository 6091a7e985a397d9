"""The local autoscaler (`bosun worker APP --autoscale MIN:MAX`): a burst of 300 runs scales
the pool up within two polls, every run completes exactly once, the pool drains back to MIN
after the cooldown, crashed workers are replaced, and SIGTERM drains everything."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from tests.helpers.processes import APPS, Env, wait_exit
from tests.helpers.wait import wait_for

from bosun.loader import load_app

APP = APPS / "long_run.py"
RUNS = 300
MIN, MAX = 1, 4
CONCURRENCY = 4
INTERVAL = 0.5
COOLDOWN = 2.0


def start_supervisor(world: Env, scale: str, *args: str) -> tuple[Any, Path]:
    status = world.tmp / "autoscale.json"
    proc = world.worker(
        APP,
        "--autoscale",
        scale,
        "--scale-interval",
        str(INTERVAL),
        "--cooldown",
        str(COOLDOWN),
        "--concurrency",
        str(CONCURRENCY),
        "--status-file",
        str(status),
        *args,
        name="supervisor",
    )
    return proc, status


def read_status(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def pool_of(path: Path, size: int) -> list[int] | None:
    """The supervisor's worker pids once it runs `size` of them (None before)."""
    workers: list[int] = read_status(path).get("workers", [])
    return workers if len(workers) == size else None


def live_children(pid: int) -> set[int]:
    return {p.pid for p in psutil.Process(pid).children() if p.status() != psutil.STATUS_ZOMBIE}


def serving(world: Env, pid: int) -> bool:
    """Whether worker `pid` logged that it serves (its owner id holds its pid)."""
    return any(
        f":{pid}:" in line and "serving" in line for line in world.log("supervisor").splitlines()
    )


def stop_supervisor(world: Env, proc: Any, status: Path) -> None:
    """SIGTERM the supervisor: it drains its workers and exits 0, leaving none behind."""
    pids = set(read_status(status)["workers"])
    proc.send_signal(signal.SIGTERM)
    assert wait_exit(proc, 60, world, "supervisor") == 0, world.log("supervisor")
    assert not any(psutil.pid_exists(pid) for pid in pids), "a worker outlived its supervisor"


async def burst(world: Env) -> None:
    app = load_app(str(APP))
    app.use_database(world.url)
    async with app:
        for start in range(0, RUNS, 100):
            await asyncio.gather(*(app.start("burst", n=n) for n in range(start, start + 100)))


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_burst_scales_up_within_two_polls_and_back_down_after_the_cooldown(
    world: Env,
) -> None:
    proc, status = start_supervisor(world, f"{MIN}:{MAX}")
    await asyncio.to_thread(wait_for, lambda: pool_of(status, MIN), 30, "MIN workers")
    await burst(world)
    # The first poll that begins after this one completes must see the burst.
    burst_seen_by = read_status(status)["polls"] + 2

    def scaled_up() -> dict[str, Any] | None:
        assert proc.poll() is None, world.log("supervisor")
        now = read_status(status)
        return now if len(now["workers"]) == MAX else None

    up = await asyncio.to_thread(wait_for, scaled_up, 30, f"{MAX} workers")
    first = up["events"][0]
    assert (first["from"], first["to"]) == (MIN, MAX), up["events"]
    assert first["poll"] <= burst_seen_by, f"scaled up at poll {first['poll']}: {up['events']}"
    assert len(live_children(proc.pid) & set(up["workers"])) == MAX

    def completed() -> bool:
        assert proc.poll() is None, world.log("supervisor")
        return world.count("SELECT count(*) FROM runs WHERE status = 'completed'") == RUNS

    await asyncio.to_thread(wait_for, completed, 60, f"{RUNS} completed runs", 0.2)
    lines = world.effect_lines()
    assert len(lines) == RUNS == len(set(lines)), "a run's step ran twice or never"

    def scaled_down() -> dict[str, Any] | None:
        now = read_status(status)
        return now if len(now["workers"]) == MIN and not now["draining"] else None

    down = await asyncio.to_thread(wait_for, scaled_down, 30, "the pool back at MIN")
    last = down["events"][-1]
    assert last["to"] == MIN and last["poll"] > first["poll"], down["events"]
    assert last["seconds_below"] >= COOLDOWN, down["events"]
    assert live_children(proc.pid) == set(down["workers"]), "drained workers still running"
    log = world.log("supervisor")
    assert f"scaled to {MAX} worker(s) from {MIN}" in log, log
    assert "outlived its grace period" not in log, log
    print(f"\nautoscale: {RUNS} runs; scaling events {down['events']}")

    stop_supervisor(world, proc, status)
    assert world.count("SELECT count(*) FROM runs WHERE status = 'completed'") == RUNS


@pytest.mark.timeout(60)
def test_a_crashed_worker_is_replaced_and_sigterm_drains_the_pool(env: Env) -> None:
    proc, status = start_supervisor(env, "2:2")
    workers = wait_for(lambda: pool_of(status, 2), 30, "2 workers")
    psutil.Process(workers[0]).kill()

    def replaced() -> list[int] | None:
        now = read_status(status)
        return now["workers"] if now["restarts"] == 1 and len(now["workers"]) == 2 else None

    after = wait_for(replaced, 30, "the crashed worker replaced")
    assert workers[0] not in after and workers[1] in after, (workers, after)
    # A worker stopped before it installs its signal handlers just dies (it holds nothing
    # yet); wait until both serve, so that the drain below is a real one.
    wait_for(lambda: all(serving(env, pid) for pid in after), 30, "both workers serving")
    assert f"worker pid {workers[0]} exited with code -9; restarting" in env.log("supervisor")
    stop_supervisor(env, proc, status)
    assert env.log("supervisor").count("drained (exit 0)") == 2, env.log("supervisor")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.timeout(60)
def test_workers_drain_when_their_supervisor_is_killed(env: Env) -> None:
    proc, status = start_supervisor(env, "1:1")
    (worker,) = wait_for(lambda: pool_of(status, 1), 30, "1 worker")
    wait_for(lambda: serving(env, worker), 30, "the worker serving")
    proc.kill()  # no chance to drain its workers: the kernel tells them instead
    wait_for(lambda: not psutil.pid_exists(worker), 30, "the orphaned worker to exit")
    assert any(
        f":{worker}:" in line and "stopped:" in line for line in env.log("supervisor").splitlines()
    ), "the orphaned worker did not drain"


def test_autoscale_refuses_drain_mode_options(env: Env) -> None:
    done = env.bosun(
        "worker", str(APP), "--autoscale", "1:2", "--until-idle", "--database", env.url
    )
    assert done.returncode == 2, done.stderr
    assert "cannot be combined with --until-idle" in done.stderr
    done = env.bosun("worker", str(APP), "--autoscale", "4", "--database", env.url)
    assert done.returncode == 2 and "MIN:MAX" in done.stderr, done.stderr
