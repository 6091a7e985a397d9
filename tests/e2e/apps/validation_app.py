"""Workflows the JSON-policy and validation tests drive over HTTP."""

from __future__ import annotations

from typing import Any

import bosun

app = bosun.App("validation-tests", lease_ttl=5.0)


@app.workflow(name="echo_signal")
async def echo_signal(ctx: bosun.Context) -> Any:
    return await ctx.wait_for_signal("go")


@app.workflow(name="nan_result")
async def nan_result(ctx: bosun.Context, scores: list[float]) -> dict[str, float]:
    return {"mean": sum(scores) / len(scores) if scores else float("nan")}


@app.workflow(name="echo")
async def echo(ctx: bosun.Context, value: Any = None) -> Any:
    return value
