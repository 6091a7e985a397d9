"""Steps that outlast any sensible drain grace period: one sync (runs in a thread), one
async. Each leaves `<run id>:<workflow>` in the effects file when it starts."""

from __future__ import annotations

import asyncio
import time

from effects import record

import bosun

app = bosun.App("e2e-overrun")
STEP_SECONDS = 20.0


@app.step()
def blocking_step(run_id: str) -> str:
    record(f"{run_id}:sync_overrun")
    time.sleep(STEP_SECONDS)
    return "done"


@app.step()
async def async_step(run_id: str) -> str:
    record(f"{run_id}:async_overrun")
    await asyncio.sleep(STEP_SECONDS)
    return "done"


@app.workflow()
async def sync_overrun(ctx: bosun.Context) -> str:
    return await blocking_step(ctx.run_id)


@app.workflow()
async def async_overrun(ctx: bosun.Context) -> str:
    return await async_step(ctx.run_id)
