"""A refund agent whose refunds wait for a human's approval, on an offline scripted model: the
HTTP, CLI and UI tests of approvals drive it. The model proposes `refund(order_id=7,
amount=40)` for any message, then answers `model saw: <the tool's result>`."""

from __future__ import annotations

from datetime import timedelta

import bosun
from bosun.agents.messages import ChatRequest
from bosun.agents.scripted import Rule, ScriptedProvider, last_prompt_text

app = bosun.App("approvals-e2e")


@app.tool(needs_approval=True, approval_timeout=timedelta(hours=1))
def refund(order_id: int, amount: float) -> str:
    """Refund part of an order.

    Args:
        order_id: the order to refund.
        amount: dollars to refund.
    """
    return f"refunded ${amount:.2f} on order {order_id}"


def _after_tool(request: ChatRequest) -> bool:
    return request.messages[-1].role == "tool"


app.models.register(
    "default",
    ScriptedProvider(
        rules=[
            Rule(_after_tool, lambda r: f"model saw: {last_prompt_text(r)}"),
            Rule("", ScriptedProvider.tool_call("refund", order_id=7, amount=40)),
        ]
    ),
)

agent = bosun.Agent(system="You refund orders.", tools=[refund])


@app.workflow(name="refunds")
async def refunds(ctx: bosun.Context, message: str) -> str:
    """Handle one customer message; refunds wait for a human."""
    return str(await agent.run(ctx, message))
