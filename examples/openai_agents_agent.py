"""An OpenAI Agents SDK support desk, made durable by bosun with one call.

The agents below are plain `agents.Agent`s, as a team using the OpenAI Agents SDK writes
them: a triage agent that answers order questions and hands refunds to a refunds agent,
with function tools. The bosun part is the workflow at the bottom:
`openai_agents.run(ctx, triage, question)`. Every model call, tool call and handoff is a
journaled step: kill the worker in the middle of a run and start another, and no model is
asked twice and no refund is paid twice.

    pip install 'bosun[openai-agents]'
    bosun dev examples/openai_agents_agent.py
    bosun run --url http://127.0.0.1:8000 --api-key "$(cat .bosun/dev-key)" support \\
        --follow --input '{"question": "Where is order 1001?"}'
    bosun run --url … support --input '{"question": "Please refund order 1002, it broke."}'

With `OPENAI_API_KEY` set the agents call OpenAI (the Responses API, as the SDK does by
default; `OPENAI_BASE_URL` points them elsewhere). Without it, the example runs offline: a
scripted model is registered as the bosun model alias the agents name (`gpt-4.1-mini`), and
a name that is a bosun alias is served by bosun's provider. It knows the orders in `ORDERS`.
"""

from __future__ import annotations

import os
import re

from agents import Agent, RunConfig, function_tool

import bosun
from bosun.agents.messages import ChatRequest, Message
from bosun.agents.scripted import ScriptedProvider
from bosun.integrations import openai_agents

app = bosun.App("openai-agents-support")

MODEL = "gpt-4.1-mini"
OFFLINE = not os.environ.get("OPENAI_API_KEY")
ORDERS = {
    "1001": {"item": "kettle", "status": "shipped", "paid": 39.0},
    "1002": {"item": "toaster", "status": "delivered", "paid": 54.5},
    "1003": {"item": "blender", "status": "refunded", "paid": 80.0},
}
REFUNDS: list[str] = []  # what `refund` paid back, in this process


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up by its number.

    Args:
        order_id: the number on the receipt, e.g. 1001.
    """
    order = ORDERS.get(order_id.strip().lstrip("#"))
    if order is None:
        return f"no order {order_id}"
    return f"order {order_id}: {order['item']}, {order['status']}, paid ${order['paid']:.2f}"


@function_tool
def refund(order_id: str, reason: str) -> str:
    """Refund a delivered order in full.

    Args:
        order_id: the order's number.
        reason: why the customer wants the money back.
    """
    order = ORDERS[order_id]
    REFUNDS.append(order_id)  # the side effect: in a real desk, a call to the payment API
    order["status"] = "refunded"
    return f"refunded ${order['paid']:.2f} for order {order_id} ({reason})"


refunds = Agent(
    name="Refunds",
    handoff_description="Refunds delivered orders.",
    instructions="You handle refunds. Look the order up, refund it if it was delivered.",
    model=MODEL,
    tools=[lookup_order, refund],
)

triage = Agent(
    name="Triage",
    instructions=(
        "You answer questions about orders with lookup_order. Hand refund requests to the "
        "refunds agent."
    ),
    model=MODEL,
    tools=[lookup_order],
    handoffs=[refunds],
)


@app.workflow(name="support")
async def support(ctx: bosun.Context, question: str) -> str:
    """Answer one customer message."""
    config = RunConfig(workflow_name="support", tracing_disabled=OFFLINE)
    result = await openai_agents.run(ctx, triage, question, run_config=config)
    return f"[{result.last_agent.name}] {result.final_output}"


# -- the offline model -----------------------------------------------------------------------

ORDER = re.compile(r"\b(\d{4})\b")


def _answer(request: ChatRequest) -> Message | str:
    system = request.messages[0].text
    question = next(m.text for m in request.messages if m.role == "user")
    order = ORDER.search(question)
    last = request.messages[-1]
    called = {c.id: c.name for m in request.messages for c in m.tool_calls}
    tool = called.get(last.tool_call_id or "") if last.role == "tool" else None
    if order is None:
        return "I can look orders up and refund delivered ones: tell me the order number."
    number = order.group(1)
    if system.startswith("You handle refunds"):
        if tool != "lookup_order" and tool != "refund":
            return ScriptedProvider.tool_call("lookup_order", order_id=number)
        if tool == "lookup_order":
            if "delivered" not in last.text:
                return f"Order {number} cannot be refunded: {last.text}."
            return ScriptedProvider.tool_call("refund", order_id=number, reason=question)
        return f"Done: {last.text}."
    if "refund" in question.lower():
        return ScriptedProvider.tool_call("transfer_to_refunds")
    if tool == "lookup_order":
        return f"Here is what I found: {last.text}."
    return ScriptedProvider.tool_call("lookup_order", order_id=number)


if OFFLINE:
    app.models.register(MODEL, ScriptedProvider(fallback=_answer))
