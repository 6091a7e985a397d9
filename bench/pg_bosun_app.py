"""The bosun app the PostgreSQL benchmark runs, in-process and under ``bosun worker`` processes.

``pg_bosun.py`` imports it (and points ``app`` at the measurement's database); worker
processes load it as ``bosun worker bench/pg_bosun_app.py --database URL``. Workflows:

- ``three(x)``: three no-op steps (x+1, x*2, x-1), as in the SQLite core benchmark;
- ``one(x)``: a single no-op step;
- ``chain(x, n)``: ``n`` no-op steps in sequence (durable steps/s);
- ``stamp()``: one step that returns ``time.time()`` when it starts (enqueue-to-start latency);
- ``hold()``: one step that returns ``time.time()`` when it starts, but under a worker started
  with ``BENCH_HOLD=1`` it first blocks forever (a run held by the worker that gets SIGKILLed).
"""

from __future__ import annotations

import asyncio
import os
import time

import bosun

app = bosun.App("bench")


@app.step()
async def s1(x: int) -> int:
    return x + 1


@app.step()
async def s2(x: int) -> int:
    return x * 2


@app.step()
async def s3(x: int) -> int:
    return x - 1


@app.workflow()
async def three(ctx: bosun.Context, x: int) -> int:
    return await s3(await s2(await s1(x)))


@app.workflow()
async def one(ctx: bosun.Context, x: int) -> int:
    return await s1(x)


@app.workflow()
async def chain(ctx: bosun.Context, x: int, n: int) -> int:
    for _ in range(n):
        x = await s1(x)
    return x


@app.step()
async def now() -> float:
    return time.time()


@app.workflow()
async def stamp(ctx: bosun.Context) -> float:
    return await now()


@app.step()
async def held() -> float:
    started = time.time()
    if os.environ.get("BENCH_HOLD") == "1":
        await asyncio.Event().wait()  # until this worker is killed
    return started


@app.workflow()
async def hold(ctx: bosun.Context) -> float:
    return await held()
