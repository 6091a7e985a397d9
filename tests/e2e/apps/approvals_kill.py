"""A refund agent whose refunds wait for approval, for the kill -9 tests: the model leaves
`llm` in the effects file on each call it answers (replays call nothing), and the refund tool
leaves `refund:<amount>` when it starts, then holds while the file BOSUN_E2E_HOLD names exists
(the test kills the worker meanwhile)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from effects import record

import bosun
from bosun.agents.messages import ChatRequest, Message
from bosun.agents.scripted import Rule, ScriptedProvider, last_prompt_text

app = bosun.App("e2e-approvals-kill")


@app.tool(needs_approval=True)
def refund(order_id: int, amount: float) -> str:
    """Refund part of an order.

    Args:
        order_id: the order to refund.
        amount: dollars to refund.
    """
    record(f"refund:{amount:g}")
    hold = Path(os.environ["BOSUN_E2E_HOLD"])
    while hold.exists():  # the test removes it once this worker is dead
        time.sleep(0.02)
    return f"refunded ${amount:.2f} on order {order_id}"


def _after_tool(request: ChatRequest) -> bool:
    return request.messages[-1].role == "tool"


def _answer(request: ChatRequest) -> str:
    record("llm")
    return f"model saw: {last_prompt_text(request)}"


def _propose(request: ChatRequest) -> Message:
    record("llm")
    return ScriptedProvider.tool_call("refund", order_id=7, amount=40)


app.models.register(
    "default", ScriptedProvider(rules=[Rule(_after_tool, _answer), Rule("", _propose)])
)
agent = bosun.Agent(tools=[refund])


@app.workflow(name="refunds")
async def refunds(ctx: bosun.Context, message: str) -> str:
    return str(await agent.run(ctx, message))
