"""One workflow that reports which event loop its worker runs on (`bosun worker --loop`)."""

import asyncio

import bosun

app = bosun.App("loop-probe")


@app.step()
async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


@app.workflow()
async def probe(ctx: bosun.Context) -> str:
    return await loop_module()
