"""A workflow of six slow steps, each leaving a line `<run id>:<step>` in the effects file."""

from __future__ import annotations

import asyncio
import os

from effects import record

import bosun

app = bosun.App("e2e-six-steps")
STEP_SECONDS = float(os.environ.get("BOSUN_E2E_STEP_SECONDS", "0.3"))


@app.step()
async def work(run_id: str, n: int) -> int:
    record(f"{run_id}:{n}")
    await asyncio.sleep(STEP_SECONDS)
    return n


@app.workflow()
async def six_steps(ctx: bosun.Context, steps: int = 6) -> int:
    total = 0
    for n in range(1, steps + 1):
        total += await work(ctx.run_id, n)
    return total
