"""Internal control flow. `BaseException` so that `except Exception:` in user code cannot
swallow a suspension or a release."""

from __future__ import annotations


class Suspend(BaseException):
    """Unwind the workflow: it waits until `wake_at` (UNIX seconds), or to be woken."""

    def __init__(self, wake_at: float | None) -> None:
        super().__init__(wake_at)
        self.wake_at = wake_at


class Release(BaseException):
    """Unwind the workflow and hand the run back to the queue (the worker is draining)."""


class Abandon(BaseException):
    """Stop executing the run at once: its lease is gone or the database is out of reach.

    Nothing more is written; the run continues from its last durable point on whichever
    worker holds it next."""

    def __init__(self, reason: BaseException) -> None:
        super().__init__(str(reason))
        self.reason = reason
