"""Two steps, one of which logs, for the metrics, logs and tracing commands of the README."""

from __future__ import annotations

import logging

import bosun

app = bosun.App("e2e-observed")
log = logging.getLogger("e2e.observed")


@app.step()
async def double(n: int) -> int:
    return 2 * n


@app.step()
async def charge(amount: int) -> str:
    log.info("charging %d", amount)
    return f"charged {amount}"


@app.workflow(name="observed")
async def observed(ctx: bosun.Context, n: int = 1) -> str:
    return await charge(await double(n))
