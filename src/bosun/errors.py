"""Every error bosun raises, under one root.

```
BosunError
├── ConfigurationError        the user's mistake in code, arguments or settings
│   ├── WorkflowNotFound      no workflow registered under that name
│   ├── InvalidArguments      inputs do not match the workflow's signature or types
│   ├── SerializationError    a value cannot be stored as JSON (names the step and type)
│   │   └── NonFiniteNumber   it holds NaN or ±Infinity, which JSON has not (also ValueError)
│   ├── InvalidSchedule       a bad cron expression, time zone or schedule option
│   ├── ScheduleNotFound      no schedule with that name
│   ├── InvalidRequest        an HTTP request the API cannot accept (body, fields, types)
│   └── IdempotencyConflict   an idempotency key already used for another workflow or input (409)
├── StoreError                the database could not do what was asked
│   ├── StoreUnavailable      cannot open, read or lock the database file/server
│   │   └── ConnectionLimitReached  the server (or pooler) refused a connection: too many
│   ├── SchemaTooNew          the database was migrated by a newer bosun
│   └── LeaseLost             this worker no longer owns the run (fencing)
├── RunNotFound               no run with that id
├── SessionNotFound           no session with that id (for this tenant)
├── ApprovalNotFound          no tool call of the run waits for approval under that id (404)
├── InvalidRunState           the operation does not apply to the run's status
│   ├── SessionBusy           a session's run is unfinished (double_texting="reject")
│   └── ApprovalDecided       the tool call was already decided, or timed out (409)
├── ResultTimeout             `RunHandle.result(timeout=…)` gave up waiting (also TimeoutError)
├── AuthenticationFailed      no API key, or one that is unknown or revoked (HTTP 401)
├── PermissionDenied          the API key lacks the scope the operation needs (HTTP 403)
├── RateLimited               too many requests or streams for one API key (HTTP 429)
├── ServiceError              the server failed or answered something unexpected (HTTP 5xx)
├── WebhookFailed             one webhook delivery attempt failed (in `bosun.webhooks`)
├── ProviderError             an LLM provider failed (`bosun.agents.errors`; `retryable` says
│   │                         whether another attempt may succeed)
│   ├── ProviderRateLimited   429 from the provider, with its `retry_after`
│   └── ProviderTimeout       no token arrived for `idle_timeout` seconds (also TimeoutError)
├── OutputParseError          a model's output holds no JSON (also ValueError)
├── InvalidToolArguments      a model called a tool with arguments that do not fit (ValueError)
└── RunError                  something went wrong inside a run
    ├── StepFailed            a step exhausted its retries (or raised a non-retryable error)
    ├── SignalTimeout         `wait_for_signal` timed out (also TimeoutError)
    ├── ChildFailed           a child run failed or was cancelled
    ├── DeterminismError      replay found different code than the journal recorded
    ├── DeadlineExceeded      the run passed its deadline
    ├── RunFailed             the run ended `failed` (raised by `RunHandle.result`)
    ├── RunCancelled          the run was cancelled (raised by `RunHandle.result`)
    └── ModelAnswerError      a model's answer cannot be used (`bosun.agents.errors`)
        ├── Refused           the model refused to answer
        ├── ContentFiltered   the provider's content filter withheld the answer
        └── OutputTruncated   the answer hit the token limit before it was complete
```

Control flow inside the engine (suspending a run, releasing it on drain) uses private
`BaseException` subclasses, so a workflow's `except Exception:` can never swallow them.
"""

from __future__ import annotations

from typing import Any


class BosunError(Exception):
    """Root of every error bosun raises."""


class ConfigurationError(BosunError):
    """The user's code, arguments or settings are wrong; fix them and retry."""


class WorkflowNotFound(ConfigurationError):
    """No workflow is registered under the requested name."""


class InvalidArguments(ConfigurationError):
    """The inputs do not match the workflow's signature or type hints."""


class SerializationError(ConfigurationError):
    """A value cannot be stored as JSON."""


class NonFiniteNumber(SerializationError, ValueError):
    """A value holds NaN, Infinity or -Infinity, which JSON cannot represent.

    Attributes:
        path: where in the value, as `metadata.score` or `items[2]` ("" for the value itself).
        token: `NaN`, `Infinity` or `-Infinity`.
        reason: the message without the leading "where:" part.
    """

    def __init__(self, where: str, path: str, token: str) -> None:
        self.path = path
        self.token = token
        self.reason = (
            f"{path or 'the value'} is {token}, which JSON cannot hold; use a finite number, "
            "null or a string"
        )
        super().__init__(f"{where}: {self.reason}")


class MemoryDimensionMismatch(ConfigurationError):
    """A memory or a query was embedded with another number of dimensions than the memories of
    its namespace: the embedding model changed. Such embeddings cannot be compared."""


