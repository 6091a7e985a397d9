"""A workflow of a few short steps for the fleet test and benchmark (many worker processes).

Each step, when it starts, appends `<run id>:<step>:<pid>:<unix time>` to the effects file
(outside bosun's journal), then sleeps BOSUN_FLEET_STEP_SECONDS (default 0.02 s). The run has
BOSUN_FLEET_STEPS steps (default 2) and returns [n * 10 + step for each step].
"""

from __future__ import annotations

import asyncio
import os
import time

from effects import record

import bosun

app = bosun.App("e2e-fleet")
STEP_SECONDS = float(os.environ.get("BOSUN_FLEET_STEP_SECONDS", "0.02"))
STEPS = int(os.environ.get("BOSUN_FLEET_STEPS", "2"))


@app.step()
async def work(run_id: str, n: int, step: int) -> int:
    if os.environ.get("BOSUN_E2E_EFFECTS"):
        record(f"{run_id}:{step}:{os.getpid()}:{time.time():.6f}")
    await asyncio.sleep(STEP_SECONDS)
    return n * 10 + step


@app.workflow()
async def fleet_run(ctx: bosun.Context, n: int) -> list[int]:
    return [await work(ctx.run_id, n, step) for step in range(1, STEPS + 1)]
