"""An agent whose tools come from an MCP server: the reference time server
(`mcp-server-time`, from PyPI), beside a plain Python tool.

    pip install 'bosun[mcp]' mcp-server-time
    bosun dev examples/mcp_agent.py
    bosun run --url http://127.0.0.1:8000 --api-key "$(cat .bosun/dev-key)" world_clock \\
        --follow --input '{"question": "What time is it for Aiko?"}'
    bosun run --url … world_clock --input '{"question": "14:30 in New York is what in Paris?"}'

The worker starts the server as a subprocess when a run first needs it and keeps talking to it
over stdio. Each run lists the server's tools once (a journaled step, so a replay sees the same
tools) and each tool call is a journaled step: kill the worker in the middle of a run and start
another, and no call is made twice; kill the server, and the next call starts it again.

Offline by default: a scripted model plays the LLM's part. It knows a few cities and the
colleagues in `OFFICES`: "What time is it in Tokyo?", "What time is it for Aiko?" (it asks
`office_of` first, then the time server), "14:30 in New York is what in Paris?". To use a real
model, point bosun at an OpenAI-compatible server:

    export BOSUN_LLM_MODEL=gpt-4o-mini BOSUN_LLM_API_KEY=sk-…

The server could as well be remote: `bosun.mcp.http("https://…/mcp", headers={…})`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import bosun
from bosun.agents.messages import ChatRequest, Message
from bosun.agents.scripted import Rule, ScriptedProvider

app = bosun.App("world-clock")

OFFICES = {"aiko": "Tokyo", "bruno": "Paris", "carmen": "New York", "dev": "Sydney"}
ZONES = {
    "tokyo": "Asia/Tokyo",
    "paris": "Europe/Paris",
    "new york": "America/New_York",
    "sydney": "Australia/Sydney",
    "london": "Europe/London",
    "utc": "UTC",
}


def office_of(person: str) -> str:
    """The city where a colleague works.

    Args:
        person: the colleague's first name.
    """
    city = OFFICES.get(person.strip().lower())
    if city is None:
        raise LookupError(f"no colleague called {person}; I know {', '.join(OFFICES)}")
    return city


# The reference server, found on PATH or beside this Python (a virtualenv's bin/).
BESIDE_PYTHON = Path(sys.executable).with_name("mcp-server-time")
TIME_SERVER = shutil.which("mcp-server-time") or str(BESIDE_PYTHON)

agent = bosun.Agent(
    system="You answer questions about the time around the world. Use the tools.",
    tools=[
        office_of,
        bosun.mcp.stdio(TIME_SERVER, ["--local-timezone", "UTC"], name="time"),
    ],
    max_turns=6,
)


@app.workflow(name="world_clock")
async def world_clock(ctx: bosun.Context, question: str) -> str:
    """Answer one question about the time somewhere."""
    return str(await agent.run(ctx, question))


# -- the offline model -----------------------------------------------------------------------

CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})\b")


def _question(request: ChatRequest) -> str:
    return next(m.text for m in reversed(request.messages) if m.role == "user").lower()


def _cities(text: str) -> list[str]:
    found = [(text.find(city), city) for city in ZONES if city in text]
    return [city for _, city in sorted(found)]


def _last_tool(request: ChatRequest) -> tuple[str, str] | None:
    """(tool name, answer) of the newest tool result, if the newest message is one."""
    last = request.messages[-1]
    if last.role != "tool":
        return None
    calls = {c.id: c.name for m in request.messages for c in m.tool_calls}
    return calls.get(last.tool_call_id or "", ""), last.text


def _ask_time(city: str) -> Message:
    return ScriptedProvider.tool_call("get_current_time", timezone=ZONES[city])


def _answer(request: ChatRequest) -> Message | str:
    question = _question(request)
    result = _last_tool(request)
    if result is None:  # the question itself
        person = next((p for p in OFFICES if re.search(rf"\b{p}\b", question)), None)
        cities = _cities(question)
        clock = CLOCK.search(question)
        if person is not None:
            return ScriptedProvider.tool_call("office_of", person=person)
        if clock and len(cities) >= 2:
            return ScriptedProvider.tool_call(
                "convert_time",
                source_timezone=ZONES[cities[0]],
                time=f"{int(clock.group(1)):02d}:{clock.group(2)}",
                target_timezone=ZONES[cities[1]],
            )
        if cities:
            return _ask_time(cities[0])
        return _what_i_can_do()
    name, text = result
    if text.startswith("error"):
        return f"Sorry, I could not find out: {text.removeprefix('error: ')}"
    if name == "office_of":
        return _ask_time(text.lower())
    data: dict[str, Any] = json.loads(text)
    if name == "convert_time":
        source, target = data["source"], data["target"]
        return (
            f"{source['datetime'][11:16]} in {source['timezone']} is "
            f"{target['datetime'][11:16]} on {target['day_of_week']} in {target['timezone']} "
            f"({data['time_difference']})."
        )
    return f"It is {data['datetime'][11:16]} on {data['day_of_week']} in {data['timezone']}."


def _what_i_can_do() -> str:
    return (
        'I am the demo world clock, on a scripted model: ask "What time is it in Tokyo?", '
        '"What time is it for Aiko?" or "14:30 in New York is what in Paris?". Cities I know: '
        f"{', '.join(c.title() for c in ZONES)}; colleagues: {', '.join(OFFICES).title()}."
    )


SCRIPTED_MODEL = ScriptedProvider(rules=[Rule(lambda request: True, _answer)])

if not os.environ.get("BOSUN_LLM_MODEL") and not os.environ.get("BOSUN_MODELS"):
    app.models.register("default", SCRIPTED_MODEL)
