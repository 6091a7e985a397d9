"""An OpenAI Agents SDK agent, as a team would have written it, run durably by bosun.

The SDK's defaults serve its model (the Responses API, at `OPENAI_BASE_URL` with
`OPENAI_API_KEY`); the tests point them at a local server speaking the OpenAI wire. Each tool
call leaves a line in the effects file, so a test can count them across a `kill -9`.
"""

from __future__ import annotations

from agents import Agent, function_tool
from effects import record

import bosun
from bosun.integrations import openai_agents

app = bosun.App("e2e-openai-agents")


@function_tool
async def weather(city: str) -> str:
    """The weather in a city."""
    record(f"weather:{city}")
    return {"Paris": "rain in Paris", "Tokyo": "sunny in Tokyo"}.get(city, "fog")


@function_tool
def book(city: str) -> str:
    """Book a trip to a city."""
    record(f"book:{city}")
    return f"trip to {city} #42"


travel = Agent(
    name="Travel",
    instructions="Plan trips: check the weather, then book the sunnier city.",
    model="gpt-test",
    tools=[weather, book],
)


@app.workflow()
async def trip(ctx: bosun.Context, question: str) -> str:
    result = await openai_agents.run(ctx, travel, question)
    return str(result.final_output)
