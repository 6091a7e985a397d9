"""What the parts of one wrapped agent run share: the bosun run it belongs to, its options,
and where in the journal each tool call of the latest model answer goes.

Journal positions must not depend on the order in which the SDK's tasks happen to run. The
SDK runs a turn's tool calls as concurrent tasks; each call gets positions of its own, under
a prefix made of the position of the model answer that asked for it and the call's index in
that answer (`<answer seq>.<index>.`), as `ctx.gather` does for its branches. Model calls,
session reads and writes and handoffs happen one at a time, in the run's own positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bosun.engine.execution import current_cursor

if TYPE_CHECKING:
    from bosun.engine.execution import Execution
    from bosun.retry import Retry


@dataclass
class Scope:
    """One `openai_agents.run` call.

    Attributes:
        execution: the bosun run.
        stream: stream each model answer (token deltas to the run's event stream).
        idle_timeout: seconds without a token before a model call on a bosun alias fails over.
        tool_retry: retry policy of the tool steps.
        edits: by call id, the arguments (JSON text) a human gave an approved call instead
            of the model's.
    """

    execution: Execution
    stream: bool
    idle_timeout: float
    tool_retry: Retry
    edits: dict[str, str] = field(default_factory=dict)
    # by the prefix of the positions the model call took: call id -> the prefixes of its calls
    _calls: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    _taken: dict[tuple[str, str], int] = field(default_factory=dict)

    def answered(self, output: Sequence[object]) -> None:
        """Note the tool calls of the model answer just journaled (or replayed) at the current
        position: each gets its own prefix of positions."""
        cursor = current_cursor.get()
        base = f"{cursor.prefix}{cursor.count}."
        calls: dict[str, list[str]] = {}
        for index, item in enumerate(output):
            call_id = getattr(item, "call_id", None)
            if isinstance(call_id, str) and call_id:
                calls.setdefault(call_id, []).append(f"{base}{index}.")
        self._calls[cursor.prefix] = calls
        for key in [key for key in self._taken if key[0] == cursor.prefix]:
            del self._taken[key]

    def namespace(self, call_id: str | None) -> str | None:
        """The prefix of positions for the tool call `call_id` of the latest answer, or None
        when that answer did not ask for it (the caller then takes the run's next
        positions). A call id the answer holds twice gets a prefix per call."""
        prefix = current_cursor.get().prefix
        found = self._calls.get(prefix, {}).get(call_id or "")
        if not found:
            return None
        taken = self._taken.get((prefix, call_id or ""), 0)
        self._taken[(prefix, call_id or "")] = taken + 1
        return found[min(taken, len(found) - 1)]
