"""An agent's run as its observers see it: started (or resumed by replay), then returned,
failed, or stopped without finishing (its run suspended, was handed back or interrupted)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bosun.engine.hooks import AgentInvocation

if TYPE_CHECKING:
    from bosun.engine.execution import Execution

__all__ = ["observed"]


@contextlib.contextmanager
def observed(execution: Execution, name: str, model: str) -> Iterator[None]:
    """Report the agent `name` running in the block to the execution's observer."""
    recorded = execution.recorded_next()
    started_at = recorded.started_at if recorded is not None else None
    agent = AgentInvocation(
        name=name,
        model=model,
        position=execution.next_position(),
        started_at=started_at if started_at is not None else time.time(),
        resumed=recorded is not None,
    )
    observer = execution.env.observer
    started = observer.agent_started(execution, agent)
    try:
        yield
    except Exception as exc:
        observer.agent_finished(started, exc, done=True)
        raise
    except BaseException:  # suspended, handed back, cancelled: a later execution goes on
        observer.agent_finished(started, None, done=False)
        raise
    observer.agent_finished(started, None, done=True)
