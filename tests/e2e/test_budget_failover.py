"""kill -9 a worker in the middle of a budgeted agent's tool call: the worker that takes over
counts what the first one spent, and every call after, and stops the run at its budget."""

from __future__ import annotations

import json
import signal
from collections import Counter
from typing import Any

import pytest
from tests.helpers.processes import APPS, Env, wait_exit
from tests.helpers.wait import wait_for

APP = APPS / "budgeted_agent.py"
TOKENS, COST = 600, 0.6  # the app's limits
LEASE_TTL = 2.0
CALLS_BEFORE_KILL = 2


def _spent(run: dict[str, Any]) -> list[tuple[int, float]]:
    """(tokens, cost) of each LLM call the run's journal records, in order."""
    spent = []
    for entry in run["journal"]:
        if entry["kind"] == "llm" and entry["status"] == "completed":
            output = json.loads(entry["output"])
            usage = output["response"]["usage"]
            spent.append((usage["prompt_tokens"] + usage["completion_tokens"], output["cost"]))
    return spent


@pytest.mark.timeout(90)
def test_a_run_budget_holds_across_a_kill_9_of_the_worker(world: Env) -> None:
    hold = world.tmp / "hold"
    hold.touch()  # every `note` tool call waits while this file exists
    runs = {world.submit(APP, "tokens"): "tokens", world.submit(APP, "cost"): "cost"}
    worker_a = world.worker(APP, "--lease-ttl", str(LEASE_TTL), name="a")

    def notes() -> Counter[str]:
        return Counter(line.split(":")[0] for line in world.effect_lines())

    def holding_mid_way() -> bool:  # each run's second tool call is in flight, held
        return all(notes()[run_id] == CALLS_BEFORE_KILL for run_id in runs)

    wait_for(holding_mid_way, 30, "both runs to hold in their second tool call on worker A")
    worker_a.send_signal(signal.SIGKILL)
    assert worker_a.wait(10) == -signal.SIGKILL
    hold.unlink()

    worker_b = world.worker(APP, "--lease-ttl", str(LEASE_TTL), name="b")
    wait_for(
        lambda: world.count("SELECT count(*) FROM runs WHERE status = 'failed'") == len(runs),
        45,
        "worker B to stop both runs at their budgets",
    )
    worker_b.send_signal(signal.SIGTERM)
    assert wait_exit(worker_b, 15, world, "b") == 0, world.log("b")

    for run_id, limit_kind in runs.items():
        run = world.show(run_id)
        assert run["attempts"] >= 2, f"run {run_id} was not reclaimed: {run}"
        error = run["error"]
        assert error["type"] == "bosun.agents.errors.BudgetExceeded", error
        spent = _spent(run)
        if limit_kind == "tokens":
            assert f"token limit {TOKENS} reached" in error["message"], error
            amounts: list[float] = [tokens for tokens, _ in spent]
            limit: float = TOKENS
        else:
            assert f"cost limit ${COST:.4f} reached" in error["message"], error
            amounts, limit = [cost for _, cost in spent], COST
        # Worker B made at least two calls, with a tool call between them, before the one
        # that crossed the limit; and none after it.
        assert len(amounts) >= CALLS_BEFORE_KILL + 2, amounts
        assert sum(amounts[:-1]) < limit <= sum(amounts), (amounts, limit)
