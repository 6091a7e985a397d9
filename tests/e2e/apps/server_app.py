"""Workflows the HTTP server tests drive."""

from __future__ import annotations

from typing import Any

import bosun
from bosun.agents.scripted import Rule, ScriptedProvider

app = bosun.App("server-tests", lease_ttl=5.0)


@app.step()
async def double(x: int) -> int:
    return 2 * x


@app.workflow(name="steps")
async def steps(ctx: bosun.Context, n: int = 3) -> int:
    total = 0
    for i in range(n):
        total += await double(i)
        ctx.emit("progress", {"done": i + 1})
    return total


@app.workflow(name="waits")
async def waits(ctx: bosun.Context) -> Any:
    return await ctx.wait_for_signal("go")


@app.workflow(name="chat")
async def chat(ctx: bosun.Context, message: str) -> str:
    await ctx.wait_for_signal("reply")
    return message


@app.workflow(name="on_email", on_event="email.received")
async def on_email(ctx: bosun.Context, email: dict[str, Any]) -> str:
    return str(email.get("subject", ""))


@app.workflow(name="audit", on_event="email.received")
async def audit(ctx: bosun.Context, email: dict[str, Any]) -> int:
    return len(email)


# An offline model that streams its answer word by word.
app.models.register(
    "default",
    ScriptedProvider(rules=[Rule("", "one two three four five six")], delay=0.03),
)


@app.workflow(name="chatty")
async def chatty(ctx: bosun.Context) -> str:
    await ctx.wait_for_signal("start")
    answer = await ctx.llm.chat("count to six")
    await ctx.wait_for_signal("finish")  # the replay after this re-streams nothing
    return answer.message.content or ""
