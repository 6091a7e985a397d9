"""What the CLI's `run` and `runs …` commands do when given `--url`: the same work over the
HTTP API, returning what the local commands print, so both print the same shapes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bosun.client import Client, RunEvent, RunInfo, SubmittedRun
from bosun.client.models import rfc3339
from bosun.records import RunRecord, RunStatus


def run_workflow(
    client: Client,
    workflow: str,
    data: Any,
    *,
    idempotency_key: str | None = None,
    session: str | None = None,
    wait: bool = False,
    timeout: float | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
) -> tuple[dict[str, Any], SubmittedRun]:
    """Submit a run; with `wait`, or `on_event` (which then sees each event as it streams),
    also wait for its result. Returns `bosun run`'s report (`run_id`, then `status` and
    `result` once finished) and the run as submitted (`created` False: the idempotency key's
    run already existed). Raises `RunFailed` or `RunCancelled` like the local command."""
    started = time.monotonic()
    run = client.submit(workflow, data, idempotency_key=idempotency_key, session=session)
    if on_event is None and not wait:
        return {"run_id": run.id}, run
    if on_event is not None:
        for event in client.events(run.id, timeout=timeout):
            on_event(event)
    left = None if timeout is None else max(timeout - (time.monotonic() - started), 0.0)
    value = client.result(run.id, timeout=left)
    return {"run_id": run.id, "status": "completed", "result": value}, run


def event_printer(as_json: bool) -> Callable[[RunEvent], None]:
    """What `bosun run --follow` does with each event: print it as a line of text, or as
    one line of JSON with `--json`."""

    def show(event: RunEvent) -> None:
        print(json.dumps(event_json(event)) if as_json else event_line(event), flush=True)

    return show


def event_json(event: RunEvent) -> dict[str, Any]:
    """An event as the API sends it (what `bosun run --follow --json` prints per line)."""
    return {
        "id": event.id,
        "run_id": event.run_id,
        "type": event.type,
        "time": rfc3339(event.time),
        "data": event.data,
    }


def event_line(event: RunEvent) -> str:
    """An event as one line of text for `bosun run --follow`."""
    stamp = event.time.strftime("%H:%M:%S.%f")[:-3]
    data = "" if event.data in (None, {}) else " " + json.dumps(event.data, default=str)
    position = "  ~" if event.id is None else f"#{event.id}"  # ~: ephemeral, not stored
    return f"{stamp} {position} {event.type}{data}"


def list_runs(
    client: Client,
    *,
    status: RunStatus | None,
    workflow: str | None,
    limit: int,
    version: str | None = None,
) -> list[RunRecord]:
    """`bosun runs list`: up to `limit` runs, newest first."""
    runs: list[RunRecord] = []
    pages = client.iter_runs(
        status=status, workflow=workflow, version=version, limit=min(limit, 500)
    )
    for run in pages:
        runs.append(record_of(run))
        if len(runs) == limit:
            break
    return runs


def show_run(client: Client, run_id: str) -> tuple[RunRecord, list[dict[str, Any]]]:
    """`bosun runs show`: the run (the API does not expose its journal) and its tool calls
    awaiting approval, as the API lists them."""
    run = client.get(run_id)
    approvals = [
        {
            "call_id": a.call_id,
            "tool": a.tool,
            "arguments": a.arguments,
            "requested_at": None if a.requested_at is None else rfc3339(a.requested_at),
            "expires_at": None if a.expires_at is None else rfc3339(a.expires_at),
            "on_timeout": a.on_timeout,
        }
        for a in run.pending_approvals
    ]
    return record_of(run), approvals


def cancel_run(client: Client, run_id: str) -> list[str]:
    """`bosun runs cancel`: the ids of the runs cancelled."""
    return client.cancel(run_id)


def resume_run(client: Client, run_id: str) -> None:
    """`bosun runs resume`."""
    client.resume(run_id)


def signal_run(client: Client, run_id: str, name: str, payload: Any) -> None:
    """`bosun runs signal`."""
    client.signal(run_id, name, payload)


def decide_approval(client: Client, run_id: str, call_id: str, kind: str, detail: Any) -> None:
    """`bosun runs approve`: approve, reject (`detail`: the message) or edit (`detail`: the
    arguments) the run's tool call `call_id`."""
    if kind == "reject":
        client.reject(run_id, call_id, message=detail)
    elif kind == "edit":
        client.edit(run_id, call_id, detail)
    else:
        client.approve(run_id, call_id)


def record_of(run: RunInfo) -> RunRecord:
    """A run from the API as the record the local commands print. Fields the API does not
    expose (the lease, the parent's journal position, the ready time) are None."""
    return RunRecord(
        id=run.id,
        workflow=run.workflow,
        queue=run.queue,
        status=run.status,
        input=json.dumps(run.input),
        result=json.dumps(run.result) if run.status == "completed" else None,
        error=run.error,
        priority=run.priority,
        idempotency_key=run.idempotency_key,
        parent_id=run.parent_id,
        parent_seq=None,
        deadline=None if run.deadline is None else run.deadline.timestamp(),
        ready_at=None,
        lease_owner=None,
        lease_expires_at=None,
        attempts=run.attempts,
        created_at=run.created_at.timestamp(),
        updated_at=run.updated_at.timestamp(),
        finished_at=None if run.finished_at is None else run.finished_at.timestamp(),
        session=run.session,
        version=run.version,
    )
