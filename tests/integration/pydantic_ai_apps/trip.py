"""A PydanticAI agent made durable with bosun, for the tests that kill its worker mid-run.

`bosun worker trip.py` serves it; the test process builds the same workflow with `build` on
its own `App`. The model is PydanticAI's `OpenAIChatModel`, pointed at the test's server
(`FAKE_OPENAI_URL`). The `book` tool notes each call in `TRIP_EFFECTS` and, while `TRIP_GATE`
does not exist, waits: the worker is killed there.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

import bosun
from bosun.integrations.pydantic_ai import BosunDurability


def make_agent(base_url: str) -> Agent[None, str]:
    model = OpenAIChatModel("trip", provider=OpenAIProvider(base_url=base_url, api_key="sk-test"))
    agent = Agent(model, name="trip", instructions="Plan trips.", capabilities=[BosunDurability()])

    @agent.tool_plain
    def price(city: str) -> int:
        """The price of a night in `city`."""
        _note(f"price:{city}")
        return {"Paris": 120, "Lyon": 80}.get(city, 100)

    @agent.tool_plain
    def book(city: str, nights: int) -> str:
        """Book `nights` nights in `city`."""
        _note(f"book:{city}")
        gate = Path(os.environ["TRIP_GATE"])
        while not gate.exists():
            time.sleep(0.05)
        return f"booked {nights} nights in {city}"

    return agent


def _note(line: str) -> None:
    with open(os.environ["TRIP_EFFECTS"], "a") as effects:
        effects.write(line + "\n")


def build(app: bosun.App, base_url: str) -> Agent[None, str]:
    agent = make_agent(base_url)

    @app.workflow(name="trip")
    async def trip(ctx: bosun.Context, request: str) -> str:
        result = await agent.run(request)
        return result.output

    return agent


app = bosun.App("pydantic-ai-trip")
build(app, os.environ.get("FAKE_OPENAI_URL", "http://127.0.0.1:9/v1"))
