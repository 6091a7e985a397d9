"""Errors of the agent toolkit, under bosun's one root.

```
BosunError
├── ProviderError             an LLM provider failed or refused the request
│   ├── ProviderRateLimited   HTTP 429; wait `retry_after` seconds
│   ├── ProviderTimeout       no byte arrived for `idle_timeout` seconds (also TimeoutError)
│   └── UnsupportedContent    a message holds a part the provider cannot take there (not sent)
├── OutputParseError          a model's output holds no readable JSON (also ValueError)
├── InvalidToolArguments      a model's tool-call arguments do not fit the tool (also ValueError)
└── RunError
    ├── StructuredOutputError no valid value of the wanted type within the attempts
    ├── AgentError            an agent ran out of turns
    │   ├── ApprovalTimeout   no human decided on a tool call in time (on_timeout="fail")
    │   └── GuardrailTripped  a guardrail stopped the agent's input or its final answer
    ├── BudgetExceeded        a run's or tenant's budget is used up
    └── ModelAnswerError      the model's answer cannot be used as it is
        ├── Refused           the model refused (OpenAI's `refusal`)
        ├── ContentFiltered   the provider's content filter withheld the answer
        └── OutputTruncated   the answer hit the token limit (`finish_reason: length`)
```

`retryable` on a `ProviderError` says whether the same request may succeed later (rate limits,
timeouts, 5xx, lost connections); a non-retryable one (bad request, unknown model, wrong key)
will fail again until the request or the configuration is fixed.
"""

from __future__ import annotations

from typing import Any

from bosun.errors import BosunError, RunError

__all__ = [
    "AgentError",
    "ApprovalTimeout",
    "BudgetExceeded",
    "ContentFiltered",
    "GuardrailTripped",
    "InvalidToolArguments",
    "ModelAnswerError",
    "OutputParseError",
    "OutputTruncated",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderTimeout",
    "Refused",
    "StructuredOutputError",
    "UnsupportedContent",
]


class ProviderError(BosunError):
    """An LLM provider failed, refused the request, or answered something unreadable.

    Attributes:
        retryable: whether repeating the same request later may succeed.
        status: the HTTP status of the provider's answer, or `None` when none came.
    """

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class ProviderRateLimited(ProviderError):
    """The provider answered 429: too many requests or tokens for now.

    Attributes:
        retry_after: the seconds the provider asked to wait (`Retry-After`), if it said.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = 429
    ) -> None:
        super().__init__(message, retryable=True, status=status)
        self.retry_after = retry_after


class ProviderTimeout(ProviderError, TimeoutError):
    """No byte came from the provider for `idle_timeout` seconds.

    Progress-based, not a wall clock: a long generation that keeps sending is never cut off.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True, status=None)


class UnsupportedContent(ProviderError):
    """A message holds a content part (an image, a file) that the provider cannot take where it
    is, or in that form; raised before anything is sent, and never retried. The message names
    what the provider takes instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, status=None)


class OutputParseError(BosunError, ValueError):
    """A model's output holds no JSON value that can be read, even tolerantly."""


class InvalidToolArguments(BosunError, ValueError):
    """The arguments a model gave a tool call do not match the tool's parameters.

    The message names each bad field and is meant to be returned to the model.

    Attributes:
        tool: the tool's name.
        errors: `(field path, problem)` pairs; the path is empty for the arguments as a whole.
    """

    def __init__(
        self, message: str, *, tool: str = "", errors: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.tool = tool
        self.errors = errors or []


class StructuredOutputError(RunError):
    """A model did not produce a valid value of the requested type within the attempts.

    Attributes:
        output: the requested type's name.
        attempts: how many calls were made.
        problem: what was wrong with the last answer.
        raw: the last answer, as the model wrote it.
    """

    def __init__(self, output: str, attempts: int, problem: str, raw: str) -> None:
        excerpt = raw if len(raw) <= 500 else raw[:500] + "…"
        super().__init__(
            f"no valid {output} after {attempts} attempt(s): {problem}\nlast answer: {excerpt!r}"
        )
        self.output = output
        self.attempts = attempts
        self.problem = problem
        self.raw = raw

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.output, self.attempts, self.problem, self.raw))


class AgentError(RunError):
    """An agent stopped without a final answer (it ran out of turns)."""


class ApprovalTimeout(AgentError, TimeoutError):
    """No human approved, rejected or edited a tool call before its approval timed out, and
    its tool declared `on_timeout="fail"`."""


class GuardrailTripped(AgentError):
    """A guardrail stopped an agent: its input (before the model was called) or its final
    answer (before it was returned) failed a check. The run fails with this error; the
    guardrail's verdict is in the journal.

    Attributes:
        name: the guardrail's name.
        reason: why it tripped, as the guardrail said.
        stage: `input` or `output`.
    """

    retryable = False

    def __init__(self, name: str, reason: str, stage: str = "input") -> None:
        super().__init__(f"{stage} guardrail {name!r} tripped: {reason}")
        self.name = name
        self.reason = reason
        self.stage = stage

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, self.reason, self.stage))


class BudgetExceeded(RunError):
    """A run's or its tenant's token or cost budget is used up; the message says which."""

    retryable = False


class ModelAnswerError(RunError):
    """A model answered, but not with something the run can use: it refused, the provider's
    content filter withheld the answer, or the answer was cut short at the token limit.

    The call is journaled (and billed) like any other: a replay raises the same error without
    calling the model again. Asking again the same way would most likely give the same answer,
    so nothing retries it: catch it in the workflow to change the prompt, the model or the
    token limit.

    Attributes:
        model: the model alias that answered.
        text: what the model wrote: the refusal, or the partial answer (possibly empty).
    """

    retryable = False
    _what = "could not be used"

    def __init__(self, model: str, text: str = "", detail: str = "") -> None:
        excerpt = text if len(text) <= 300 else text[:300] + "…"
        said = f": {excerpt!r}" if excerpt else ""
        super().__init__(f"model {model!r} {self._what}{said}{detail}")
        self.model = model
        self.text = text
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.model, self.text, self.detail))


class Refused(ModelAnswerError):
    """The model refused to answer (OpenAI's `refusal`; `text` is what it said)."""

    _what = "refused to answer"


class ContentFiltered(ModelAnswerError):
    """The provider's content filter withheld the answer (`finish_reason: content_filter`);
    `text` is whatever came before the filter stopped it."""

    _what = "answered, but the provider's content filter withheld the answer"


class OutputTruncated(ModelAnswerError):
    """The answer hit the token limit before it was complete (`finish_reason: length`);
    `text` is the part that was written. Raise `max_tokens`, or ask for a shorter answer
    (`ctx.llm.chat(..., allow_truncated=True)` returns a cut answer instead)."""

    _what = "was cut off at the token limit before its answer was complete"
