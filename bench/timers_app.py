"""The workflow `bench/timers.py` measures: sleep, then report when the next step started."""

from __future__ import annotations

import time

import bosun

app = bosun.App("timers-bench")


@app.step()
async def now() -> float:
    return time.time()


@app.workflow()
async def sleeper(ctx: bosun.Context, delay: float) -> float:
    await ctx.sleep(delay)
    return await now()