class InvalidSchedule(ConfigurationError):
    """A schedule's cron expression, time zone, inputs or options are wrong, or its name is
    taken."""


class ScheduleNotFound(ConfigurationError):
    """No schedule exists with the given name."""


class InvalidRequest(ConfigurationError):
    """An HTTP request the API cannot accept: malformed JSON, wrong types, unknown fields."""


class IdempotencyConflict(ConfigurationError):
    """The idempotency key already belongs to a run of another workflow, or one started with
    other input (HTTP 409): a retry of a submission must send the same workflow and input; a
    different submission needs its own key."""


class PayloadTooLarge(SerializationError):
    """A serialised value exceeds the size allowed for one payload."""


class StoreError(BosunError):
    """The store could not carry out an operation."""


class StoreUnavailable(StoreError):
    """The database cannot be opened, read or locked."""


class ConnectionLimitReached(StoreUnavailable):
    """The PostgreSQL server (or the pooler in front of it) refused a new connection because
    its connection limit is reached (`max_connections`, a role's or database's limit, or
    PgBouncer's `max_client_conn`). Transient: a worker retries; the message names the limit
    and this process's connection budget."""


class SchemaTooNew(StoreError):
    """The database schema is newer than this version of bosun understands."""


class LeaseLost(StoreError):
    """The worker's lease on a run was taken over, expired or revoked; it may write nothing."""


class RunNotFound(BosunError):
    """No run exists with the given id."""


class SessionNotFound(BosunError):
    """No session with that id exists for the tenant."""


class ApprovalNotFound(BosunError):
    """No tool call of the run waits for a human's approval under that call id."""


class InvalidRunState(BosunError):
    """The operation does not apply to the run in its current status."""


class SessionBusy(InvalidRunState):
    """The session has an unfinished run and the submission asked to be rejected then."""


class ApprovalDecided(InvalidRunState):
    """The tool call was already approved, rejected or edited, or its approval timed out."""


class ResultTimeout(BosunError, TimeoutError):
    """Waiting for a run's result took longer than the caller allowed."""


class AuthenticationFailed(BosunError):
    """The request carried no API key, or one that is unknown or revoked."""


class PermissionDenied(BosunError):
    """The API key is valid but lacks the scope the operation needs."""


class RateLimited(BosunError):
    """Too many requests or open streams for one API key; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceError(BosunError):
    """The server failed or answered something a client did not expect."""


class RunError(BosunError):
    """Something went wrong inside a run."""


class StepFailed(RunError):
    """A step failed for good: retries exhausted or the error was non-retryable.

    Attributes:
        step: the step's name.
        error_type: the qualified name of the exception the step raised.
        message: that exception's message.
        attempts: how many attempts were made.
    """

    def __init__(self, step: str, error_type: str, message: str, attempts: int) -> None:
        super().__init__(
            f"step {step!r} failed after {attempts} attempt(s): {error_type}: {message}"
        )
        self.step = step
        self.error_type = error_type
        self.message = message
        self.attempts = attempts


class SignalTimeout(RunError, TimeoutError):
    """No signal of the awaited name arrived before the timeout."""


class ChildFailed(RunError):
    """A child run ended `failed` or `cancelled`."""

    def __init__(self, child_run_id: str, status: str, error: str) -> None:
        super().__init__(f"child run {child_run_id} ended {status}: {error}")
        self.child_run_id = child_run_id
        self.status = status
        self.error = error


class DeterminismError(RunError):
    """Replay met code that differs from what the journal recorded; the run is parked."""


class DeadlineExceeded(RunError):
    """The run did not finish before its deadline."""


class RunFailed(RunError):
    """The run ended with status `failed`."""

    def __init__(self, run_id: str, error: dict[str, Any] | None) -> None:
        error = error or {}
        message = error.get("message", "unknown error")
        super().__init__(f"run {run_id} failed: {error.get('type', 'Error')}: {message}")
        self.run_id = run_id
        self.error = error


class RunCancelled(RunError):
    """The run was cancelled."""


class WebhookFailed(BosunError):
    """One delivery attempt did not get a 2xx answer.

    Attributes:
        status: the HTTP status the receiver answered, or `None` when no answer came
            (connection refused, timeout, TLS or protocol error).
        retry_after: the seconds a 429 or 503 answer's `Retry-After` asked to wait, if it
            did: the delivery's next attempt waits at least that long (at most an hour).
    """

    def __init__(
        self, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class WebhookRejected(WebhookFailed):
    """The receiver's answer is final: another attempt would get the same (a 3xx, as
    redirects are not followed, or a 4xx other than 408 Request Timeout and 429 Too Many
    Requests)."""
