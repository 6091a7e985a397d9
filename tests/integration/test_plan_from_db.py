"""`bosun plan --from-db`: a known workload run through a real App and worker on each
store, then fitted back into a profile whose numbers match what was run."""

from __future__ import annotations

import asyncio
import time

import pytest

import bosun
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import ScriptedProvider
from bosun.plan import advise, parse_profile, profile_from_store

RUNS = 6
STEP_S = 0.2
SLEEP_S = 0.3
PAYLOAD = "x" * 4000


@pytest.fixture
def app(any_db_url: str) -> bosun.App:
    return bosun.App("planned", database=any_db_url)


async def _run_known_workload(app: bosun.App) -> list[str]:
    """Six runs created together on queue gpu-infer: two steps, one durable sleep, one LLM
    call each; a barrier in the first step holds all six executing at once."""
    app.models.register(
        "default",
        ScriptedProvider(script=["ok"] * RUNS),
        ModelConfig(alias="default", provider="scripted", model="scripted"),
    )
    together = asyncio.Barrier(RUNS)

    @app.step()
    async def gather_inputs(text: str) -> int:
        await asyncio.wait_for(together.wait(), 10)
        await asyncio.sleep(STEP_S)
        return len(text)

    @app.step()
    async def write_up(size: int) -> str:
        await asyncio.sleep(STEP_S)
        return f"{size} characters"

    @app.workflow(queue="gpu-infer")
    async def research(ctx: bosun.Context, text: str) -> str:
        size = await gather_inputs(text)
        await ctx.sleep(SLEEP_S)
        await ctx.llm.chat("summarise")
        return await write_up(size)

    async with app, app.worker(queues=["gpu-infer"], concurrency=RUNS + 2):
        handles = [await app.start(research, PAYLOAD) for _ in range(RUNS)]
        for handle in handles:
            assert await handle.result(timeout=30) == f"{len(PAYLOAD)} characters"
    return [h.run_id for h in handles]


async def test_profile_fitted_from_real_runs(app: bosun.App) -> None:
    began = time.time()
    await _run_known_workload(app)
    window = time.time() - began  # no run can have been active for longer than this
    base = parse_profile(
        {
            "name": "research",
            "arrivals": {"runs_per_hour": 1},
            "runs": {"duration_s": {"p50": 1, "p95": 2}},
            "team": {"devops": 2},
        }
    )
    async with app:
        sample = await app.store.workload_sample(time.time() - 3600)
        profile = await profile_from_store(app.store, days=1, base=base)

    assert sample.total == RUNS and len(sample.runs) == RUNS
    assert sample.queues == ["gpu-infer"]
    measured = profile.measured
    assert measured is not None
    assert measured["runs"] == RUNS and measured["finished_runs"] == RUNS
    assert measured["failed_runs"] == 0
    assert measured["peak_concurrency"] == RUNS  # the barrier held all six at once
    assert measured["gpu_queues"] == ["gpu-infer"]
    # Created within a second of each other: one burst of six in the first hour observed.
    assert profile.arrivals.pattern == "bursty"
    assert profile.arrivals.burst_size == RUNS
    assert profile.arrivals.runs_per_hour == pytest.approx(RUNS)
    assert profile.runs.steps == 2 and profile.runs.llm_calls == 1
    # Active time excludes the durable sleep: two steps of STEP_S, plus replay and claims.
    assert 2 * STEP_S <= profile.runs.duration_s.p50 <= profile.runs.duration_s.p95 <= window
    assert STEP_S <= profile.runs.longest_step_s <= window
    # State: the input (JSON-quoted payload) plus result and journal outputs.
    assert len(PAYLOAD) / 1024 < profile.runs.state_kb < 2 * len(PAYLOAD) / 1024
    # What runs cannot show comes from the YAML base; the measured fields replaced its own.
    assert profile.name == "research" and profile.team.devops == 2
    advice = advise(profile, seed=1)
    assert advice.recommendation is not None


async def test_window_excludes_older_runs_and_empty_window_is_an_error(app: bosun.App) -> None:
    await _run_known_workload(app)
    async with app:
        later = time.time() + 3 * 86400  # the runs are now three days old
        with pytest.raises(bosun.ConfigurationError, match="no finished runs in the last 1 days"):
            await profile_from_store(app.store, days=1, now=later)
        profile = await profile_from_store(app.store, days=7, now=later)
    measured = profile.measured
    assert measured is not None and measured["runs"] == RUNS
    # Six runs over the three days observed: 6 / 72 an hour.
    assert profile.arrivals.runs_per_hour == pytest.approx(RUNS / 72, rel=0.01)
