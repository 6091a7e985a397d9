"""The `/v1` routes. Every query is scoped to the caller's tenant: another tenant's run is
a 404, the same answer as a run that does not exist."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import TypeAdapter

from bosun import serde
from bosun.agents.approvals import pending_approvals
from bosun.app import App
from bosun.errors import (
    InvalidRequest,
    NonFiniteNumber,
    RunNotFound,
    SerializationError,
    WorkflowNotFound,
)
from bosun.events import FINAL_TYPES
from bosun.ids import new_id
from bosun.records import (
    RUN_STATUSES,
    TERMINAL_STATUSES,
    RunFilter,
    RunRecord,
    RunStatus,
    UsageTotals,
)
from bosun.server.bodies import StrictJsonRoute
from bosun.server.deps import AdminCaller, Caller, ReadCaller, SubmitCaller
from bosun.server.feeds import Ephemeral
from bosun.server.models import SendSignal, SubmitRun
from bosun.server.queues import queue_overview
from bosun.server.sse import comment, event_name, format_event, parse_last_event_id
from bosun.server.state import ServerState
from bosun.store import Store
from bosun.wire import (
    approval_view,
    decode_cursor,
    encode_cursor,
    event_view,
    iso,
    parse_time,
    run_view,
)

router = APIRouter(prefix="/v1", route_class=StrictJsonRoute)  # NaN/Infinity bodies: 400
MAX_RESULT_WAIT = 60.0
KEEPALIVE_SECONDS = 15.0
INTERNAL_PREFIX = "bosun."  # bosun's own workflows (webhook delivery) are not for clients


async def owned_run(caller: Caller, run_id: str) -> RunRecord:
    """The run, if it is the caller's tenant's; else `RunNotFound`, as for no run at all."""
    record = await caller.app.store.get_run(run_id)
    if record is None or record.tenant != caller.tenant:
        raise RunNotFound(f"no run with id {run_id!r}")
    return record


def _public_workflow(app: App, name: str) -> str:
    if name.startswith(INTERNAL_PREFIX):
        raise WorkflowNotFound(f"no workflow named {name!r} is registered")
    app.registry.workflow(name)  # raises WorkflowNotFound with the known names
    return name


def _deadline(value: float | str | None) -> float | None:
    if value is None or isinstance(value, float | int):
        return None if value is None else float(value)
    return parse_time(value, "deadline") - time.time()


def _unicode(value: Any, where: str) -> Any:
    """Refuse text that is not valid Unicode (a lone surrogate, which JSON's `\\ud800`
    escapes can carry): it could be stored but never sent back."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode()
                except UnicodeEncodeError:
                    raise SerializationError(
                        f"{where} holds text that is not valid Unicode"
                    ) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


def _time_or_none(value: str | None, field: str) -> float | None:
    return None if value is None else parse_time(value, field)


# -- runs ---------------------------------------------------------------------------------


@router.post("/runs", status_code=201, summary="Submit a run")
async def submit_run(
    caller: SubmitCaller,
    body: SubmitRun,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    traceparent: Annotated[str | None, Header(max_length=512)] = None,
) -> JSONResponse:
    """A W3C `traceparent` header makes the run's trace continue the caller's."""
    app = caller.app
    workflow = _public_workflow(app, body.workflow)
    deadline = _deadline(body.deadline)
    if deadline is not None and deadline <= 0:
        raise InvalidRequest("deadline is already past")
    handle = await app.start_json(
        workflow,
        _unicode(body.input, "input"),
        idempotency_key=body.idempotency_key or idempotency_key,
        queue=body.queue,
        priority=body.priority,
        deadline=deadline,
        tenant=caller.tenant,
        session=body.session,
        webhook=caller.state.checked_webhook(body.webhook),
        double_texting=body.double_texting,
        traceparent=traceparent,
    )
    record = await owned_run(caller, handle.run_id)
    return JSONResponse(
        run_view(record),
        status_code=201 if handle.created else 200,
        headers={"Location": f"/v1/runs/{record.id}"},
    )


@router.get("/runs/{run_id}", summary="Get a run, with its tool calls awaiting approval")
async def get_run(caller: ReadCaller, run_id: str) -> dict[str, Any]:
    """`pending_approvals` lists the tool calls that wait for a human's decision
    (`POST /v1/runs/{run_id}/approvals/{call_id}`)."""
    record = await owned_run(caller, run_id)
    pending: list[dict[str, Any]] = []
    if record.status not in TERMINAL_STATUSES:
        # What it waits for only: a poll of a long agent run must not read its whole journal.
        waiting = await caller.app.store.get_journal(run_id, status="waiting")
        pending = [approval_view(p) for p in pending_approvals(waiting)]
    return {**run_view(record), "pending_approvals": pending}


