"""The JSON policy through the Python API, on real SQLite and PostgreSQL: a NaN or Infinity in
a result, step output, event or signal is refused naming where, and nothing non-JSON is
stored."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import bosun
from bosun.errors import NonFiniteNumber, RunFailed, SessionNotFound

TIMEOUT = 10


class Stats(BaseModel):  # pydantic's default config would have written NaN as null
    mean: float


@pytest.fixture
def app(any_db_url: str) -> bosun.App:
    return bosun.App("json-policy", database=any_db_url)


async def _failure(handle: bosun.RunHandle[Any]) -> str:
    with pytest.raises(RunFailed) as info:
        await handle.result(TIMEOUT)
    assert info.value.error["type"] == "bosun.errors.NonFiniteNumber"
    return str(info.value.error["message"])


async def test_non_finite_results_outputs_and_events_fail_the_run(app: bosun.App) -> None:
    @app.step()
    async def measure() -> Stats:
        return Stats(mean=float("nan"))

    @app.workflow(name="result")
    async def result(ctx: bosun.Context) -> dict[str, Any]:
        return {"rows": [{"ratio": float("inf")}]}

    @app.workflow(name="step")
    async def step(ctx: bosun.Context) -> float:
        return (await measure()).mean

    @app.workflow(name="event")
    async def event(ctx: bosun.Context) -> None:
        ctx.emit("progress", {"done": float("-inf")})

    async with app, app.worker(concurrency=4):
        handles = [await app.start(wf) for wf in (result, step, event)]
        messages = [await _failure(h) for h in handles]
        stored = [await app.store.get_run(h.run_id) for h in handles]
    assert messages[0].startswith("result of workflow 'result': rows[0].ratio is Infinity,")
    assert (
        "step 'test_non_finite_results_outputs_and_events_fail_the_run.<locals>.measure'"
        in (messages[1])
    )
    assert "mean is NaN" in messages[1]
    assert messages[2].startswith("event 'progress': done is -Infinity,")
    assert all(r is not None and r.status == "failed" and r.result is None for r in stored)


async def test_signals_and_session_data_are_refused_before_they_are_stored(
    app: bosun.App,
) -> None:
    @app.workflow(name="waits")
    async def waits(ctx: bosun.Context) -> Any:
        return await ctx.wait_for_signal("go")

    async with app, app.worker(concurrency=2):
        handle = await app.start(waits)
        with pytest.raises(NonFiniteNumber, match=r"^signal 'go': x is NaN,"):
            await handle.signal("go", {"x": float("nan")})
        await handle.signal("go", {"x": 2.5})
        assert await handle.result(TIMEOUT) == {"x": 2.5}

        session = app.session("chat-1")
        with pytest.raises(NonFiniteNumber, match=r"metadata\.score is Infinity"):
            await session.create({"score": float("inf")})
        with pytest.raises(SessionNotFound):
            await session.record()  # the refused create wrote nothing
        await session.create({"score": 1})
        with pytest.raises(NonFiniteNumber, match=r"state\.n is NaN"):
            await session.set_state({"n": float("nan")})
        record = await session.record()
    assert record.metadata == '{"score":1}' and record.state == "{}"
