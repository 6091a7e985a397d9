"""A run held in a step until the test opens a gate, and a workflow that fails.

`gated(gate)`: step `before`, then step `hold`, which waits until the file `gate` exists,
then step `after`. Each step leaves `<run id>:<step>` in the effects file when it starts.
`hogged(gate)` is the same with a `hold` that blocks its worker's event loop meanwhile (a
hung worker: it stops heartbeating).
`broken(reason)` raises at once; `broken_step(reason)` fails for good in its step (an error
its retry policy does not retry); `broken_child(reason)` fails with its child `broken`;
`fine()` completes."""

from __future__ import annotations

import os
import time

from effects import record

import bosun

app = bosun.App("e2e-gated")


@app.step()
async def before(run_id: str) -> str:
    record(f"{run_id}:before")
    return "before"


@app.step()
def hold(run_id: str, gate: str) -> str:
    record(f"{run_id}:hold")
    while not os.path.exists(gate):
        time.sleep(0.05)
    return "held"


@app.step()
async def after(run_id: str) -> str:
    record(f"{run_id}:after")
    return "after"


@app.workflow()
async def gated(ctx: bosun.Context, gate: str) -> list[str]:
    return [await before(ctx.run_id), await hold(ctx.run_id, gate), await after(ctx.run_id)]


@app.step()
async def hog(run_id: str, gate: str) -> str:
    """`hold`, but blocking the event loop: its worker hangs (no heartbeat) until the gate."""
    record(f"{run_id}:hold")
    while not os.path.exists(gate):  # noqa: ASYNC240 (blocks the loop on purpose)
        time.sleep(0.05)  # noqa: ASYNC251
    return "held"


@app.workflow()
async def hogged(ctx: bosun.Context, gate: str) -> list[str]:
    return [await before(ctx.run_id), await hog(ctx.run_id, gate), await after(ctx.run_id)]


@app.workflow()
async def broken(ctx: bosun.Context, reason: str) -> None:
    raise RuntimeError(reason)


@app.step(retry=bosun.Retry(attempts=3, non_retryable=(PermissionError,)))
async def refused(reason: str) -> None:
    raise PermissionError(reason)


@app.workflow()
async def broken_step(ctx: bosun.Context, reason: str) -> None:
    await refused(reason)


@app.workflow()
async def broken_child(ctx: bosun.Context, reason: str) -> None:
    await ctx.child(broken, reason)


@app.workflow()
async def fine(ctx: bosun.Context) -> str:
    return "ok"
