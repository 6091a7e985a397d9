"""The JSON shapes of runs and events on the wire: the HTTP API, webhooks and the CLI."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bosun import serde
from bosun.errors import InvalidRequest
from bosun.events import FINAL_TYPES
from bosun.idempotency import shown_key
from bosun.records import EventRecord, RunRecord

if TYPE_CHECKING:
    from bosun.agents.approvals import PendingApproval

DEFAULT_TENANT = "default"
KEY_SEPARATOR = "\x1f"  # between a tenant and its session in a concurrency key


def iso(ts: float | None) -> str | None:
    """UNIX seconds as RFC 3339 UTC with microseconds (`2026-11-22T10:00:00.000000Z`)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str, field: str) -> float:
    """An RFC 3339 timestamp (a trailing `Z` or an offset; naive means UTC) as UNIX seconds."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{field} must be an RFC 3339 timestamp, got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _json_or_text(text: str | None, where: str) -> Any:
    """Stored JSON as data; a non-finite number in an old row is shown as null (see
    `serde.read_stored`), so one such row never breaks a listing or a stream."""
    try:
        return serde.read_stored(text, where)
    except ValueError:
        return text


def run_view(run: RunRecord) -> dict[str, Any]:
    """A run as the API, webhooks and `--json` output show it."""
    return {
        "id": run.id,
        "workflow": run.workflow,
        "queue": run.queue,
        "status": run.status,
        "session": run.session,
        "version": run.version,
        "priority": run.priority,
        "input": _json_or_text(run.input, f"run {run.id} input"),
        "result": _json_or_text(run.result, f"run {run.id} result"),
        "error": run.error,
        "idempotency_key": shown_key(run.idempotency_key),
        "parent_id": run.parent_id,
        "deadline": iso(run.deadline),
        "attempts": run.attempts,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "finished_at": iso(run.finished_at),
    }


def approval_view(approval: PendingApproval) -> dict[str, Any]:
    """A tool call waiting for a human's decision, as `GET /v1/runs/{id}` lists it."""
    return {
        "call_id": approval.call_id,
        "tool": approval.tool,
        "arguments": approval.arguments,
        "requested_at": iso(approval.requested_at),
        "expires_at": iso(approval.expires_at),
        "on_timeout": approval.on_timeout,
        "editable": approval.editable,
    }


def event_view(event: EventRecord, run: RunRecord | None = None) -> dict[str, Any]:
    """An event as streams show it; a final event carries the run's result or error."""
    data = _json_or_text(event.data, f"run {event.run_id} event {event.seq}")
    if run is not None and event.type in FINAL_TYPES and isinstance(data, dict):
        if event.type == "run.completed":
            data = {**data, "result": _json_or_text(run.result, f"run {run.id} result")}
        elif event.type == "run.failed" and "error" not in data:
            data = {**data, "error": run.error}
    return {
        "id": event.seq,
        "run_id": event.run_id,
        "type": event.type,
        "time": iso(event.created_at),
        "data": data,
    }


def encode_cursor(created_at: float, run_id: str) -> str:
    raw = json.dumps([created_at, run_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, run_id = json.loads(raw)
        return float(created_at), str(run_id)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidRequest(f"cursor {cursor!r} is not one this API handed out") from None
