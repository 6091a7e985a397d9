"""One LLM call per run, on a model limited to 2 requests per second across all workers."""

from __future__ import annotations

import bosun
from bosun.agents.scripted import Rule, ScriptedProvider

app = bosun.App("llm-limited")
app.models.register("default", ScriptedProvider(rules=[Rule("", "ok")]))
app.rate_limit("llm:default", bosun.RateLimit(requests=2, per=1.0))


@app.workflow(name="ask")
async def ask(ctx: bosun.Context) -> str:
    return (await ctx.llm.chat("hello")).message.content or ""
