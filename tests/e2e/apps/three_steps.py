"""prepare → slow (BOSUN_E2E_SLOW_SECONDS, default 1.5 s) → finish; each leaves
`<run id>:<step>` in the effects file when it starts."""

from __future__ import annotations

import asyncio
import os

from effects import record

import bosun

app = bosun.App("e2e-three-steps")
SLOW_SECONDS = float(os.environ.get("BOSUN_E2E_SLOW_SECONDS", "1.5"))


@app.step()
async def prepare(run_id: str) -> str:
    record(f"{run_id}:prepare")
    return "prepared"


@app.step()
async def slow(run_id: str) -> str:
    record(f"{run_id}:slow")
    await asyncio.sleep(SLOW_SECONDS)
    return "slow done"


@app.step()
async def finish(run_id: str) -> str:
    record(f"{run_id}:finish")
    return "finished"


@app.workflow()
async def three_steps(ctx: bosun.Context) -> list[str]:
    return [await prepare(ctx.run_id), await slow(ctx.run_id), await finish(ctx.run_id)]
