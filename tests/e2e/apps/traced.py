"""A workflow that sleeps, retries, then hangs in a step until a gate file exists (so a test
can kill its worker mid-step), each step leaving a line in the effects file."""

from __future__ import annotations

import logging
import os
import time

from effects import record

import bosun

app = bosun.App("e2e-traced")
log = logging.getLogger("e2e.traced")


@app.step()
async def first() -> str:
    record("first")
    return "1"


@app.step(retry=bosun.Retry(attempts=3, initial=0.1))
async def flaky() -> str:
    attempt = bosun.current_context().attempt
    record(f"flaky:{attempt}")
    if attempt == 1:
        raise RuntimeError("transient")
    return "2"


@app.step()
def hang() -> str:
    record("hang")
    while not os.path.exists(os.environ["BOSUN_E2E_GATE"]):
        time.sleep(0.05)
    return "3"


@app.step()
async def last() -> str:
    log.info("finishing the run")
    return "4"


@app.workflow(name="traced")
async def traced(ctx: bosun.Context) -> list[str]:
    one = await first()
    await ctx.sleep(0.2)
    two = await flaky()
    three = await hang()
    return [one, two, three, await last()]
