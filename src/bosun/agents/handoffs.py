"""Handoffs: an agent hands the conversation to another agent, in the same run.

```python
billing = bosun.Agent(name="billing", description="Invoices, refunds and payments.", ...)
triage = bosun.Agent(
    name="triage",
    instructions="Route the customer to the right team.",
    handoffs=[billing, bosun.handoff(shipping, history="last_user")],
)
```

Each target is a tool the model may call, `transfer_to_<name>` (no arguments), described by
the target's `description`. When the model calls one, the other tool calls of that answer run
as usual, the transfer is answered (`{"assistant": "<name>"}`, as the OpenAI Agents SDK
answers it) and journaled as a step of kind `tool` named `handoff:<name>`, and the
conversation goes on with the target: its instructions, tools, model, temperature, handoffs
and output type, from the next turn. A replay reads the model's answer and the handoff back
from the journal, so it reaches the same agent without calling any model again.

The target sees the conversation without the previous agent's instructions, filtered by the
handoff's `history`: `"all"` (the default) keeps every message, the transfer included;
`"last_user"` keeps only the latest user message; a function of the messages returns those
to keep. The session, if any, records the whole conversation whatever the filter.

Only the first handoff of an answer is taken (a second one is answered with an error, as
the SDK does). Turns add up across agents and count toward the first agent's `max_turns`,
so two agents handing the conversation back and forth stop there with `AgentError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from bosun.agents.messages import Message, ToolCall, ToolSpec
from bosun.engine.definitions import StepDef
from bosun.errors import ConfigurationError

if TYPE_CHECKING:
    from bosun.engine.context import WorkflowContext

__all__ = [
    "Handoff",
    "History",
    "Named",
    "Split",
    "as_handoff",
    "handoff",
    "handoff_table",
    "record_handoff",
    "split",
]

History = Literal["all", "last_user"] | Callable[[list[Message]], list[Message]]
_NOT_A_NAME = re.compile(r"[^a-zA-Z0-9_-]+")
_SECOND_HANDOFF = "error: only the first handoff of an answer is taken; this one was ignored"


class Named(Protocol):
    """What a handoff reads of the agent it goes to (a `bosun.Agent`, which this module does
    not import: the agent imports it)."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str | None: ...


A = TypeVar("A", bound=Named)


@dataclass(frozen=True)
class Handoff(Generic[A]):
    """A transfer of the conversation to `agent` that a model may choose (see `handoff`)."""

    agent: A
    history: History
    tool_name: str
    description: str

    @property
    def spec(self) -> ToolSpec:
        """The tool the model calls to hand over."""
        return ToolSpec(
            name=self.tool_name,
            description=self.description,
            parameters={"type": "object", "properties": {}, "additionalProperties": False},
        )

    def shown(self, conversation: list[Message]) -> list[Message]:
        """The part of `conversation` (without instructions) the target agent is shown."""
        if self.history == "all":
            return list(conversation)
        if self.history == "last_user":
            users = [m for m in conversation if m.role == "user"]
            return users[-1:]
        kept = self.history(list(conversation))
        if not isinstance(kept, list) or not all(isinstance(m, Message) for m in kept):
            raise ConfigurationError(
                f"the history filter of the handoff to {self.agent.name!r} must return a list "
                f"of Message, got {kept!r}"
            )
        return kept


def handoff(
    agent: A,
    *,
    history: History = "all",
    name: str | None = None,
    description: str | None = None,
) -> Handoff[A]:
    """A handoff to `agent`, for `Agent(handoffs=[…])` (an agent alone means the defaults).

    Args:
        agent: the agent the conversation goes on with.
        history: what of the conversation it sees: `"all"`, `"last_user"`, or a function of
            the messages (without the instructions) returning those to show.
        name: the tool's name (default `transfer_to_<agent's name>`).
        description: what the model is told of the tool (default: from the agent's
            `description`).
    """
    if not isinstance(getattr(agent, "name", None), str):
        raise ConfigurationError(f"a handoff goes to a bosun.Agent, got {agent!r}")
    if history not in ("all", "last_user") and not callable(history):
        raise ConfigurationError(
            f"history must be 'all', 'last_user' or a function of the messages, got {history!r}"
        )
    tool_name = name or ("transfer_to_" + _NOT_A_NAME.sub("_", agent.name).strip("_"))[:64]
    if description is None:
        description = f"Hand the conversation over to the {agent.name} agent."
        if agent.description:
            description += f" {agent.description}"
    return Handoff(agent, history, tool_name, description)


def as_handoff(item: A | Handoff[A]) -> Handoff[A]:
    """`item` as a Handoff: an agent alone is a handoff with the defaults."""
    return item if isinstance(item, Handoff) else handoff(item)


def handoff_table(
    agent: str, handoffs: Sequence[Handoff[A]], tools: Mapping[str, object]
) -> dict[str, Handoff[A]]:
    """Agent `agent`'s handoffs by tool name, checked against each other and its `tools`."""
    found: dict[str, Handoff[A]] = {}
    for handoff in handoffs:
        if handoff.tool_name in found or handoff.tool_name in tools:
            raise ConfigurationError(
                f"agent {agent!r}: two tools are named {handoff.tool_name!r} (a handoff's and "
                f"another's); give the handoff name= or the agent it hands to another name"
            )
        found[handoff.tool_name] = handoff
    return found


@dataclass(frozen=True)
class Split(Generic[A]):
    """An answer's tool calls, apart from its handoffs."""

    calls: list[ToolCall]  # the calls of tools, to run
    taken: Handoff[A] | None  # the handoff to follow after them (the answer's first)
    answers: dict[int, str]  # position among the calls -> what the model reads, per handoff


def split(calls: Sequence[ToolCall], handoffs: dict[str, Handoff[A]]) -> Split[A]:
    """Tell the handoffs among `calls` from the tool calls."""
    plain: list[ToolCall] = []
    taken: Handoff[A] | None = None
    answers: dict[int, str] = {}
    for i, call in enumerate(calls):
        target = handoffs.get(call.name)
        if target is None:
            plain.append(call)
        elif taken is None:
            taken = target
            answers[i] = json.dumps({"assistant": target.agent.name})
        else:
            answers[i] = _SECOND_HANDOFF
    return Split(plain, taken, answers)


async def record_handoff(ctx: WorkflowContext, source: Named, target: Handoff[Any]) -> None:
    """Journal the handoff from `source` (a step: replay checks it reaches the same agent)."""
    moved = {"from": source.name, "to": target.agent.name}

    async def handed_over() -> dict[str, Any]:
        return moved

    step = StepDef(
        fn=handed_over, name=f"handoff:{target.agent.name}", is_async=True, return_hint=Any
    )
    await ctx._execution.call_step(step, (), {}, kind="tool")
