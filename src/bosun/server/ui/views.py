"""What the UI's pages show, computed from store records: no I/O, no HTML.

The timeline of a run comes from its journal (one row per operation, with the final
attempt's start and end) and its events (the error of every failed attempt, which the
journal keeps only for the last one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bosun.records import EventRecord, JournalEntry, RunRecord
from bosun.server.ui.attachments import Attachment, collect

# Journal kinds that take time or wait; the others (now, uuid, random, version, reserve,
# settle, event) are instant bookkeeping, listed in the journal but not on the timeline.
TIMED_KINDS = frozenset({"step", "llm", "tool", "sleep", "signal", "child"})
LONG_JSON_LINES = 12
LONG_JSON_CHARS = 600
BAR_WIDTH = 1000  # the timeline's SVG bars are drawn in a 0..1000 wide box


@dataclass(frozen=True)
class Pretty:
    """A JSON value as indented text, whether it is long enough to fold away, and the images
    and files it holds (their base64 left out of the text: `attachments.collect`)."""

    text: str
    long: bool
    preview: str
    attachments: list[Attachment] = field(default_factory=list)


def pretty(value: Any) -> Pretty:
    """Indent a JSON value; text that is not JSON is shown as it is."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return _folded(value)
    value, found = collect(value)
    return _folded(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False), found)


def _folded(text: str, attachments: list[Attachment] | None = None) -> Pretty:
    lines = text.count("\n") + 1
    long = lines > LONG_JSON_LINES or len(text) > LONG_JSON_CHARS
    flat = " ".join(text.split())
    preview = flat if len(flat) <= 80 else flat[:79] + "…"
    return Pretty(text, long, preview, attachments or [])


def duration(seconds: float | None) -> str:
    """A short human duration: `850 µs`, `12 ms`, `1.4 s`, `3 min 5 s`, `2 h 10 min`."""
    if seconds is None:
        return ""
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def filesize(size: int | None) -> str:
    """Bytes as `512 bytes`, `12.3 KB`, `4.1 MB`."""
    if size is None:
        return ""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} KB"
    return f"{size / 1_000_000:.1f} MB"


def stamp(ts: float | None) -> str:
    """UNIX seconds as `2026-11-22 10:00:03` (UTC), for tables."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(ts: float | None, now: float) -> str:
    """How long before `now` a time was (`12 s ago`), or until it (`in 5 min 0 s`)."""
    if ts is None:
        return ""
    delta = now - ts
    return f"{duration(delta)} ago" if delta >= 0 else f"in {duration(-delta)}"


def error_text(error: Any) -> str:
    """An error dict (`type`, `message`) as one line."""
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
        if kind and message:
            return f"{kind}: {message}"
        return str(kind or message or json.dumps(error))
    return "" if error is None else str(error)


@dataclass
class TimelineRow:
    """One journaled operation on the run's timeline."""

    seq: str
    kind: str
    name: str
    status: str
    attempts: int
    started_at: float | None
    finished_at: float | None
    errors: list[str] = field(default_factory=list)
    last_attempt: float | None = None  # how long the final attempt ran (from its event)
    bar_x: int = 0
    bar_width: int = 0

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, self.finished_at - self.started_at)


@dataclass(frozen=True)
class Timeline:
    """A run's timed operations, with bars scaled to the run's span."""

    rows: list[TimelineRow]
    start: float
    end: float

    @property
    def span(self) -> float:
        return self.end - self.start


def timeline(
    run: RunRecord, journal: list[JournalEntry], events: list[EventRecord], now: float
) -> Timeline:
    """The timed operations of a run in journal order: start, duration, attempts and the
    error of each failed attempt."""
    failures, ran = _step_events(events)
    rows = []
    for entry in journal:
        if entry.kind not in TIMED_KINDS:
            continue
        errors = failures.get(entry.seq, [])
        if entry.error is not None and entry.status == "failed" and not errors:
            errors = [f"attempt {entry.attempt}: {error_text(entry.error)}"]
        rows.append(
            TimelineRow(
                seq=entry.seq,
                kind=entry.kind,
                name=entry.name,
                status=entry.status,
                attempts=entry.attempt,
                started_at=entry.started_at,
                finished_at=entry.finished_at,  # None while waiting: the bar runs to now
                errors=errors,
                last_attempt=ran.get(entry.seq),
            )
        )
    start = run.created_at
    end = run.finished_at or now
    for row in rows:
        end = max(end, row.finished_at or row.started_at or end)
    _scale(rows, start, end, now)
    return Timeline(rows, start, end)


def _step_events(events: list[EventRecord]) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Per journal position: `attempt N: error` for every attempt that failed, and how long
    the attempt that completed ran."""
    found: dict[str, list[str]] = {}
    ran: dict[str, float] = {}
    for event in events:
        if event.type not in ("step.retrying", "step.failed", "step.completed"):
            continue
        try:
            data = json.loads(event.data)
        except ValueError:
            continue
        if not isinstance(data, dict) or "seq" not in data:
            continue
        if event.type == "step.completed":
            if isinstance(data.get("duration"), int | float):
                ran[str(data["seq"])] = float(data["duration"])
            continue
        line = f"attempt {data.get('attempt', '?')}: {error_text(data.get('error'))}"
        found.setdefault(str(data["seq"]), []).append(line)
    return found, ran


def _scale(rows: list[TimelineRow], start: float, end: float, now: float) -> None:
    span = max(end - start, 1e-6)
    for row in rows:
        if row.started_at is None:
            continue
        until = row.finished_at if row.finished_at is not None else min(now, end)
        x = (row.started_at - start) / span * BAR_WIDTH
        width = max((until - row.started_at) / span * BAR_WIDTH, 2.0)  # a visible sliver
        row.bar_x = max(0, min(BAR_WIDTH - 2, round(x)))
        row.bar_width = max(2, min(BAR_WIDTH - row.bar_x, round(width)))


@dataclass(frozen=True)
class ChatLine:
    """One message of a session's conversation, ready to show."""

    seq: int
    role: str
    content: str
    tool_calls: list[str]
    run_id: str | None
    time: float
    attachments: list[Attachment] = field(default_factory=list)


def chat_line(seq: int, run_id: str | None, created_at: float, message: str) -> ChatLine:
    """A stored session message (the JSON of an agent Message) as a conversation line."""
    try:
        data = json.loads(message)
    except ValueError:
        data = {"role": "?", "content": message}
    if not isinstance(data, dict):
        data = {"role": "?", "content": json.dumps(data)}
    calls = [
        f"{c.get('name', '?')}({c.get('arguments', '')})"
        for c in data.get("tool_calls") or []
        if isinstance(c, dict)
    ]
    role = str(data.get("role", "?"))
    if role == "tool" and data.get("name"):
        role = f"tool · {data['name']}"
    content = data.get("content")
    if not isinstance(content, list):
        return ChatLine(seq, role, str(content or ""), calls, run_id, created_at)
    texts = [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    _, found = collect(content)
    return ChatLine(seq, role, "\n".join(texts), calls, run_id, created_at, found)
