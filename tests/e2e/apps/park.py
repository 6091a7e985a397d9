"""One step, then park until the signal "go": the shape of a run waiting on a human."""

from __future__ import annotations

import bosun

app = bosun.App("e2e-park")


@app.step()
async def touch(n: int) -> int:
    return n


@app.workflow()
async def park(ctx: bosun.Context, n: int) -> int:
    value = await touch(n)
    bonus = await ctx.wait_for_signal("go")
    return value + int(bonus)
