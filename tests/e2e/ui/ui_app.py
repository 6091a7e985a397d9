"""The workflows the UI tests drive: steps with a retry and an LLM call, a run that waits
for a signal, a session chat with an agent, a run that can be made to block, one that
holds its worker slot until released, and an agent whose refunds wait for approval."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import bosun
from bosun.agents.messages import ChatRequest, ImagePart, Message, TextPart
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import Rule, ScriptedProvider, last_prompt_text

app = bosun.App("ui-tests", lease_ttl=5.0)
PIXEL = base64.b64decode(  # a red 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)

app.models.register(
    "default",
    ScriptedProvider(rules=[Rule("", "Sure: your order ships tomorrow.")], delay=0.0),
    ModelConfig(
        alias="default", provider="scripted", input_per_million=3.0, output_per_million=15.0
    ),
)

# An answer word by word, after its reasoning, slowly enough to watch both stream into a page.
COUNTED = Message.assistant("one two three four five six").model_copy(
    update={"reasoning": "counting up slowly"}
)
app.models.register("slow", ScriptedProvider(rules=[Rule("", COUNTED)], delay=0.05))

FLAKY: dict[str, int] = {}  # run id → attempts so far of `flaky_fetch`
MODE = {"flip": "a"}  # which step `flip` runs first: changing it under a live run blocks it
HOLD = {"release": False}  # `hold` keeps its worker slot (and lease) until this is True


@app.step(retry=bosun.Retry(attempts=3, initial=0.05, jitter=0.0))
async def flaky_fetch(key: str) -> dict[str, Any]:
    FLAKY[key] = FLAKY.get(key, 0) + 1
    if FLAKY[key] == 1:
        raise ConnectionError(f"upstream timed out fetching {key}")
    return {"key": key, "rows": [{"n": i, "label": f"row {i}"} for i in range(20)]}


@app.step()
async def transform(data: dict[str, Any]) -> int:
    return sum(row["n"] for row in data["rows"])


@app.workflow(name="pipeline")
async def pipeline(ctx: bosun.Context, key: str) -> dict[str, Any]:
    data = await flaky_fetch(key)
    total = await transform(data)
    answer = await ctx.llm.chat(f"summarise {total}")
    ctx.emit("progress", {"total": total})
    return {"total": total, "summary": answer.message.content}


@app.step()
async def prepare(order: int) -> str:
    return f"order {order} prepared"


@app.workflow(name="approval")
async def approval(ctx: bosun.Context, order: int) -> dict[str, Any]:
    note = await prepare(order)
    decision = await ctx.wait_for_signal("approve")
    return {"note": note, "decision": decision}


agent = bosun.Agent(system="You are a shop assistant.", max_turns=2)


@app.workflow(name="chat")
async def chat(ctx: bosun.Context, message: str) -> str:
    return await agent.run(ctx, message)


@app.step()
async def step_a() -> str:
    return "a"


@app.step()
async def step_b() -> str:
    return "b"


@app.workflow(name="flip")
async def flip(ctx: bosun.Context) -> str:
    first = await (step_a() if MODE["flip"] == "a" else step_b())
    await ctx.wait_for_signal("go")
    return first


@app.step()
async def busy_work() -> str:
    while not HOLD["release"]:  # noqa: ASYNC110 (set from the test's thread, not this loop)
        await asyncio.sleep(0.02)
    return "done"


@app.workflow(name="hold")
async def hold(ctx: bosun.Context) -> str:
    return await busy_work()


@app.workflow(name="talk")
async def talk(ctx: bosun.Context) -> str:
    await ctx.wait_for_signal("start")
    answer = await ctx.llm.chat("count to six", model="slow")
    return answer.message.content or ""


# An agent whose refunds wait for a human: the model proposes refund(order_id=7, amount=40),
# then answers with what the tool said.
def _after_tool(request: ChatRequest) -> bool:
    return request.messages[-1].role == "tool"


app.models.register(
    "refunder",
    ScriptedProvider(
        rules=[
            Rule(_after_tool, lambda r: f"model saw: {last_prompt_text(r)}"),
            Rule("", ScriptedProvider.tool_call("refund", order_id=7, amount=40)),
        ]
    ),
)


@app.tool(needs_approval=True)
def refund(order_id: int, amount: float) -> str:
    """Refund part of an order.

    Args:
        order_id: the order to refund.
        amount: dollars to refund.
    """
    return f"refunded ${amount:.2f} on order {order_id}"


refund_agent = bosun.Agent(model="refunder", tools=[refund])


@app.workflow(name="refund")
async def refund_workflow(ctx: bosun.Context, message: str) -> str:
    return str(await refund_agent.run(ctx, message))


# A photo sent to a model, and a drawing a model answers with: the run page shows both as
# thumbnails (in the run's input and in the journaled LLM call), not as base64.
app.models.register(
    "drawer",
    ScriptedProvider(
        rules=[Rule("", Message.assistant([TextPart("Drawn."), ImagePart(data=PIXEL)]))]
    ),
)


@app.workflow(name="look")
async def look(ctx: bosun.Context, photo: ImagePart) -> str:
    seen = await ctx.llm.chat("What is this?", images=[photo])
    drawn = await ctx.llm.chat("Draw it.", model="drawer")
    return f"{seen.message.text} {drawn.message.text}"
