"""A PydanticAI agent, made durable by bosun with two lines.

    pip install 'bosun[pydantic-ai]'
    bosun dev examples/pydantic_ai_agent.py
    bosun run --url http://127.0.0.1:8000 --api-key "$(cat .bosun/dev-key)" order_desk \\
        --follow --input '{"message": "Where are my orders 7 and 8?"}'

`agent` below is plain PydanticAI (a model, dependencies, tools, a typed answer), as a team
would already have it. The two lines that make it durable are marked `# bosun`: the
`BosunDurability()` capability, and a bosun workflow that runs it. Inside the workflow every
model request is a journaled `llm` step (under the run's budget, its usage in bosun's `usage`
table) and every tool call a journaled `tool` step, the two lookups in parallel: kill the
worker in the middle of a run and start another, and no request is sent, nor finished tool
run, twice. Outside a workflow (`python examples/pydantic_ai_agent.py`) the agent runs as it
always did.

Offline by default: PydanticAI's `FunctionModel` plays the model, deterministically. It
understands little: a message naming orders ("orders 7 and 8") gets them looked up and
summarised; anything else gets a short answer saying what the demo can do. To use a real
model, name it as PydanticAI does:

    export PYDANTIC_AI_MODEL=openai:gpt-5-mini OPENAI_API_KEY=sk-…
    export PYDANTIC_AI_MODEL=openai:qwen2.5:7b OPENAI_BASE_URL=http://localhost:11434/v1  # Ollama

Its requests are then recorded as `llm:<model name>`: `app.rate_limit("llm:gpt-5-mini", …)`
shares a limit across every worker (`BosunDurability(alias=…)` picks another name).
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_ai import Agent, RunContext
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel

import bosun
from bosun.integrations.pydantic_ai import BosunDurability

# -- the PydanticAI agent, as it was ------------------------------------------------------------


@dataclass
class Shop:
    orders: dict[int, dict[str, Any]]


class OrderStatus(BaseModel):
    order_id: int
    item: str
    status: str


class Reply(BaseModel):
    """What the desk answers: a message, and the orders it is about."""

    message: str
    orders: list[OrderStatus]


SHOP = Shop(
    {
        7: {"item": "electric kettle", "status": "delivered"},
        8: {"item": "teapot", "status": "shipped"},
    }
)


def play_the_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The offline model: looks up the orders a message names, then summarises them."""
    output_tool = info.output_tools[0].name
    returns = [
        part.content
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    ]
    if returns:
        orders = [r for r in returns if isinstance(r, dict)]
        text = "; ".join(f"order {o['order_id']} ({o['item']}) is {o['status']}" for o in orders)
        message = text.capitalize() + "." if orders else "I found none of those orders."
        return ModelResponse(
            parts=[ToolCallPart(output_tool, {"message": message, "orders": orders})]
        )
    prompt = next(
        (
            str(part.content)
            for message in messages
            if isinstance(message, ModelRequest)
            for part in message.parts
            if isinstance(part, UserPromptPart)
        ),
        "",
    )
    numbers = [int(n) for n in re.findall(r"\b\d+\b", prompt)]
    if not numbers:
        reply = {"message": "This demo desk looks up orders: name their numbers.", "orders": []}
        return ModelResponse(parts=[ToolCallPart(output_tool, reply)])
    lookups = [
        ToolCallPart("lookup_order", {"order_id": n}, tool_call_id=f"call_{n}") for n in numbers
    ]
    return ModelResponse(parts=list(lookups))  # at once: the tools run in parallel


def model() -> Model | str:
    """`PYDANTIC_AI_MODEL` when set, else the offline model."""
    return os.environ.get("PYDANTIC_AI_MODEL") or FunctionModel(play_the_model, model_name="demo")


agent = Agent(
    model(),
    name="order_desk",
    deps_type=Shop,
    output_type=Reply,
    instructions="You answer questions about orders. Look every order up before answering.",
    capabilities=[BosunDurability()],  # bosun
)


@agent.tool
async def lookup_order(ctx: RunContext[Shop], order_id: int) -> dict[str, Any] | str:
    """Look up an order by its number.

    Args:
        order_id: the order number the customer gave.
    """
    order = ctx.deps.orders.get(order_id)
    if order is None:
        return f"there is no order {order_id}"
    return {"order_id": order_id, **order}


# -- the bosun app ------------------------------------------------------------------------------

app = bosun.App("order-desk")


@app.workflow(name="order_desk", budget=bosun.Budget(tokens=50_000))  # bosun
async def order_desk(ctx: bosun.Context, message: str) -> Reply:
    """Answer one customer message."""
    result = await agent.run(message, deps=SHOP)
    return result.output


if __name__ == "__main__":  # the same agent, outside bosun: not durable, as before
    print(asyncio.run(agent.run("Where are orders 7 and 8?", deps=SHOP)).output)
