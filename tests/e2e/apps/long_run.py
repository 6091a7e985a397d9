"""A long run made of short steps: by default 30 steps of 0.3 s with a durable 1 s sleep
after the 15th (the issue's "three-hour agent run", scaled down). Each step leaves
`<run id>:<i>` in the effects file when it starts; `burst` is one short step, for the
autoscaler's burst."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from effects import record

import bosun

app = bosun.App("e2e-long-run")
STEPS = 30
STEP_SECONDS = 0.3
SLEEP_AFTER = 15


@app.step()
async def work(run_id: str, i: int) -> int:
    record(f"{run_id}:{i}")
    await asyncio.sleep(STEP_SECONDS)
    return i * i


@app.workflow()
async def long_run(ctx: bosun.Context, steps: int = STEPS, sleep_after: int = SLEEP_AFTER) -> int:
    total = 0
    for i in range(steps):
        total += await work(ctx.run_id, i)
        if i + 1 == sleep_after:
            await ctx.sleep(timedelta(seconds=1))
    return total


@app.step()
async def short(run_id: str) -> str:
    record(run_id)
    await asyncio.sleep(0.05)
    return "done"


@app.workflow()
async def burst(ctx: bosun.Context, n: int) -> int:
    await short(ctx.run_id)
    return n
