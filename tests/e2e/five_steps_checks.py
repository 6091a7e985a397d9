"""Checks shared by the chaos tests on apps/five_steps.py (PostgreSQL, several workers)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.helpers.processes import APPS, PgEnv

APP = APPS / "five_steps.py"
STEPS = 5


def expected_result(n: int) -> list[int]:
    return [n * 10 + step for step in range(1, STEPS + 1)]


@dataclass(frozen=True)
class Start:
    """One start of a step, as the effects file recorded it (outside the journal)."""

    run_id: str
    step: int
    pid: int
    at: float


def step_starts(env: PgEnv) -> dict[tuple[str, int], list[Start]]:
    """Every step start the effects file saw, by (run, step), oldest first."""
    found: dict[tuple[str, int], list[Start]] = defaultdict(list)
    for line in env.effect_lines():
        run_id, step, pid, at = line.split(":")
        found[run_id, int(step)].append(Start(run_id, int(step), int(pid), float(at)))
    for starts in found.values():
        starts.sort(key=lambda s: s.at)
    return found


def _not_completed(env: PgEnv) -> list[dict[str, Any]]:
    return env.query(
        "SELECT id, status, error FROM runs "
        "WHERE status IN ('failed', 'cancelled', 'blocked') LIMIT 5"
    )


async def wait_all_completed(
    env: PgEnv, total: int, within: float, check_alive: Callable[[], None], logs: Callable[[], str]
) -> float:
    """Wait until `total` runs are completed; return when (UNIX time). Fail at once if a run
    ends any other way or `check_alive` fails, and after `within` seconds with the counts."""
    give_up = time.monotonic() + within
    while True:
        done = await asyncio.to_thread(
            env.count, "SELECT count(*) FROM runs WHERE status = 'completed'"
        )
        if done == total:
            return time.time()
        ended_badly = await asyncio.to_thread(_not_completed, env)
        assert not ended_badly, f"runs ended without completing: {ended_badly}\n{logs()}"
        check_alive()
        if time.monotonic() > give_up:
            states = await asyncio.to_thread(
                env.query,
                "SELECT status, lease_owner IS NOT NULL AS leased, count(*) AS n "
                "FROM runs GROUP BY 1, 2",
            )
            raise AssertionError(
                f"after {within} s only {done}/{total} runs completed ({states}):\n{logs()}"
            )
        await asyncio.sleep(0.1)


def assert_all_completed(env: PgEnv, inputs: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Every run completed with its own result and full journal, holds no lease, and every
    journaled step left an effect; nothing is `running`. Returns the runs' rows by id."""
    runs = {r["id"]: r for r in env.query("SELECT * FROM runs")}
    assert set(runs) == set(inputs), "runs appeared or vanished"
    for run_id, n in inputs.items():
        run = runs[run_id]
        assert run["status"] == "completed", run
        assert json.loads(run["result"]) == expected_result(n), run
        assert run["lease_owner"] is None and run["lease_token"] is None, run
    assert env.count("SELECT count(*) FROM runs WHERE status = 'running'") == 0

    journal: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for e in env.query("SELECT run_id, seq, kind, status, output FROM journal"):
        journal[e["run_id"]][e["seq"]] = e
    for run_id, n in inputs.items():
        entries = journal[run_id]
        assert sorted(entries) == [str(s) for s in range(1, STEPS + 1)], entries
        for step, value in enumerate(expected_result(n), start=1):
            entry = entries[str(step)]
            assert entry["kind"] == "step" and entry["status"] == "completed", entry
            assert json.loads(entry["output"]) == value, entry

    started = set(step_starts(env))
    assert started == {(r, s) for r in inputs for s in range(1, STEPS + 1)}, (
        "a journaled step left no effect, or an unknown step ran"
    )
    return runs
