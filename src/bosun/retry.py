"""Retry policy for steps, and the wait a server asks for (`Retry-After`)."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from bosun.errors import ConfigurationError


@dataclass(frozen=True)
class Retry:
    """How a step is retried when it raises.

    Args:
        attempts: total attempts including the first (1 means no retry).
        initial: seconds to wait before the second attempt.
        backoff: multiplier applied to the wait after each failed attempt.
        max_interval: upper bound of a single wait, in seconds.
        jitter: fraction of the wait added or removed at random (0.1 is ±10 %).
        non_retryable: exception types that fail the step at once.

    An exception with `retryable = False` also fails at once, and one with a `retry_after`
    (seconds, e.g. a provider's 429) waits at least that long, at most an hour. Waits are
    durable timers: a run waiting to retry holds no worker.
    """

    attempts: int = 3
    initial: float = 1.0
    backoff: float = 2.0
    max_interval: float = 60.0
    jitter: float = 0.1
    non_retryable: tuple[type[BaseException], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError(f"Retry(attempts={self.attempts}): attempts must be >= 1")
        if self.initial < 0 or self.max_interval < 0:
            raise ConfigurationError("Retry intervals must be >= 0 seconds")
        if self.backoff < 1:
            raise ConfigurationError(f"Retry(backoff={self.backoff}): backoff must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ConfigurationError(f"Retry(jitter={self.jitter}): jitter must be in [0, 1]")

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """Whether attempt number `attempt` (1-based) that raised `error` gets another try."""
        if attempt >= self.attempts:
            return False
        if getattr(error, "retryable", True) is False:  # the error knows it is permanent
            return False
        return not isinstance(error, self.non_retryable)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        base = min(self.initial * self.backoff ** (attempt - 1), self.max_interval)
        if self.jitter:
            base *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(base, 0.0)


NO_RETRY = Retry(attempts=1)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds a server (a provider, a webhook receiver) asks a client to wait before trying
    again: `retry-after-ms` (OpenAI, Anthropic), else `Retry-After` in seconds or as an HTTP
    date; None without either, or when they cannot be read. Header names in lower case."""
    try:
        if headers.get("retry-after-ms") is not None:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            import email.utils  # an HTTP date: rare, and the module costs a cold start 2 ms

            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (ValueError, TypeError):
        return None
