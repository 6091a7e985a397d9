"""An App whose workflows use three queues: default, gpu and vision (for `bosun deploy`)."""

import bosun

app = bosun.App("depth")


@app.workflow(queue="default")
async def chat(ctx: bosun.Context, n: int) -> int:
    return n


@app.workflow(queue="gpu")
async def render_frame(ctx: bosun.Context, n: int) -> int:
    return n


@app.workflow(queue="vision")
async def train(ctx: bosun.Context, n: int) -> int:
    return n
