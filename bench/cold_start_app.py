"""The plain workflow `bench/cold_start.py` measures: one step that reports when it started."""

from __future__ import annotations

import time

import bosun

app = bosun.App("cold-start-bench")


@app.step()
async def started() -> float:
    return time.time()


@app.workflow()
async def first(ctx: bosun.Context) -> float:
    return await started()
