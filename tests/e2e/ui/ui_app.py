"""The workflows the UI tests drive: steps with a retry and an LLM call, a run that waits
for a signal, a session chat with an agent, a run that can be made to block, and one that
holds its worker slot until released."""

from __future__ import annotations

import asyncio
from typing import Any

import bosun
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import Rule, ScriptedProvider

app = bosun.App("ui-tests", lease_ttl=5.0)

app.models.register(
    "default",
    ScriptedProvider(rules=[Rule("", "Sure: your order ships tomorrow.")], delay=0.0),
    ModelConfig(
        alias="default", provider="scripted", input_per_million=3.0, output_per_million=15.0
    ),
)

# The same answer word by word, slowly enough to watch it stream into a page.
app.models.register(
    "slow", ScriptedProvider(rules=[Rule("", "one two three four five six")], delay=0.05)
)

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
