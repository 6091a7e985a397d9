"""The Restate service the Restate anchor runs (``pg_restate.py``), served by hypercorn.

``Bench/three(x)``: three ``ctx.run_typed`` steps (x+1, x*2, x-1), each journaled by the
Restate server before the next starts, as in the other anchors' 3-step workflow.
``Bench/stamp()``: one step that returns ``time.time()`` when it starts (submit -> first step).
"""

from __future__ import annotations

import time

import restate

bench = restate.Service("Bench")


def s1(x: int) -> int:
    return x + 1


def s2(x: int) -> int:
    return x * 2


def s3(x: int) -> int:
    return x - 1


@bench.handler()
async def three(ctx: restate.Context, x: int) -> int:
    a = await ctx.run_typed("s1", s1, x=x)
    b = await ctx.run_typed("s2", s2, x=a)
    return await ctx.run_typed("s3", s3, x=b)


def now() -> float:
    return time.time()


@bench.handler()
async def stamp(ctx: restate.Context) -> float:
    return await ctx.run_typed("now", now)


app = restate.app(services=[bench])
