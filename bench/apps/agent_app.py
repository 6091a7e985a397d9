"""The workflows `bench/agents.py` measures, and the plain-Python loop it compares them with.

`agent_loop` runs a `bosun.Agent` with two async tools on a zero-delay `ScriptedProvider`:
the model calls both tools (in parallel) for `tool_turns` turns, then answers, so a run has
`tool_turns + 1` turns (a turn is one LLM call and its tool calls). With `wait=True` the run
then waits for the signal "go", so that after the signal the whole history replays. `empty`
is the same shape with no agent: what a run costs by itself. `plain_loop` is the agent's loop
written as plain Python, with the same provider, tools, messages and argument validation, and
no journal.

`stream_tokens` waits for "go", then makes one `ctx.llm.chat` call on the `clock` model,
whose tokens are `<index>:<time.time()>` stamped as they are generated, `gap` seconds apart
(and `pause` seconds more before token `pause_at`).

It lives in bench/apps/, like http_app.py, so that `bosun server` can serve it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import bosun
from bosun.agents.messages import (
    ChatRequest,
    ChatResponse,
    Message,
    StreamDelta,
    ToolCall,
    Usage,
)
from bosun.agents.scripted import Rule, ScriptedProvider, last_prompt_text
from bosun.agents.tools import call_arguments, tool_spec

app = bosun.App("agent-bench")
SYSTEM = "You are an order assistant."
_TURNS = re.compile(r"tool turns: (\d+)")


async def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order.

    Args:
        order_id: the order's number.
    """
    return {"order_id": order_id, "status": "shipped", "items": 2}


async def add(a: float, b: float) -> float:
    """Add two numbers.

    Args:
        a: the first number.
        b: the second number.
    """
    return a + b


TOOLS = [lookup_order, add]


def prompt_for(tool_turns: int) -> str:
    return f"Where is my order? (tool turns: {tool_turns})"


def next_answer(request: ChatRequest) -> Message | str:
    """Both tools while fewer than the prompt's `tool turns` answers were given, then text."""
    first = next(m.content or "" for m in request.messages if m.role == "user")
    match = _TURNS.search(first)
    wanted = int(match.group(1)) if match else 0
    done = sum(m.role == "assistant" for m in request.messages)
    if done < wanted:
        return ScriptedProvider.tool_calls(
            ("lookup_order", {"order_id": 1000 + done}), ("add", {"a": done, "b": 0.5})
        )
    return f"Your order shipped; {done} lookups done."


SCRIPTED = ScriptedProvider(rules=[Rule(lambda request: True, next_answer)])
app.models.register("default", SCRIPTED)
AGENT = bosun.Agent(system=SYSTEM, tools=TOOLS, max_turns=64)


@app.workflow()
async def agent_loop(ctx: bosun.Context, tool_turns: int, wait: bool = False) -> str:
    answer: str = await AGENT.run(ctx, prompt_for(tool_turns))
    if wait:
        await ctx.wait_for_signal("go")
    return answer


@app.workflow()
async def empty(ctx: bosun.Context, tool_turns: int, wait: bool = False) -> str:
    if wait:
        await ctx.wait_for_signal("go")
    return ""


async def plain_loop(provider: ScriptedProvider, tool_turns: int, max_turns: int = 64) -> str:
    """`bosun.Agent.run`'s loop without bosun: stream each answer from the provider, call the
    tools it asks for (in parallel), hand back their results; nothing is recorded."""
    tools = {fn.__name__: fn for fn in TOOLS}
    specs = [tool_spec(fn) for fn in TOOLS]
    messages = [Message.system(SYSTEM), Message.user(prompt_for(tool_turns))]

    async def call(tool_call: ToolCall) -> str:
        fn = tools[tool_call.name]
        result = await fn(**call_arguments(fn, tool_call.arguments))
        return result if isinstance(result, str) else json.dumps(result, default=str)

    for _ in range(max_turns):
        request = ChatRequest(model="default", messages=messages, tools=specs)
        response: ChatResponse | None = None
        text: list[str] = []
        async for item in provider.stream(request):
            if isinstance(item, ChatResponse):
                response = item
            else:
                text.append(item.text)
        assert response is not None
        message = response.message
        messages.append(message)
        if not message.tool_calls:
            return message.content or ""
        results = await asyncio.gather(*(call(c) for c in message.tool_calls))
        messages.extend(
            Message.tool(c, r) for c, r in zip(message.tool_calls, results, strict=True)
        )
    raise RuntimeError(f"no final answer within {max_turns} turns")


class ClockProvider:
    """A model whose tokens carry the time they were generated: `<index>:<time.time()> `,
    `gap` seconds apart, `words` of them, with `pause` seconds more before token `pause_at`
    (all read from the prompt, a JSON object)."""

    async def chat(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> ChatResponse:
        async for item in self.stream(request, idle_timeout=idle_timeout):
            if isinstance(item, ChatResponse):
                return item
        raise AssertionError("the stream ended without a response")

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> AsyncIterator[StreamDelta | ChatResponse]:
        spec = json.loads(last_prompt_text(request))
        tokens = []
        for i in range(spec["words"]):
            await asyncio.sleep(spec["gap"] + (spec["pause"] if i == spec["pause_at"] else 0))
            token = f"{i}:{time.time():.6f} "
            tokens.append(token)
            yield StreamDelta(text=token)
        yield ChatResponse(
            message=Message.assistant("".join(tokens)),
            usage=Usage(prompt_tokens=8, completion_tokens=len(tokens)),
            finish_reason="stop",
            model=request.model,
        )

    async def aclose(self) -> None:
        """Nothing to release."""


app.models.register("clock", ClockProvider())


@app.workflow()
async def stream_tokens(
    ctx: bosun.Context, words: int, gap: float, pause_at: int = -1, pause: float = 0.0
) -> int:
    await ctx.wait_for_signal("go")
    spec = {"words": words, "gap": gap, "pause_at": pause_at, "pause": pause}
    response = await ctx.llm.chat(json.dumps(spec), model="clock")
    return len((response.message.content or "").split())
