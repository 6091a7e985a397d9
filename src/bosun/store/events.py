"""Moved to `bosun.events` (the lifecycle events belong with the foundations, next to
`bosun.records`); import from there in new code. This shim re-exports it for code outside
bosun that imported it."""

from __future__ import annotations

from bosun.events import (
    CANCELLED_EVENT,
    FINAL_TYPES,
    RESERVED_PREFIXES,
    RESUMED_EVENT,
    brief,
    run_outcome,
    signal_event,
    step_completed,
    step_failed,
    step_retrying,
    step_started,
)

__all__ = [
    "CANCELLED_EVENT",
    "FINAL_TYPES",
    "RESERVED_PREFIXES",
    "RESUMED_EVENT",
    "brief",
    "run_outcome",
    "signal_event",
    "step_completed",
    "step_failed",
    "step_retrying",
    "step_started",
]