@router.get("/runs", summary="List runs, newest first")
async def list_runs(
    caller: ReadCaller,
    status: str | None = None,
    workflow: str | None = None,
    session: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
    version: str | None = None,
    queue: str | None = None,
) -> dict[str, Any]:
    if status is not None and status not in RUN_STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(RUN_STATUSES)}; got {status!r}")
    run_status: RunStatus | None = status
    where = RunFilter(
        status=run_status,
        workflow=workflow,
        queue=queue,
        tenant=caller.tenant,
        session=session,
        version=version,
        created_after=_time_or_none(created_after, "created_after"),
        created_before=_time_or_none(created_before, "created_before"),
        limit=limit,
        before=None if cursor is None else decode_cursor(cursor),
    )
    page, after = await page_of_runs(caller.app.store, where)
    return {
        "runs": [run_view(r) for r in page],
        "next_cursor": None if after is None else encode_cursor(*after),
    }


async def page_of_runs(
    store: Store, where: RunFilter
) -> tuple[list[RunRecord], tuple[float, str] | None]:
    """Up to `where.limit` runs, newest first, and the position after the last one when
    there are more (None: this is the last page)."""
    records = await store.list_runs(dataclasses.replace(where, limit=where.limit + 1))
    page = records[: where.limit]
    more = len(records) > where.limit
    return page, (page[-1].created_at, page[-1].id) if more else None


@router.post("/runs/{run_id}/cancel", summary="Cancel a run and its unfinished children")
async def cancel_run(caller: SubmitCaller, run_id: str) -> dict[str, Any]:
    await owned_run(caller, run_id)
    return {"cancelled": await caller.app.cancel(run_id)}


@router.post("/runs/{run_id}/resume", summary="Resume a blocked run")
async def resume_run(caller: AdminCaller, run_id: str) -> dict[str, Any]:
    await owned_run(caller, run_id)
    await caller.app.store.resume_run(run_id)
    return run_view(await owned_run(caller, run_id))


@router.post("/runs/{run_id}/signals", status_code=202, summary="Send a signal to a run")
async def send_signal(caller: SubmitCaller, run_id: str, body: SendSignal) -> dict[str, Any]:
    await owned_run(caller, run_id)
    await caller.app.get_handle(run_id).signal(body.name, _unicode(body.payload, "payload"))
    return {"run_id": run_id, "signal": body.name}


@router.get(
    "/runs/{run_id}/result",
    summary="Wait for a run to finish (200 finished, 202 still going)",
    responses={202: {"description": "the run has not finished within `wait` seconds"}},
)
async def wait_result(
    caller: ReadCaller,
    run_id: str,
    wait: Annotated[float, Query(ge=0, le=MAX_RESULT_WAIT)] = 30.0,
) -> JSONResponse:
    results = caller.app.store.results
    # Every long-poll of the process waits in one list (`bosun.store.waiters`): many of
    # them cost the database a few batched reads a second, not one each.
    waiter = results.watch(run_id)
    try:
        record = await owned_run(caller, run_id)
        if record.status not in TERMINAL_STATUSES:
            await asyncio.wait((waiter,), timeout=wait)
            ended = waiter.result() if waiter.done() else None
            if isinstance(ended, RunRecord):
                record = ended
            else:  # it ended here (the outcome, not the record), or not within `wait`
                record = await owned_run(caller, run_id)
    finally:
        results.drop(run_id, waiter)
    status = 200 if record.status in TERMINAL_STATUSES else 202
    return JSONResponse(run_view(record), status_code=status)


