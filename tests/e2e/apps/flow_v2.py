"""Determinism app, version 2: step_b was replaced by step_x (breaks runs past step_a)."""

from __future__ import annotations

import bosun

app = bosun.App("e2e-flow")


@app.step()
def step_a() -> str:
    return "a"


@app.step()
def step_x() -> str:
    return "x"


@app.step()
def step_c(payload: str) -> str:
    return f"c:{payload}"


@app.workflow()
async def flow(ctx: bosun.Context) -> list[str]:
    done = [await step_a(), await step_x()]
    payload = await ctx.wait_for_signal("go")
    return [*done, await step_c(payload)]
