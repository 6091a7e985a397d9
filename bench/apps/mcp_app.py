"""The workflows `bench/agents_mcp.py` measures: the agent of `agent_app.py` with its two tools as
plain functions (`agent_local`) and served by an MCP server over stdio (`agent_mcp`,
`mcp_tools_server.py`), on the same zero-delay scripted model; `empty` is a run with no agent.
`plain_mcp_loop` is `agent_app.plain_loop` calling the tools through the MCP SDK's client
instead: the same loop, no journal."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from agent_app import SYSTEM, TOOLS, next_answer, prompt_for

import bosun
from bosun.agents.messages import ChatRequest, ChatResponse, Message, ToolCall
from bosun.agents.scripted import Rule, ScriptedProvider

app = bosun.App("mcp-bench")
SERVER = Path(__file__).resolve().with_name("mcp_tools_server.py")
SCRIPTED = ScriptedProvider(rules=[Rule(lambda request: True, next_answer)])
app.models.register("default", SCRIPTED)
TOOL_SERVER = bosun.mcp.stdio(sys.executable, [str(SERVER)], name="bench")
AGENTS = {
    "local": bosun.Agent(system=SYSTEM, tools=TOOLS, max_turns=64),
    "mcp": bosun.Agent(system=SYSTEM, tools=[TOOL_SERVER], max_turns=64),
}


@app.workflow()
async def agent_local(ctx: bosun.Context, tool_turns: int) -> str:
    return str(await AGENTS["local"].run(ctx, prompt_for(tool_turns)))


@app.workflow()
async def agent_mcp(ctx: bosun.Context, tool_turns: int) -> str:
    return str(await AGENTS["mcp"].run(ctx, prompt_for(tool_turns)))


@app.workflow()
async def empty(ctx: bosun.Context, tool_turns: int) -> str:
    return ""


async def plain_mcp_loop(
    provider: ScriptedProvider, tool_turns: int, client: Any, specs: list[Any]
) -> str:
    """`agent_app.plain_loop` with the tools called through an open `mcp.Client`."""
    from bosun.mcp import ToolResult

    messages = [Message.system(SYSTEM), Message.user(prompt_for(tool_turns))]

    async def call(tool_call: ToolCall) -> str:
        import json

        result = await client.call_tool(tool_call.name, json.loads(tool_call.arguments))
        return ToolResult.of(result).text()

    for _ in range(64):
        request = ChatRequest(model="default", messages=messages, tools=specs)
        response: ChatResponse | None = None
        async for item in provider.stream(request):
            if isinstance(item, ChatResponse):
                response = item
        assert response is not None
        message = response.message
        messages.append(message)
        if not message.tool_calls:
            return message.content or ""
        results = await asyncio.gather(*(call(c) for c in message.tool_calls))
        messages.extend(
            Message.tool(c, r) for c, r in zip(message.tool_calls, results, strict=True)
        )
    raise RuntimeError("no final answer within 64 turns")
