"""The workflows `bench/http_api.py` drives over HTTP.

`noop` waits in a queue the server's worker does not serve, so submitting it measures the API
and the insert, nothing else. `broadcast` waits for the signal "go", then emits `count` events
`gap` seconds apart, each carrying the wall-clock time it was emitted at.

It lives in bench/apps/, not bench/, because `bosun server` puts the app's folder on sys.path
and bench/http_api.py would then shadow the standard library's `http` package.
"""

from __future__ import annotations

import asyncio
import time

import bosun

app = bosun.App("http-bench")
IDLE_QUEUE = "http-bench-idle"


@app.step()
async def nothing() -> None:
    return None


@app.workflow(queue=IDLE_QUEUE)
async def noop(ctx: bosun.Context) -> None:
    await nothing()


@app.step()
async def pause(seconds: float) -> None:
    await asyncio.sleep(seconds)


@app.workflow()
async def broadcast(ctx: bosun.Context, count: int, gap: float) -> int:
    await ctx.wait_for_signal("go")
    for i in range(count):
        # The event is committed with the step's start, right after this line.
        ctx.emit("tick", {"i": i, "t": time.time()})
        await pause(gap)
    return count
