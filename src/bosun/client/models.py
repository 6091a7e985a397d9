"""What the HTTP API returns, parsed: runs, pages of runs, and run events."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from bosun.errors import RunCancelled, RunFailed, ServiceError
from bosun.records import RUN_STATUSES, TERMINAL_STATUSES, RunStatus


@dataclass(frozen=True)
class PendingApproval:
    """A tool call that waits for a human's decision (`Client.approve`, `reject`, `edit`).

    Attributes:
        call_id: the model's id of the call; what a decision names.
        tool: the tool's name.
        arguments: the arguments the model proposed.
        requested_at: when the run asked.
        expires_at: when the approval times out; None: it waits for ever.
        on_timeout: what happens then: `reject` (the model is told) or `fail` (the run).
        editable: whether `edit` is taken (some calls of the Agents SDK adapter take only
            approve or reject).
    """

    call_id: str
    tool: str
    arguments: Any
    requested_at: datetime | None
    expires_at: datetime | None
    on_timeout: str = "reject"
    editable: bool = True

    @classmethod
    def from_json(cls, data: Any) -> PendingApproval:
        """Parse one entry of a run's `pending_approvals`."""
        return cls(
            call_id=str(data["call_id"]),
            tool=str(data["tool"]),
            arguments=data.get("arguments"),
            requested_at=_optional_time(data.get("requested_at")),
            expires_at=_optional_time(data.get("expires_at")),
            on_timeout=str(data.get("on_timeout") or "reject"),
            editable=bool(data.get("editable", True)),
        )


@dataclass(frozen=True)
class RunInfo:
    """A run as the server reports it (see docs/api.md)."""

    id: str
    workflow: str
    queue: str
    status: RunStatus
    session: str | None
    priority: int
    input: Any
    result: Any
    error: dict[str, Any] | None
    idempotency_key: str | None
    parent_id: str | None
    deadline: datetime | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    version: str | None = None  # the deployment version it runs on; None before it starts
    # Tool calls waiting for a human's decision (only `get` reads them; empty in lists).
    pending_approvals: tuple[PendingApproval, ...] = ()

    @property
    def finished(self) -> bool:
        """Whether the run is completed, failed or cancelled."""
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, data: Any) -> RunInfo:
        """Parse the server's JSON for one run; `ServiceError` if it is not one."""
        try:
            status = data["status"]
            if status not in RUN_STATUSES:
                raise ValueError(f"unknown status {status!r}")
            return cls(
                id=str(data["id"]),
                workflow=str(data["workflow"]),
                queue=str(data["queue"]),
                status=status,
                session=data.get("session"),
                priority=int(data.get("priority") or 0),
                input=data.get("input"),
                result=data.get("result"),
                error=data.get("error"),
                idempotency_key=data.get("idempotency_key"),
                parent_id=data.get("parent_id"),
                deadline=_optional_time(data.get("deadline")),
                attempts=int(data.get("attempts") or 0),
                created_at=_time(data["created_at"]),
                updated_at=_time(data["updated_at"]),
                finished_at=_optional_time(data.get("finished_at")),
                version=data.get("version"),
                pending_approvals=tuple(
                    PendingApproval.from_json(a) for a in data.get("pending_approvals") or ()
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ServiceError(f"the server sent a run the client cannot read: {exc}") from exc


@dataclass(frozen=True)
class SubmittedRun(RunInfo):
    """What `submit` returns: the run, and whether this submit created it.

    `created` is False when the server already had a run with the submit's idempotency key
    (it answered `200`, not `201`) and returned that run, as it stands, instead: nothing new
    started. (A submit with a key is retried when connecting fails; if an attempt whose answer
    was lost created the run, the retry finds it and says False.)
    """

    created: bool = field(kw_only=True)

    @classmethod
    def of(cls, run: RunInfo, *, created: bool) -> SubmittedRun:
        """`run`, with whether the submit created it."""
        return cls(**{f.name: getattr(run, f.name) for f in fields(RunInfo)}, created=created)


@dataclass(frozen=True)
class RunPage:
    """One page of `Client.list`: the runs, newest first, and the cursor of the next page."""

    runs: tuple[RunInfo, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class RunEvent:
    """One event of a run. `id` is a durable event's position in the run (1, 2, 3, …);
    None for an ephemeral one (an LLM's token deltas), which a reconnect does not replay."""

    id: int | None
    run_id: str
    type: str
    time: datetime
    data: Any

    @classmethod
    def from_json(cls, data: Any) -> RunEvent:
        """Parse one event of the SSE stream; `ServiceError` if it is not one."""
        try:
            return cls(
                id=None if data.get("id") is None else int(data["id"]),
                run_id=str(data["run_id"]),
                type=str(data["type"]),
                time=_time(data["time"]),
                data=data.get("data"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ServiceError(f"the server sent an event the client cannot read: {exc}") from exc


def _time(value: Any) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    stamp = datetime.fromisoformat(value)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _optional_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def rfc3339(stamp: datetime) -> str:
    """A datetime in UTC as RFC 3339; a naive one is taken to be local time."""
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def outcome(run: RunInfo) -> Any:
    """A finished run's result, or the exception `RunHandle.result` raises for it."""
    if run.status == "cancelled":
        raise RunCancelled(f"run {run.id} was cancelled")
    if run.status == "failed":
        raise RunFailed(run.id, run.error)
    return run.result
