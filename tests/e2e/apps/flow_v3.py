"""Determinism app, version 3: step_b becomes step_x behind ctx.version, so runs that
already passed that point keep step_b and new runs take step_x."""

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
def step_x() -> str:
    return "x"


@app.step()
def step_c(payload: str) -> str:
    return f"c:{payload}"


@app.workflow()
async def flow(ctx: bosun.Context) -> list[str]:
    first = await step_a()
    second = await step_x() if ctx.version("b-to-x") >= 1 else await step_b()
    payload = await ctx.wait_for_signal("go")
    return [first, second, await step_c(payload)]
