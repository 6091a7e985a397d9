"""Session history for agents: read and appended as journaled steps of the run.

A run submitted with `session=` belongs to that conversation. An `Agent` run in it starts
from the session's history and appends what it adds: the user's message first, then each
turn's assistant message and tool results, so an interrupted run leaves its partial history
behind. Each append is a step whose writes are keyed by the run and the step's position, so a
step re-run after a crash adds nothing twice.

History that does not fit the model's context is either dropped, oldest first (`trim`), or
folded into a rolling summary (`summarize`): the messages that no longer fit are summarised
by a model, together with the previous summary, and the summary is kept in the session's
state (`bosun.summary`, with the position it covers), so each message is summarised once.
The summary call is an ordinary journaled LLM call: replay never repeats or re-bills it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bosun.agents.messages import Message, estimate_tokens
from bosun.agents.parts import describe
from bosun.engine.definitions import StepDef

if TYPE_CHECKING:
    from bosun.engine.execution import Execution

HISTORY_LIMIT = 1000  # messages read at most; older ones are beyond any context anyway
DEFAULT_CONTEXT_TOKENS = 32_000  # when the model's context size is not configured
ANSWER_RESERVE = 0.25  # share of the context kept free for the answer and tools


SUMMARY_KEY = "bosun.summary"  # in the session's state: {"through": seq, "text": ...}
SUMMARY_PROMPT = (
    "You maintain the memory of a long conversation between a user and an assistant. "
    "Rewrite the summary so far to include the new messages below: keep facts, names, "
    "numbers, decisions, open questions and what the user wants; drop pleasantries. "
    "Answer with the updated summary only, at most {words} words."
)
SUMMARY_WORDS = 300
MESSAGE_CHARS = 2000  # of one message, in the summariser's transcript


@dataclass(frozen=True)
class History:
    """A session's history as one run sees it: its messages (with their positions) and the
    rolling summary of older ones, if any."""

    messages: list[tuple[int, Message]]
    summary: str | None = None
    summary_through: int = 0


async def load_history(execution: Execution, session: str | None) -> History:
    """The session's history, oldest first (empty without a session)."""
    run = execution.run
    if session is None:
        return History([])
    store = execution.env.store

    async def read() -> dict[str, Any]:
        last = await store.get_session(run.tenant, session)
        after = 0 if last is None else max(0, last.last_seq - HISTORY_LIMIT)
        rows = await store.session_messages(run.tenant, session, after, HISTORY_LIMIT)
        state = {} if last is None else json.loads(last.state)
        summary = state.get(SUMMARY_KEY)
        return {
            "messages": [
                {"seq": r.seq, "message": json.loads(r.message)} for r in rows if r.run_id != run.id
            ],
            "summary": summary if isinstance(summary, dict) else None,
        }

    step = StepDef(fn=read, name="session.history", is_async=True, return_hint=Any)
    recorded = await execution.call_step(step, (), {})
    messages = [(int(m["seq"]), Message.model_validate(m["message"])) for m in recorded["messages"]]
    summary = recorded["summary"] or {}
    return History(messages, summary.get("text"), int(summary.get("through", 0)))


async def append(execution: Execution, session: str | None, messages: list[Message]) -> None:
    """Append messages to the session, once (nothing without a session): they are written
    with the run's next progress, in its transaction (`Execution.append_to_session`)."""
    if session is None or not messages:
        return
    execution.append_to_session(session, [m.model_dump_json() for m in messages])


def trim(history: list[Message], context_tokens: int | None, keep: list[Message]) -> list[Message]:
    """The most recent part of `history` that fits the context beside `keep` (the system
    prompt and the new input), dropping the oldest messages first. A tool result is never
    kept without the assistant message that called it."""
    return history[fitting_from(history, context_tokens, keep) :]


def fitting_from(history: list[Message], context_tokens: int | None, keep: list[Message]) -> int:
    """Where the most recent part of `history` that fits beside `keep` begins (see `trim`)."""
    budget = int((context_tokens or DEFAULT_CONTEXT_TOKENS) * (1 - ANSWER_RESERVE))
    budget -= estimate_tokens(keep)
    start = len(history)
    while start > 0:
        cost = estimate_tokens(history[start - 1])
        if cost > budget:
            break
        budget -= cost
        start -= 1
    while start < len(history) and history[start].role == "tool":  # its call was dropped
        start += 1
    return start


def summary_message(text: str) -> Message:
    return Message.system(f"Summary of the earlier conversation:\n{text}")


def transcript(messages: list[Message]) -> str:
    """Messages as plain lines for the summariser, each cut to `MESSAGE_CHARS`."""
    lines = []
    for message in messages:
        text = " ".join(describe(part) for part in message.parts)
        for call in message.tool_calls or ():
            text += f" [calls {call.name}({call.arguments[:200]})]"
        if len(text) > MESSAGE_CHARS:
            text = text[:MESSAGE_CHARS] + " …"
        lines.append(f"{message.role}: {text.strip()}")
    return "\n".join(lines)


async def save_summary(execution: Execution, session: str, text: str, through: int) -> None:
    """Keep the rolling summary in the session's state (once, however often replayed)."""
    run = execution.run
    store = execution.env.store

    async def write() -> bool:
        record = await store.get_session(run.tenant, session)
        if record is None:
            return False
        state = json.loads(record.state)
        previous = state.get(SUMMARY_KEY)
        if isinstance(previous, dict) and int(previous.get("through", 0)) >= through:
            return False  # another run summarised further meanwhile
        state[SUMMARY_KEY] = {"through": through, "text": text}
        await store.update_session(run.tenant, session, state=json.dumps(state), metadata=None)
        return True

    step = StepDef(fn=write, name="session.summary", is_async=True, return_hint=bool)
    await execution.call_step(step, (), {})
