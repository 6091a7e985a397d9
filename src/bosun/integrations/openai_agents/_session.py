"""`BosunSession`: a bosun session as the SDK's conversation memory (its `Session` protocol).

The SDK reads a session's items before a run and adds the new ones after; here both are
journaled steps, as for `bosun.Agent` (`session.history`, `session.append`), so the same
conversation can be carried on by a wrapped agent and a native one, is listed by the API
(`GET /v1/sessions/{id}/messages`) and shown in the UI, and a replay reads and writes nothing
twice. Items are kept as bosun messages: text, tool calls and their results (images, files
and reasoning items are left out). Sessions are append-only: `pop_item` and
`clear_session` are refused.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agents import SessionABC, TResponseInputItem

from bosun.agents import sessions
from bosun.agents.messages import Message
from bosun.engine.definitions import StepDef
from bosun.errors import ConfigurationError
from bosun.integrations.openai_agents._convert import (
    items_to_messages,
    messages_to_items,
)

if TYPE_CHECKING:
    from bosun.engine.execution import Execution


class BosunSession(SessionABC):
    """The bosun session `name` of the run `execution` belongs to (its tenant's)."""

    def __init__(self, execution: Execution, name: str) -> None:
        self.session_id = name
        self._execution = execution

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        execution = self._execution
        run, store, name = execution.run, execution.env.store, self.session_id

        async def read() -> list[Any]:
            last = await store.get_session(run.tenant, name)
            after = 0 if last is None else max(0, last.last_seq - sessions.HISTORY_LIMIT)
            rows = await store.session_messages(run.tenant, name, after, sessions.HISTORY_LIMIT)
            return [json.loads(row.message) for row in rows]

        step = StepDef(fn=read, name="session.history", is_async=True, return_hint=Any)
        recorded = await execution.call_step(step, (), {})
        items = messages_to_items(Message.model_validate(m) for m in recorded)
        if limit is None:
            return items
        return items[-limit:] if limit > 0 else []

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        messages = items_to_messages(items)
        await sessions.append(self._execution, self.session_id, messages)

    async def pop_item(self) -> TResponseInputItem | None:
        raise ConfigurationError("bosun sessions are append-only: pop_item is not supported")

    async def clear_session(self) -> None:
        raise ConfigurationError("bosun sessions are append-only: clear_session is not supported")
