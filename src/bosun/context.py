"""`Context`: what workflow code uses to do anything that must survive a crash.

The engine's `WorkflowContext` (timers, signals, children, gather, recorded values, rate
limits), with the parts the plug-ins add: `ctx.llm` and `ctx.memory` (`bosun.agents`). The
worker has the engine hand workflows this class (`RunEnvironment.context`), so the engine
imports neither it nor the agents. The agent toolkit is imported when a workflow first
uses `ctx.llm` or `ctx.memory`, so a worker of plain workflows never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bosun.engine.context import Duration, WorkflowContext
from bosun.engine.execution import current_execution
from bosun.errors import BosunError

if TYPE_CHECKING:
    from bosun.agents.llm import LLM
    from bosun.agents.memory import Memory

__all__ = ["Context", "Duration", "current_context"]


class Context(WorkflowContext):
    """Handed to every workflow as its first argument.

    Everything on it is journaled: on replay it returns what it returned the first time, so
    workflow code stays deterministic. Waiting (`sleep`, `wait_for_signal`, `child`) suspends
    the run: the worker forgets it until it is due.
    """

    @property
    def llm(self) -> LLM:
        """Journaled LLM calls: `chat` and `structured` (see `bosun.agents.llm`)."""
        from bosun.agents.llm import LLM

        return LLM(self._execution)

    @property
    def memory(self) -> Memory:
        """Long-term memories of the run's session or tenant (see `bosun.agents.memory`)."""
        from bosun.agents.memory import Memory

        return Memory(self._execution)


def current_context() -> Context:
    """The Context of the workflow or step running in this task."""
    execution = current_execution.get()
    if execution is None:
        raise BosunError("no bosun workflow is running here")
    return Context(execution)
