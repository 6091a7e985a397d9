"""Session history for agents: read and appended as journaled steps of the run.

A run submitted with `session=` belongs to that conversation. An `Agent` run in it starts
from the session's history (trimmed to the model's context) and appends what it adds: the
user's message first, then each turn's assistant message and tool results, so an
interrupted run leaves its partial history behind. Each append is a step whose writes are
keyed by the run and the step's position, so a step re-run after a crash adds nothing twice.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bosun.agents.messages import Message, estimate_tokens
from bosun.engine.definitions import StepDef
from bosun.engine.execution import current_step

if TYPE_CHECKING:
    from bosun.engine.execution import Execution

HISTORY_LIMIT = 1000  # messages read at most; older ones are beyond any context anyway
DEFAULT_CONTEXT_TOKENS = 32_000  # when the model's context size is not configured
ANSWER_RESERVE = 0.25  # share of the context kept free for the answer and tools


async def load_history(execution: Execution, session: str | None) -> list[Message]:
    """The session's history, oldest first (empty without a session)."""
    run = execution.run
    if session is None:
        return []
    store = execution.env.store

    async def read() -> list[dict[str, Any]]:
        last = await store.get_session(run.tenant, session)
        after = 0 if last is None else max(0, last.last_seq - HISTORY_LIMIT)
        rows = await store.session_messages(run.tenant, session, after, HISTORY_LIMIT)
        return [json.loads(r.message) for r in rows if r.run_id != run.id]

    step = StepDef(fn=read, name="session.history", is_async=True, return_hint=Any)
    recorded = await execution.call_step(step, (), {})
    return [Message.model_validate(m) for m in recorded]


async def append(execution: Execution, session: str | None, messages: list[Message]) -> None:
    """Append messages to the session, once (nothing without a session)."""
    run = execution.run
    if session is None or not messages:
        return
    store = execution.env.store
    texts = [m.model_dump_json() for m in messages]

    async def write() -> int:
        scope = current_step.get()
        source = None if scope is None else scope.seq
        return await store.append_messages(run.tenant, session, texts, run_id=run.id, source=source)

    step = StepDef(fn=write, name="session.append", is_async=True, return_hint=int)
    await execution.call_step(step, (), {})


def trim(history: list[Message], context_tokens: int | None, keep: list[Message]) -> list[Message]:
    """The most recent part of `history` that fits the context beside `keep` (the system
    prompt and the new input), dropping the oldest messages first. A tool result is never
    kept without the assistant message that called it."""
    budget = int((context_tokens or DEFAULT_CONTEXT_TOKENS) * (1 - ANSWER_RESERVE))
    budget -= estimate_tokens(keep)
    kept: list[Message] = []
    for message in reversed(history):
        cost = estimate_tokens(message)
        if cost > budget:
            break
        kept.append(message)
        budget -= cost
    kept.reverse()
    while kept and kept[0].role == "tool":  # its call was trimmed away
        kept.pop(0)
    return kept
