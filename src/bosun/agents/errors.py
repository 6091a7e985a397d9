"""Errors of the agent toolkit, under bosun's one root.

```
BosunError
├── ProviderError             an LLM provider failed or refused the request
│   ├── ProviderRateLimited   HTTP 429; wait `retry_after` seconds
│   └── ProviderTimeout       no byte arrived for `idle_timeout` seconds (also TimeoutError)
├── OutputParseError          a model's output holds no readable JSON (also ValueError)
└── InvalidToolArguments      a model's tool-call arguments do not fit the tool (also ValueError)
```

`retryable` on a `ProviderError` says whether the same request may succeed later (rate limits,
timeouts, 5xx, lost connections); a non-retryable one (bad request, unknown model, wrong key)
will fail again until the request or the configuration is fixed.
"""

from __future__ import annotations

from typing import Any

from bosun.errors import BosunError, RunError

__all__ = [
    "InvalidToolArguments",
    "OutputParseError",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderTimeout",
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


class BudgetExceeded(RunError):
    """A run's or its tenant's token or cost budget is used up; the message says which."""

    retryable = False
