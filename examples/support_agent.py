"""A support agent: looks up an order, computes a refund, and refunds it, asking a human to
approve refunds over $25 (the run waits for the approval holding no worker).

    bosun dev examples/support_agent.py
    bosun run --url http://127.0.0.1:8000 --api-key "$(cat .bosun/dev-key)" support \\
        --session chat-1 --follow \\
        --input '{"message": "My kettle from order 7 arrived broken, refund half please"}'
    # the same session goes on from its history ("half" is remembered):
    bosun run --url … support --session chat-1 --input '{"message": "thanks! and order 8?"}'
    # a full refund ($40) waits for a human:
    bosun run --url … support --input '{"message": "Order 7 is broken, refund it all"}'
    bosun runs signal --url … RUN_ID approval --payload '{"ok": true, "by": "alice"}'

Offline by default: a scripted model plays the LLM's part, deterministically. It understands
little: a message naming an order ("order 7") gets that order looked up and refunded (half if
the conversation asked for half, else in full); an order that does not exist gets a polite
"no such order"; anything else gets a short answer saying what the demo can do. To use a real
model, point bosun at any OpenAI-compatible server (OpenAI, vLLM, Ollama, LM Studio):

    export BOSUN_LLM_MODEL=gpt-4o-mini BOSUN_LLM_API_KEY=sk-…        # OpenAI
    export BOSUN_LLM_MODEL=qwen2.5:7b BOSUN_LLM_BASE_URL=http://localhost:11434/v1  # Ollama

Every model call and tool call is journaled: kill the worker while the run waits for the
approval and start another; nothing is asked or billed twice. In a session (`--session`), the
agent starts from the conversation's history and appends each turn to it; the web UI's
Sessions page shows the chat.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from pydantic import BaseModel

import bosun
from bosun.agents.messages import ChatRequest, Message
from bosun.agents.parts import describe
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

    order_id: int | None  # None when the message named no order
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


ORDER = re.compile(r"\border\s*(?:number\s*|no\.?\s*|#\s*)?(\d+)", re.IGNORECASE)


def _last(request: ChatRequest) -> Message:
    return request.messages[-1]


def _user_texts(request: ChatRequest) -> list[str]:
    """What the customer said, newest first (in a session, earlier messages too)."""
    return [m.text for m in reversed(request.messages) if m.role == "user"]


def _tool_result(name: str) -> Any:
    def when(request: ChatRequest) -> bool:
        last = _last(request)
        calls = {c.id: c.name for m in request.messages for c in m.tool_calls}
        return last.role == "tool" and calls.get(last.tool_call_id or "") == name

    return when


def _named_order(text: str) -> int | None:
    found = ORDER.search(text)
    return None if found is None else int(found.group(1))


def _order_number(request: ChatRequest) -> int | None:
    """The order the newest message names."""
    return _named_order(_user_texts(request)[0])


def _asks_about_an_order(request: ChatRequest) -> bool:
    return _last(request).role == "user" and _order_number(request) is not None


def _share(request: ChatRequest) -> float:
    """Half or all: as the newest message says, else as the conversation said before."""
    for text in _user_texts(request):
        words = set(re.findall(r"[a-z]+", text.lower()))
        if "half" in words:
            return 0.5
        if words & {"all", "full", "whole", "everything"}:
            return 1.0
    return 1.0


def _item(request: ChatRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "tool" and message.text.startswith("{"):
            return str(json.loads(message.text or "{}").get("item", "order"))
    return "order"


def _resolution(order_id: int | None, refunded: float, reply: str) -> str:
    return Resolution(order_id=order_id, refunded=refunded, reply=reply).model_dump_json()


def _final(request: ChatRequest) -> str:
    outcome = _last(request).text
    amount = 0.0 if "refused" in outcome else float(outcome.split("$")[1].split()[0])
    reply = f"Sorry about your {_item(request)}. {outcome[0].upper()}{outcome[1:]}."
    return _resolution(_order_number(request), amount, reply)


def _say(text: str, name: str, **arguments: Any) -> Message:
    """An assistant turn that says something, then calls a tool."""
    return ScriptedProvider.tool_calls((name, arguments), content=text)


def _after_lookup(request: ChatRequest) -> Message | str:
    found = _last(request).text
    order = _order_number(request)
    if not found.startswith("{"):
        known = " and ".join(str(number) for number in ORDERS)
        reply = (
            f"I am sorry, I could not find order {order}. The orders I know are {known}; "
            "could you check the number?"
        )
        return _resolution(order, 0.0, reply)
    price = json.loads(found)["price"]
    return _say(
        "Found it. Let me work out the refund.",
        "calculate",
        expression=f"{price} * {_share(request)}",
    )


def _what_i_can_do(request: ChatRequest) -> str:
    """The answer to a message the scripted model has no rule for."""
    thanks = "thank" in _user_texts(request)[0].lower()
    orders = " and ".join(
        f"{number} ({'an' if str(order['item'])[0] in 'aeiou' else 'a'} {order['item']})"
        for number, order in ORDERS.items()
    )
    greeting = "You are welcome! " if thanks else "Hello! "
    attached = [
        p for m in request.messages if m.role == "user" for p in m.parts if p.type != "text"
    ]
    if attached:  # a photo of the broken kettle, say: name what came, since nothing looks at it
        greeting += (
            f"I received {', '.join(describe(p) for p in attached)}, but a scripted model "
            "cannot look at it; a vision model would. "
        )
    reply = (
        f"{greeting}I am the demo support agent, running "
        "on a scripted model, so I understand only a few requests. I can look up orders "
        f"{orders}, work out a refund (half or all of the price) and issue it; refunds over "
        f"${AUTO_APPROVE_LIMIT:.0f} wait for a human's approval. Try: \"My kettle from order 7 "
        'arrived broken, refund half please". To talk to a real model instead, set '
        "BOSUN_LLM_MODEL (and BOSUN_LLM_API_KEY, or BOSUN_LLM_BASE_URL for a local server) "
        "and restart bosun dev."
    )
    return _resolution(None, 0.0, reply)


SCRIPTED_MODEL = ScriptedProvider(
    rules=[
        Rule(
            _asks_about_an_order,
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
                amount=float(_last(r).text or 0),
            ),
        ),
        Rule(_tool_result("request_refund"), _final),
    ],
    fallback=_what_i_can_do,  # anything else: say what the demo can do
    delay=0.02,  # seconds per word, so the answer streams like a real model's
)

if not os.environ.get("BOSUN_LLM_MODEL") and not os.environ.get("BOSUN_MODELS"):
    app.models.register("default", SCRIPTED_MODEL)
