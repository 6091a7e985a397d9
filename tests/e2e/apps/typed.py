"""A workflow with typed inputs, for the CLI's input validation."""

from __future__ import annotations

import bosun

app = bosun.App("e2e-typed")


@app.step()
def double(value: int) -> int:
    return value * 2


@app.workflow()
async def count_up(ctx: bosun.Context, count: int, label: str = "n") -> str:
    return f"{label}={await double(count)}"
