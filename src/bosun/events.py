"""The lifecycle events bosun records for every run, next to those a workflow emits.

Each is a `(type, data)` pair with `data` as JSON text, written in the same transaction as
the progress it reports, so a stream of them is exactly the run's durable history.
"""

from __future__ import annotations

import json
from typing import Any

# Compact and strict, as everything bosun stores (the store's `rows.compact_json`): the
# foundations import nothing of the store, so they keep their own encoder.
_compact_json = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode

RESERVED_PREFIXES = ("run.", "step.", "signal.")
FINAL_TYPES = frozenset({"run.completed", "run.failed", "run.cancelled"})

CANCELLED_EVENT = ("run.cancelled", "{}")
RESUMED_EVENT = ("run.resumed", "{}")


def _event(event_type: str, **data: Any) -> tuple[str, str]:
    return event_type, _compact_json(data)


def signal_event(name: str) -> tuple[str, str]:
    return _event("signal.received", name=name)


def step_started(seq: str, name: str, attempt: int) -> tuple[str, str]:
    return _event("step.started", seq=seq, name=name, attempt=attempt)


def step_completed(seq: str, name: str, attempt: int, duration: float) -> tuple[str, str]:
    return _event("step.completed", seq=seq, name=name, attempt=attempt, duration=duration)


def step_retrying(
    seq: str, name: str, attempt: int, error: dict[str, Any], retry_at: float
) -> tuple[str, str]:
    return _event(
        "step.retrying", seq=seq, name=name, attempt=attempt, error=brief(error), retry_at=retry_at
    )


def step_failed(seq: str, name: str, attempt: int, error: dict[str, Any]) -> tuple[str, str]:
    return _event("step.failed", seq=seq, name=name, attempt=attempt, error=brief(error))


def run_outcome(kind: str, wake_at: float | None, error: dict[str, Any] | None) -> tuple[str, str]:
    """The event for how a worker left a run (`Outcome.kind`); none for a release."""
    if kind == "suspend":
        return _event("run.suspended", wake_at=wake_at)
    if kind == "complete":
        return _event("run.completed")  # the result is read from the run, not copied here
    if kind == "fail":
        return _event("run.failed", error=brief(error or {}))
    return _event("run.blocked", error=brief(error or {}))


def brief(error: dict[str, Any]) -> dict[str, Any]:
    """An error without its traceback (that stays in the journal and on the run)."""
    return {k: v for k, v in error.items() if k != "traceback"}