@router.get(
    "/runs/{run_id}/events",
    summary="Stream a run's events (Server-Sent Events, resumable with Last-Event-ID)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    caller: ReadCaller,
    run_id: str,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    return await event_stream(caller, run_id, after, last_event_id)


async def event_stream(
    caller: Caller,
    run_id: str,
    after: int | None,
    last_event_id: str | None,
    *,
    typed: bool = True,
) -> StreamingResponse:
    """The run's events as an SSE response. `typed`: each event's type also in the SSE
    `event:` field (the API's streams); without it every event is a plain `message`, as the
    UI's `onmessage` wants (it shows every type, including those `ctx.emit` invents)."""
    await owned_run(caller, run_id)
    position = parse_last_event_id(last_event_id, after)
    key_id = caller.principal.key_id
    caller.state.streams.take(key_id)  # a 429 before the stream starts
    return StreamingResponse(
        _events(caller.state, run_id, position, key_id, typed),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    state: ServerState, run_id: str, position: int, key_id: str, typed: bool
) -> AsyncIterator[bytes]:
    """The run's events after `position`, then new ones as they are written, until the run's
    final event (or, for a run that finished before events were recorded, its end)."""
    store = state.app.store
    try:
        async for event in state.feeds.follow(run_id, position, KEEPALIVE_SECONDS):
            if event is None:
                yield comment()
                continue
            name = event_name(event.type) if typed else None
            if isinstance(event, Ephemeral):  # no id: a reconnect does not replay it
                view = {"id": None, "run_id": run_id, "type": event.type, "time": iso(time.time())}
                data = json.dumps({**view, "data": json.loads(event.data)})
                yield format_event(None, data, event=name)
                continue
            run = await store.get_run(run_id) if event.type in FINAL_TYPES else None
            yield format_event(event.seq, json.dumps(event_view(event, run)), event=name)
    finally:
        state.streams.release(key_id)


@router.get("/runs/{run_id}/usage", summary="LLM tokens and cost of a run")
async def run_usage(caller: ReadCaller, run_id: str) -> dict[str, Any]:
    await owned_run(caller, run_id)
    return _usage_view(await caller.app.store.usage_totals(run_id=run_id))


@router.get("/usage", summary="LLM tokens and cost of the caller's tenant (or one session)")
async def tenant_usage(
    caller: ReadCaller, session: str | None = None, since: str | None = None
) -> dict[str, Any]:
    totals = await caller.app.store.usage_totals(
        tenant=caller.tenant,
        session=session,
        since=_time_or_none(since, "since") or 0.0,
    )
    return {"tenant": caller.tenant, "session": session, **_usage_view(totals)}


def _usage_view(totals: UsageTotals) -> dict[str, Any]:
    return {**dataclasses.asdict(totals), "cost": round(totals.cost, 6)}


# -- workflows, queues, events ------------------------------------------------------------


def _input_schema(hint: Any) -> dict[str, Any]:
    try:
        schema: dict[str, Any] = TypeAdapter(hint).json_schema()
        return schema
    except Exception:  # a type pydantic cannot describe: say nothing rather than fail
        return {}


@router.get("/workflows", summary="List registered workflows")
async def list_workflows(caller: ReadCaller) -> dict[str, Any]:
    registry = caller.app.registry
    workflows = []
    for name, definition in sorted(registry.workflows.items()):
        if name.startswith(INTERNAL_PREFIX):
            continue
        inputs = {}
        for pname, param in definition.signature.parameters.items():
            inputs[pname] = {
                "schema": _input_schema(definition.param_hints[pname]),
                "required": param.default is inspect.Parameter.empty,
            }
        declared = registry.schedules.get(name)
        workflows.append(
            {
                "name": name,
                "queue": definition.queue,
                "inputs": inputs,
                "on_event": list(definition.on_event),
                "schedule": None if declared is None else declared.cron,
                "description": inspect.getdoc(definition.fn),
            }
        )
    return {"workflows": workflows}


@router.get(
    "/queues",
    summary="Queue depths (ready, in flight, waiting, oldest ready age) and unserved workflows",
)
async def list_queues(caller: ReadCaller) -> dict[str, Any]:
    """The caller's tenant's runs (an admin key's: every tenant's), for every known queue:
    the app's, those workers serve or that have a limit (at zero when empty), and those of
    the runs counted. `unserved` lists the workflows whose ready runs no live worker serves
    (none registers them for the queue)."""
    return {"queues": await queue_overview(caller)}


@router.post(
    "/events/{name}",
    status_code=202,
    summary="Post an event: starts every workflow subscribed with on_event",
)
async def post_event(
    caller: SubmitCaller,
    request: Request,
    name: str,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = serde.loads(raw, "the event body") if raw else None
    except NonFiniteNumber as exc:
        raise InvalidRequest(f"the event body is not valid JSON: {exc.reason}") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"the event body is not valid JSON: {exc}") from None
    _unicode(data, "the event body")
    app = caller.app
    if not any(name in d.on_event for d in app.registry.workflows.values()):
        raise WorkflowNotFound(f"no workflow subscribes to event {name!r} (on_event=)")
    event_id = idempotency_key or new_id()
    started = await app.trigger(name, data, event_id=event_id, tenant=caller.tenant)
    return {
        "event": name,
        "event_id": event_id,
        "runs": [
            {"workflow": wf, "run_id": handle.run_id, "created": created}
            for wf, handle, created in started
        ],
    }
