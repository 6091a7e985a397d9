"""Guardrails: checks of an agent's input and of its final answer that can stop its run.

```python
def no_card_numbers(text: str) -> str | None:
    \"""Refuse messages that hold a card number.\"""
    return "the message holds a card number" if CARD.search(text) else None

polite = bosun.guardrail(model="small", prompt="Is this answer rude to the customer?")

agent = bosun.Agent(input_guardrails=[no_card_numbers], output_guardrails=[polite], ...)
```

A guardrail is a plain function (sync or async) of the text, or a model asked to classify it
(`guardrail(model=…, prompt=…)`). A function returns None (or True) to let the text through,
and the reason to stop (a string, or False for a reason of its own name). A model guardrail
asks for `{"tripped": bool, "reason": str}` with `ctx.llm.structured`.

Input guardrails run on the user's input before anything else of `Agent.run` (before the
session's history is loaded, tools are listed or the model is called); output guardrails on
the final answer before it is returned or recorded in the session. With handoffs, the first
agent's input guardrails and the answering agent's output guardrails apply (as in the OpenAI
Agents SDK). The guardrails of one stage run together (`ctx.gather`); the first that trips,
in the order given, fails the run with `GuardrailTripped(name, reason)`, after a durable
`agent.guardrail.tripped` event. Each
verdict is journaled: a function guardrail runs as a step named `guardrail:<name>`, a model
guardrail as its `llm` call; a replay reads them back and runs neither again. A guardrail that
raises fails its step, and so the run: a check that cannot decide does not let text through.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from bosun.agents.errors import GuardrailTripped
from bosun.agents.messages import Message
from bosun.engine.definitions import StepDef
from bosun.errors import ConfigurationError

if TYPE_CHECKING:
    from bosun.engine.context import WorkflowContext

__all__ = ["Guardrail", "GuardrailCheck", "as_guardrail", "check", "guardrail"]

Stage = Literal["input", "output"]
GuardrailCheck = Callable[[Any], "str | bool | Awaitable[str | bool | None] | None"]
TRIPPED_EVENT = "agent.guardrail.tripped"
MODEL_INSTRUCTION = (
    "You are a guardrail. Read the text the user gives and decide whether it must be "
    "stopped under this rule:\n{prompt}\n\nAnswer with tripped=true and a short reason when "
    "it must be stopped, and tripped=false otherwise."
)


class ModelVerdict(BaseModel):
    """What a model guardrail answers."""

    tripped: bool
    reason: str = ""


@dataclass(frozen=True)
class Guardrail:
    """A named check of an agent's input or final answer (make one with `guardrail`).

    Attributes:
        name: what `GuardrailTripped`, the journal and the event call it.
        run: checks a text in workflow code, journaling its verdict; returns the reason to
            stop, or None.
    """

    name: str
    run: Callable[[WorkflowContext, Any], Awaitable[str | None]]


def guardrail(
    fn: GuardrailCheck | None = None,
    /,
    *,
    name: str | None = None,
    model: str | None = None,
    prompt: str | None = None,
) -> Guardrail:
    """A guardrail from a function, or one that asks a model.

    Args:
        fn: a function (sync or async) of the text: None or True lets it through, a string
            (the reason) or False stops it. Runs as a journaled step.
        name: the guardrail's name (default: the function's, or `model_guardrail`).
        model: the model alias asked to classify the text (instead of `fn`).
        prompt: the rule the model applies ("Is this message about something other than
            our products?"): it trips when the model says the text must be stopped.
    """
    if fn is not None:
        if model is not None or prompt is not None:
            raise ConfigurationError("guardrail takes a function or model=/prompt=, not both")
        if not callable(fn):
            raise ConfigurationError(f"guardrail takes a function, got {fn!r}")
        return _function_guardrail(fn, name or str(getattr(fn, "__name__", "guardrail")))
    if not prompt:
        raise ConfigurationError("guardrail needs a function, or model= with the prompt= to apply")
    return _model_guardrail(model or "default", prompt, name or "model_guardrail")


def as_guardrail(item: Guardrail | GuardrailCheck) -> Guardrail:
    """`item` as a Guardrail: a plain function becomes a function guardrail."""
    return item if isinstance(item, Guardrail) else guardrail(item)


async def check(
    ctx: WorkflowContext, guardrails: Sequence[Guardrail], value: Any, stage: Stage
) -> None:
    """Run `guardrails` on `value`; raise `GuardrailTripped` for the first that trips."""
    if not guardrails:
        return
    reasons = await ctx.gather(*(g.run(ctx, value) for g in guardrails))
    for rail, reason in zip(guardrails, reasons, strict=True):
        if reason is not None:
            event = {"guardrail": rail.name, "stage": stage, "reason": reason}
            ctx.emit(TRIPPED_EVENT, event)
            raise GuardrailTripped(rail.name, reason, stage)


def input_text(messages: Sequence[Message]) -> str:
    """What input guardrails read of a run's new messages: the user's words."""
    return "\n".join(m.text for m in messages if m.role == "user")


def _function_guardrail(fn: GuardrailCheck, name: str) -> Guardrail:
    if inspect.iscoroutinefunction(fn):

        async def verdict_async(value: Any) -> str | None:
            return _reason(name, await fn(value))

        verdict: Callable[..., Any] = verdict_async
    else:

        def verdict_sync(value: Any) -> str | None:
            return _reason(name, fn(value))

        verdict = verdict_sync
    step = StepDef.build(verdict, f"guardrail:{name}", None, None)

    async def run(ctx: WorkflowContext, value: Any) -> str | None:
        reason = await ctx._execution.call_step(step, (value,), {}, kind="step")
        return None if reason is None else str(reason)

    return Guardrail(name, run)


def _model_guardrail(model: str, prompt: str, name: str) -> Guardrail:
    from bosun.agents.llm import LLM

    async def run(ctx: WorkflowContext, value: Any) -> str | None:
        verdict = await LLM(ctx._execution).structured(
            ModelVerdict,
            messages=[
                Message.system(MODEL_INSTRUCTION.format(prompt=prompt)),
                Message.user(_text(value)),
            ],
            model=model,
        )
        if not verdict.tripped:
            return None
        return verdict.reason or f"the model judged it against the rule: {prompt}"

    return Guardrail(name, run)


def _reason(name: str, verdict: object) -> str | None:
    """A function guardrail's return value as the reason to stop, or None."""
    if verdict is None or verdict is True:
        return None
    if verdict is False:
        return f"{name} refused it"
    if isinstance(verdict, str):
        return verdict or f"{name} refused it"
    raise ConfigurationError(
        f"guardrail {name!r} returned {verdict!r}: return None or True to let the text "
        "through, or the reason to stop it (a string) or False"
    )


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=str)
