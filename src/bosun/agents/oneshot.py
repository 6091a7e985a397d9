"""An agent run in one line outside a workflow (`Agent.run_once`), and an agent used as
another agent's tool (`Agent.as_tool`).

```python
async with app:
    answer = await triage.run_once(app, "Where is my order 7?")
```

`run_once` is still a durable run: it registers, once per App and agent name, an internal
workflow `bosun.agent.<name>` on the queue `bosun.agents` that runs the agent, submits a run
of it (with the session, tenant and idempotency key given) and waits for its result. Its
steps are journaled like any workflow's, and the run shows in the API, the CLI and the UI.

Like Temporal's `execute_workflow`, the call needs a worker that knows the workflow; unlike
it, it brings one: a worker of this process, serving only `bosun.agents`, for the call's
length. A script therefore needs nothing else running, and it claims no run of the App's own
queues. Were the process to die mid-run, the run stays in the database: calling `run_once`
again with the same `idempotency_key` (and an agent of the same name) attaches to it, and its
worker takes it over once the lease lapses and finishes it by replay, without calling the
model again for the turns already journaled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from pydantic import BaseModel

from bosun.engine.context import WorkflowContext
from bosun.errors import ConfigurationError

__all__ = ["QUEUE", "AgentApp", "as_tool", "run_once", "workflow_name"]

QUEUE = "bosun.agents"
WORKER_SLOTS = 4
_NOT_A_NAME = re.compile(r"[^a-zA-Z0-9_.:@-]+")
_AGENT = "__bosun_agent__"


class Agent(Protocol):
    """What `run_once` and `as_tool` read of a `bosun.Agent` (which imports this module)."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str | None: ...

    @property
    def output(self) -> Any: ...

    async def run(
        self, ctx: WorkflowContext, input: str | Sequence[Any], *, session: str | None = None
    ) -> Any: ...

    async def _run(
        self, ctx: WorkflowContext, input: str | Sequence[Any], session: str | None
    ) -> Any: ...


class AgentApp(Protocol):
    """What `run_once` needs of a `bosun.App`: register a workflow, start a worker, submit."""

    @property
    def registry(self) -> Any: ...

    def workflow(self, *, name: str | None = None, queue: str = "default") -> Any: ...

    def worker(
        self, *, concurrency: int = 16, queues: list[str] | None = None
    ) -> AbstractAsyncContextManager[Any]: ...

    async def start(
        self,
        workflow: Any,
        *args: Any,
        idempotency_key: str | None = None,
        session: str | None = None,
        **options: Any,
    ) -> Any: ...


def workflow_name(agent: Agent) -> str:
    """The internal workflow that runs `agent` for `run_once`."""
    return "bosun.agent." + (_NOT_A_NAME.sub("_", agent.name).strip("_") or "agent")


async def run_once(
    agent: Agent,
    app: AgentApp,
    input: str,
    *,
    session: str | None = None,
    tenant: str | None = None,
    idempotency_key: str | None = None,
    timeout: float | None = None,
) -> Any:
    """Run the agent on `input` outside any workflow, as a durable run of its own, and
    return its answer: one line for scripts, notebooks and tests
    (`await agent.run_once(app, "…")`).

    The run is of an internal workflow, `bosun.agent.<name>`, served for the call's length
    by a worker of this process on the queue `bosun.agents`: nothing else need be running.
    `session`, `tenant` and `idempotency_key` are those of `App.start` (the same key finds
    the same run: a script re-run after a crash finishes it by replay); `timeout` bounds
    the wait (`ResultTimeout`). See `bosun.agents.oneshot`.
    """
    if not isinstance(input, str):
        raise ConfigurationError(f"run_once takes the user's message as text, got {input!r}")
    name = _registered(agent, app)
    options: dict[str, Any] = {"idempotency_key": idempotency_key, "session": session}
    if tenant is not None:
        options["tenant"] = tenant
    async with app.worker(concurrency=WORKER_SLOTS, queues=[QUEUE]):
        handle = await app.start(name, input, **options)
        return await handle.result(timeout=timeout)


def _registered(agent: Agent, app: AgentApp) -> str:
    """Register `agent`'s workflow on `app` unless it is there; return its name."""
    name = workflow_name(agent)
    known = app.registry.workflows.get(name)
    if known is not None:
        if getattr(known.fn, _AGENT, None) is not agent:
            raise ConfigurationError(
                f"another agent named {agent.name!r} already ran with run_once on this app; "
                f"give each agent its own name="
            )
        return name

    async def run_agent(ctx: WorkflowContext, input: str) -> Any:
        return await agent.run(ctx, input)

    run_agent.__annotations__ = {
        "ctx": WorkflowContext,
        "input": str,
        "return": str if agent.output is None else agent.output,
    }
    setattr(run_agent, _AGENT, agent)
    app.workflow(name=name, queue=QUEUE)(run_agent)
    return name


def as_tool(
    agent: Agent, *, name: str | None = None, description: str | None = None
) -> Callable[..., Any]:
    """The agent as a tool of another agent (`tools=[billing.as_tool()]`): the model asks it
    in text (`input`) and reads its answer (text, or its `output` value as JSON).

    It runs as a nested loop in the caller's run, its model and tool calls journaled there
    (so they share the run's budget and replay), with neither the caller's session nor its
    history: it sees only `input`. Its errors (out of turns, a guardrail tripped) go back
    to the calling model as the tool's error. The tool is named `name` (default
    `ask_<agent's name>`) and described by `description` (default: the agent's).
    """

    async def ask(ctx: WorkflowContext, input: str) -> str:
        answer = await agent._run(ctx, input, None)
        if isinstance(answer, str):
            return answer
        if isinstance(answer, BaseModel):
            return answer.model_dump_json()
        return json.dumps(answer, default=str)

    ask.__annotations__ = {"ctx": WorkflowContext, "input": str, "return": str}
    ask.__name__ = name or ("ask_" + re.sub(r"[^a-zA-Z0-9_-]+", "_", agent.name).strip("_"))
    about = description or agent.description or f"Ask the {agent.name} agent."
    ask.__doc__ = f"{about}\n\nArgs:\n    input: what to ask it, in full: it sees nothing else.\n"
    return ask
