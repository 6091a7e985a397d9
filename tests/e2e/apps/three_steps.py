"""prepare → slow (BOSUN_E2E_SLOW_SECONDS, default 1.5 s; or, with BOSUN_E2E_SLOW_GATE set,
until that file exists) → finish; each leaves `<run id>:<step>` in the effects file when it
starts."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from effects import record

import bosun

app = bosun.App("e2e-three-steps")
SLOW_SECONDS = float(os.environ.get("BOSUN_E2E_SLOW_SECONDS", "1.5"))
SLOW_GATE = os.environ.get("BOSUN_E2E_SLOW_GATE")


@app.step()
async def prepare(run_id: str) -> str:
    record(f"{run_id}:prepare")
    return "prepared"


def _wait_for_gate(gate: Path) -> None:
    while not gate.exists():
        time.sleep(0.02)


@app.step()
async def slow(run_id: str) -> str:
    record(f"{run_id}:slow")
    if SLOW_GATE is None:
        await asyncio.sleep(SLOW_SECONDS)
    else:  # the test decides when the step ends
        await asyncio.to_thread(_wait_for_gate, Path(SLOW_GATE))
    return "slow done"


@app.step()
async def finish(run_id: str) -> str:
    record(f"{run_id}:finish")
    return "finished"


@app.workflow()
async def three_steps(ctx: bosun.Context) -> list[str]:
    return [await prepare(ctx.run_id), await slow(ctx.run_id), await finish(ctx.run_id)]
