"""A tool-using agent that would loop forever, stopped by a run budget (`tokens` or `cost`).

Its `note` tool leaves a line `<run id>:note` in the effects file; from a run's second note
on, it then waits while a file named `hold` exists in the worker's directory, so a test can
kill the worker with a tool call in flight after two recorded LLM calls.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from effects import record

import bosun
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import Rule, ScriptedProvider

TOKENS = 600
COST = 0.6  # dollars, at a dollar per 1,000 tokens
PER_MILLION = 1000.0
HOLD_FROM = 2  # the note that waits while `hold` exists

app = bosun.App("e2e-budgeted-agent")
app.models.register(
    "default",
    ScriptedProvider(rules=[Rule("", ScriptedProvider.tool_call("note", text="hi"))]),
    ModelConfig(
        alias="default",
        provider="scripted",
        model="scripted",
        input_per_million=PER_MILLION,
        output_per_million=PER_MILLION,
    ),
)


def note(text: str) -> str:
    """Take a note."""
    line = f"{bosun.current_context().run_id}:note"
    record(line)
    notes = Path(os.environ["BOSUN_E2E_EFFECTS"]).read_text().splitlines().count(line)
    while notes >= HOLD_FROM and Path("hold").exists():
        time.sleep(0.05)
    return f"noted {text}"


agent = bosun.Agent(tools=[note], max_turns=50)


@app.workflow(budget=bosun.Budget(tokens=TOKENS))
async def tokens(ctx: bosun.Context) -> str:
    return str(await agent.run(ctx, "work on it"))


@app.workflow(budget=bosun.Budget(cost=COST))
async def cost(ctx: bosun.Context) -> str:
    return str(await agent.run(ctx, "work on it"))
