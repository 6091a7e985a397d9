"""A support agent: looks up an order, computes a refund, and refunds it, asking a human to
approve refunds over $25 (the run waits for the approval holding no worker).

    bosun dev examples/support_agent.py
    bosun run --url http://127.0.0.1:8000 --api-key "$(cat .bosun/dev-key)" support \\
        --input '{"message": "My kettle from order 7 arrived broken, refund half please"}' --follow
    # a full refund ($40) waits for a human:
    bosun run --url … support --input '{"message": "Order 7 is broken, refund it all"}'
    bosun runs signal --url … RUN_ID approval --payload '{"ok": true, "by": "alice"}'

Offline by default: a scripted model plays the LLM's part, deterministically. To use a real
one, point bosun at any OpenAI-compatible server (OpenAI, vLLM, Ollama, LM Studio):

    export BOSUN_LLM_MODEL=gpt-4o-mini BOSUN_LLM_API_KEY=sk-…        # OpenAI
    export BOSUN_LLM_MODEL=qwen2.5:7b BOSUN_LLM_BASE_URL=http://localhost:11434/v1  # Ollama

Every model call and tool call is journaled: kill the worker while the run waits for the
approval and start another; nothing is asked or billed twice.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic import BaseModel

import bosun
from bosun.agents.messages import ChatRequest, Message
from bosun.agents.scripted import Rule, ScriptedProvider

app = bosun.App("support")

ORDERS = {
    7: {"item": "electric kettle", "price": 40.0, "status": "delivered"},
    8: {"item": "teapot", "price": 25.0, "status": "shipped"},
}


def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order by its number.

    Args:
        order_id: the order number the customer gave.
    """
    order = ORDERS.get(order_id)
    if order is None:
        raise LookupError(f"there is no order {order_id}")
    return {"order_id": order_id, **order}


def calculate(expression: str) -> float:
    """Evaluate an arithmetic expression such as `40 * 0.5`.

    Args:
        expression: numbers with + - * / and parentheses.
    """
    if not set(expression) <= set("0123456789.+-*/() "):
        raise ValueError("only numbers and + - * / ( ) are allowed")
    return float(eval(expression, {"__builtins__": {}}))


AUTO_APPROVE_LIMIT = 25.0  # dollars refunded without asking a human


async def request_refund(ctx: bosun.Context, order_id: int, amount: float) -> str:
    """Refund part of an order. Refunds over $25 need a human's approval first.

    Args:
        order_id: the order to refund.
        amount: the amount in dollars.
    """
    if amount <= AUTO_APPROVE_LIMIT:
        return f"refunded ${amount:.2f} on order {order_id}, approved by policy"
    ctx.emit("approval.requested", {"order_id": order_id, "amount": amount})
    decision = await ctx.wait_for_signal("approval", timeout=3600)
    if not decision.get("ok"):
        return f"refund of ${amount:.2f} was refused by {decision.get('by', 'a human')}"
    return f"refunded ${amount:.2f} on order {order_id}, approved by {decision.get('by', '?')}"


class Resolution(BaseModel):
    """What the agent did, for the ticketing system."""

    order_id: int
    refunded: float
    reply: str


agent = bosun.Agent(
    system=(
        "You are a support agent for a kitchenware shop. Look orders up before acting; "
        "compute amounts with the calculator; every refund needs request_refund."
    ),
    tools=[lookup_order, calculate, request_refund],
    output=Resolution,
    max_turns=8,
)


@app.workflow(name="support")
async def support(ctx: bosun.Context, message: str) -> Resolution:
    """Handle one customer message with the support agent."""
    return await agent.run(ctx, message)


# -- the offline model ----------------------------------------------------------------------


def _last(request: ChatRequest) -> Message:
    return request.messages[-1]


def _tool_result(name: str) -> Any:
    def when(request: ChatRequest) -> bool:
        last = _last(request)
        calls = {c.id: c.name for m in request.messages for c in m.tool_calls}
        return last.role == "tool" and calls.get(last.tool_call_id or "") == name

    return when


def _order_number(request: ChatRequest) -> int:
    text = next(m.content or "" for m in request.messages if m.role == "user")
    digits = "".join(ch if ch.isdigit() else " " for ch in text).split()
    return int(digits[0]) if digits else 0


def _share(request: ChatRequest) -> float:
    text = next(m.content or "" for m in request.messages if m.role == "user")
    return 0.5 if "half" in text.lower() else 1.0


def _item(request: ChatRequest) -> str:
    for message in request.messages:
        if message.role == "tool" and (message.content or "").startswith("{"):
            return str(json.loads(message.content or "{}").get("item", "order"))
    return "order"


def _final(request: ChatRequest) -> str:
    outcome = _last(request).content or ""
    amount = 0.0 if "refused" in outcome else float(outcome.split("$")[1].split()[0])
    reply = f"Sorry about your {_item(request)}. {outcome[0].upper()}{outcome[1:]}."
    order = _order_number(request)
    return json.dumps({"order_id": order, "refunded": amount, "reply": reply})


def _say(text: str, name: str, **arguments: Any) -> Message:
    """An assistant turn that says something, then calls a tool."""
    return ScriptedProvider.tool_calls((name, arguments), content=text)


def _after_lookup(request: ChatRequest) -> Message | str:
    found = _last(request).content or ""
    if not found.startswith("{"):
        return "I could not find that order; could you check the number?"
    price = json.loads(found)["price"]
    return _say(
        "Found it. Let me work out the refund.",
        "calculate",
        expression=f"{price} * {_share(request)}",
    )


SCRIPTED_MODEL = ScriptedProvider(
    rules=[
        Rule(
            lambda r: _last(r).role == "user",
            lambda r: _say(
                "I am sorry to hear that. Let me look up your order.",
                "lookup_order",
                order_id=_order_number(r),
            ),
        ),
        Rule(_tool_result("lookup_order"), _after_lookup),
        Rule(
            _tool_result("calculate"),
            lambda r: _say(
                "I will issue the refund now.",
                "request_refund",
                order_id=_order_number(r),
                amount=float(_last(r).content or 0),
            ),
        ),
        Rule(_tool_result("request_refund"), _final),
    ],
    delay=0.02,  # seconds per word, so the answer streams like a real model's
)

if not os.environ.get("BOSUN_LLM_MODEL") and not os.environ.get("BOSUN_MODELS"):
    app.models.register("default", SCRIPTED_MODEL)
