"""A run's place in a distributed trace: W3C `traceparent` values, and the ids of a run's
trace and root span.

A run submitted with a `traceparent` continues that trace: its root span is a child of the
submitter's span. A run submitted without one gets a trace of its own whose id is the run's
id (run ids are 128-bit hex, like trace ids), so an operator can find any run's trace from
its id alone. The root span's id is derived from the run id, so every worker that executes
the run, on any machine and after any failover, parents its spans on the same root without
coordinating. Nothing here needs OpenTelemetry.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
SAMPLED = 0x01


@dataclass(frozen=True)
class TraceParent:
    """A valid W3C trace context: the caller's trace, its span, and its flags."""

    trace_id: str
    span_id: str
    flags: int

    @property
    def sampled(self) -> bool:
        return bool(self.flags & SAMPLED)

    def header(self) -> str:
        """The `traceparent` header value (version 00)."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags:02x}"


def parse_traceparent(value: str | None) -> TraceParent | None:
    """The trace context in a `traceparent` header, or None when it is absent or invalid.

    As the W3C spec asks, an invalid value is ignored (the run starts a trace of its own)
    rather than refused: a broken tracing header must not fail a submission.
    """
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return TraceParent(trace_id, span_id, int(flags, 16))


@dataclass(frozen=True)
class RunTrace:
    """Where a run's spans go.

    Attributes:
        trace_id: 32 hex digits.
        root_span_id: 16 hex digits: the span that stands for the whole run.
        parent: the submitter's span context, when the run was submitted with one.
    """

    trace_id: str
    root_span_id: str
    parent: TraceParent | None


def run_trace(run_id: str, traceparent: str | None) -> RunTrace:
    """The trace of run `run_id`, from the `traceparent` stored with it (if any)."""
    parent = parse_traceparent(traceparent)
    digest = hashlib.sha256(f"bosun-run:{run_id}".encode()).hexdigest()
    root = digest[:16] if digest[:16] != _ZERO_SPAN else "1".rjust(16, "0")
    if parent is not None:
        return RunTrace(parent.trace_id, root, parent)
    trace_id = run_id if _HEX32.match(run_id) and run_id != _ZERO_TRACE else digest[16:48]
    return RunTrace(trace_id, root, None)


def span_id_for(run_id: str, label: str) -> str:
    """A span id of run `run_id` that every worker derives alike (16 hex digits): for a span
    sent once by whichever worker ends what it stands for, such as an agent's invocation."""
    digest = hashlib.sha256(f"bosun-span:{run_id}:{label}".encode()).hexdigest()[:16]
    return digest if digest != _ZERO_SPAN else "1".rjust(16, "0")
