"""Workflows the HTTP API fuzz tests submit: typed inputs (scalars and a pydantic model), one
started by the event `demo.event`, and one that waits for a signal."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

import bosun

app = bosun.App("e2e-api")


class Order(BaseModel):
    sku: str = Field(min_length=1, max_length=40)
    quantity: int = Field(ge=1, le=100)


@app.step()
def shout(text: str) -> str:
    return text.upper()


@app.workflow()
async def greet(ctx: bosun.Context, name: str, times: int = 1) -> str:
    """Greet `name`, `times` times."""
    return " ".join([await shout(f"hello {name}")] * max(0, min(times, 5)))


@app.workflow()
async def place_order(ctx: bosun.Context, order: Order, note: str | None = None) -> dict[str, Any]:
    """Accept an order (a pydantic model input)."""
    return {"sku": order.sku, "quantity": order.quantity, "note": note}


@app.workflow(on_event="demo.event")
async def on_demo_event(ctx: bosun.Context, event: Any) -> str:
    """Started by `POST /v1/events/demo.event`; the body is its input."""
    return await shout(type(event).__name__)


@app.workflow()
async def needs_approval(ctx: bosun.Context, item: str) -> str:
    """Wait for the signal `decision`."""
    decision = await ctx.wait_for_signal("decision", timeout=60)
    return f"{item}: {decision}"
