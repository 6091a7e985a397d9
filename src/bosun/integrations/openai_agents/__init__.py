"""Run an OpenAI Agents SDK agent (`agents.Agent`) durably inside a bosun workflow.

```python
from agents import Agent, function_tool
from bosun.integrations import openai_agents

@function_tool
def lookup_order(order_id: str) -> str: ...

support = Agent(name="Support", instructions="…", model="gpt-4.1", tools=[lookup_order])

@app.workflow()
async def answer(ctx: bosun.Context, question: str) -> str:
    result = await openai_agents.run(ctx, support, question)
    return str(result.final_output)
```

`run` is `Runner.run` on durable copies of the agents (the originals are not changed), through
the SDK's public extension points, nothing patched:

- **Model calls**: a `ModelProvider` (`RunConfig.model_provider`) hands out `Model`s whose
  every call is a journaled LLM call (kind `llm`, `llm:<alias>`), and an agent whose `model`
  is a `Model` object gets it wrapped the same way. A name that is a bosun model alias is
  served by bosun's provider through `ctx.llm`; any other name by the SDK's own provider
  (the Responses API by default), called inside the step. Either way the run's and tenant's
  budgets are checked before each new call, the shared `llm:<alias>` rate limit is reserved
  and settled around it, and its usage and cost are recorded for budgets, the usage table
  and metrics. Answers stream: their tokens reach the run's event stream (SSE) as
  `llm.delta` events.
- **Function tools**: each `FunctionTool` is copied with its `on_invoke_tool` wrapped, so a
  call is a journaled step (kind `tool`, `tool:<name>`) that runs once. A turn's calls run
  in parallel as the SDK runs them, each in positions keyed by its place in the model's
  answer, so replay does not depend on which finished first.
- **Handoffs**: each handoff's `on_invoke_handoff` is wrapped into a journaled step
  (`handoff:<agent>`); the agent handed to runs durably too.
- **Approvals**: a tool declared `function_tool(needs_approval=…)` stops the SDK's run with
  `interruptions`; each call waits, suspended, for a human's decision through bosun's
  approvals (listed in the run's `pending_approvals`), and the run resumes from the SDK's
  `RunState` once they are decided (`_approvals`).
- **Sessions**: the run's bosun session (or `session=`) is the SDK's `Session`
  (`BosunSession`): history read and appended by journaled steps, shared with `bosun.Agent`.

A replay (after a signal, a crash, a `kill -9`, on another worker) runs the SDK's loop again
over the journal: recorded answers and tool results come back, no model or tool is called
twice. What the SDK runs outside those points is workflow code, run again on replay:
instructions functions, guardrails, hooks, `is_enabled` checks; keep them deterministic.
Not journaled yet: tools of MCP servers attached to an agent (`mcp_servers`), hosted tools'
local parts (computer, shell, apply-patch), and the tools of an agent used as a tool (its
model calls are journaled inside the tool's step; the tool as a whole runs once it has
finished). docs/integrations.md compares this with Temporal's integration.
"""

try:
    import agents as _sdk  # noqa: F401  (the OpenAI Agents SDK: the `openai-agents` extra)
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "bosun.integrations.openai_agents needs the OpenAI Agents SDK: "
        "pip install 'bosun[openai-agents]'"
    ) from exc

from bosun.integrations.openai_agents._models import AliasModel, JournaledModel, Provider
from bosun.integrations.openai_agents._run import run
from bosun.integrations.openai_agents._session import BosunSession

__all__ = ["AliasModel", "BosunSession", "JournaledModel", "Provider", "run"]
