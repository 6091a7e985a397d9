"""A workflow of five short steps for the chaos tests.

Each step, when it starts, appends `<run id>:<step>:<pid>:<unix time>` to the effects file
(outside bosun's journal), so a test can tell which process ran it and when; then it sleeps
BOSUN_E2E_STEP_SECONDS (default 0.01 s) so work is in flight when something is killed.
"""

from __future__ import annotations

import asyncio
import os
import time

from effects import record

import bosun

app = bosun.App("e2e-five-steps")
STEP_SECONDS = float(os.environ.get("BOSUN_E2E_STEP_SECONDS", "0.01"))
STEPS = 5


@app.step()
async def work(run_id: str, n: int, step: int) -> int:
    record(f"{run_id}:{step}:{os.getpid()}:{time.time():.6f}")
    await asyncio.sleep(STEP_SECONDS)
    return n * 10 + step


@app.workflow()
async def five_steps(ctx: bosun.Context, n: int) -> list[int]:
    return [await work(ctx.run_id, n, step) for step in range(1, STEPS + 1)]
