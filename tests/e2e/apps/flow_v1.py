"""Determinism app, version 1: step_a → step_b → wait for "go" → step_c."""

from __future__ import annotations

import bosun

app = bosun.App("e2e-flow")


@app.step()
def step_a() -> str:
    return "a"


@app.step()
def step_b() -> str:
    return "b"


@app.step()
def step_c(payload: str) -> str:
    return f"c:{payload}"


@app.workflow()
async def flow(ctx: bosun.Context) -> list[str]:
    done = [await step_a(), await step_b()]
    payload = await ctx.wait_for_signal("go")
    return [*done, await step_c(payload)]
