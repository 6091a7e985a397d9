"""`/v1/sessions`: conversations, their history and state, and one event stream across all
of a session's runs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from bosun import serde
from bosun.errors import InvalidRequest, SessionNotFound
from bosun.events import FINAL_TYPES
from bosun.ids import IDENTIFIER_PATTERN, new_id
from bosun.records import SessionRecord
from bosun.sandbox.workspace import remove_session_workspaces
from bosun.server.api import KEEPALIVE_SECONDS, _unicode
from bosun.server.bodies import StrictJsonRoute
from bosun.server.deps import Caller, ReadCaller, SubmitCaller
from bosun.server.feeds import Ephemeral
from bosun.server.sse import comment, event_name, format_event
from bosun.server.state import ServerState
from bosun.wire import decode_cursor, encode_cursor, event_view, iso

router = APIRouter(prefix="/v1/sessions", route_class=StrictJsonRoute)
SESSION_POLL = 0.5  # seconds between looks for a session's next run while it has none


class CreateSession(BaseModel):
    """A new session (or new metadata for an existing one)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=IDENTIFIER_PATTERN)
    metadata: dict[str, Any] | None = None


class UpdateSession(BaseModel):
    """Replace a session's state and/or metadata."""

    model_config = ConfigDict(extra="forbid")

    state: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


def _view(record: SessionRecord) -> dict[str, Any]:
    where = f"session {record.id!r} of tenant {record.tenant!r}"
    return {
        "id": record.id,
        "metadata": serde.read_stored(record.metadata, f"{where}: metadata"),
        "state": serde.read_stored(record.state, f"{where}: state"),
        "messages": record.last_seq,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    }


def _stored(value: dict[str, Any] | None, field: str) -> str | None:
    """A body field as the strict JSON text the store keeps (None: leave it as it is)."""
    return None if value is None else serde.dumps(_unicode(value, field), "body", root=field)


async def owned_session(caller: Caller, session_id: str) -> SessionRecord:
    """The caller's tenant's session; else `SessionNotFound`."""
    record = await caller.app.store.get_session(caller.tenant, session_id)
    if record is None:
        raise SessionNotFound(f"no session {session_id!r}")
    return record


@router.post("", status_code=201, summary="Create a session")
async def create_session(caller: SubmitCaller, body: CreateSession) -> JSONResponse:
    store = caller.app.store
    session_id = body.id or new_id()
    existed = await store.get_session(caller.tenant, session_id) is not None
    metadata = _stored(body.metadata, "metadata")
    record = await store.ensure_session(caller.tenant, session_id, metadata)
    return JSONResponse(_view(record), status_code=200 if existed else 201)


@router.get("", summary="List sessions, most recently updated first")
async def list_sessions(
    caller: ReadCaller,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    before = None if cursor is None else decode_cursor(cursor)
    records = await caller.app.store.list_sessions(caller.tenant, limit + 1, before)
    page = records[:limit]
    more = len(records) > limit
    return {
        "sessions": [_view(r) for r in page],
        "next_cursor": encode_cursor(page[-1].updated_at, page[-1].id) if more else None,
    }


@router.get("/{session_id}", summary="Get a session")
async def get_session(caller: ReadCaller, session_id: str) -> dict[str, Any]:
    return _view(await owned_session(caller, session_id))


@router.patch("/{session_id}", summary="Replace a session's state and/or metadata")
async def update_session(
    caller: SubmitCaller, session_id: str, body: UpdateSession
) -> dict[str, Any]:
    record = await caller.app.store.update_session(
        caller.tenant,
        session_id,
        state=_stored(body.state, "state"),
        metadata=_stored(body.metadata, "metadata"),
    )
    if record is None:
        raise SessionNotFound(f"no session {session_id!r}")
    return _view(record)


@router.delete("/{session_id}", status_code=204, summary="Delete a session (its runs stay)")
async def delete_session(caller: SubmitCaller, session_id: str) -> Response:
    if not await caller.app.store.delete_session(caller.tenant, session_id):
        raise SessionNotFound(f"no session {session_id!r}")
    # Workspaces on this process's disk go now; workers elsewhere sweep theirs.
    await remove_session_workspaces(caller.app.workspace_roots, caller.tenant, session_id)
    return Response(status_code=204)


@router.get("/{session_id}/messages", summary="A session's history, oldest first")
async def session_messages(
    caller: ReadCaller,
    session_id: str,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    await owned_session(caller, session_id)
    rows = await caller.app.store.session_messages(caller.tenant, session_id, after, limit)
    return {
        "messages": [
            {
                "seq": r.seq,
                "run_id": r.run_id,
                "time": iso(r.created_at),
                **serde.read_stored(r.message, f"session {session_id!r} message {r.seq}"),
            }
            for r in rows
        ],
        "next_after": rows[-1].seq if len(rows) == limit else None,
    }


@router.get(
    "/{session_id}/events",
    summary="Stream every run of the session in order (SSE; resumable with Last-Event-ID)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def session_events(
    caller: ReadCaller,
    session_id: str,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    await owned_session(caller, session_id)
    resume = _resume_point(last_event_id)
    if resume is not None:
        runs = await caller.app.store.session_runs(caller.tenant, session_id)
        if resume[0] not in {r.id for r in runs}:
            raise InvalidRequest(f"Last-Event-ID {last_event_id!r} is not an event of this session")
    key_id = caller.principal.key_id
    caller.state.streams.take(key_id)  # a 429 before the stream starts
    return StreamingResponse(
        _events(caller.state, caller.tenant, session_id, resume, key_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _resume_point(header: str | None) -> tuple[str, int] | None:
    """`<run id>:<event position>` as the session stream numbers its events."""
    if not header:
        return None
    run_id, _, seq = header.strip().rpartition(":")
    if not run_id or not seq.isdigit():
        raise InvalidRequest(f"Last-Event-ID {header!r} is not '<run id>:<position>'")
    return run_id, int(seq)


async def _events(
    state: ServerState, tenant: str, session_id: str, resume: tuple[str, int] | None, key_id: str
) -> AsyncIterator[bytes]:
    """The events of the session's runs, oldest run first, each followed to its end; then
    the runs submitted later, as they come."""
    store = state.app.store
    finished: set[str] = set()
    skipping = resume is not None
    loop = asyncio.get_running_loop()
    idle_since = loop.time()
    try:
        while True:
            progressed = False
            for run in await store.session_runs(tenant, session_id):
                if run.id in finished:
                    continue
                start = 0
                if skipping and resume is not None:
                    if run.id != resume[0]:
                        finished.add(run.id)
                        continue
                    skipping, start = False, resume[1]
                async for item in state.feeds.follow(run.id, start, KEEPALIVE_SECONDS):
                    if item is None:
                        yield comment()
                    elif isinstance(item, Ephemeral):
                        view = {"id": None, "run_id": run.id, "type": item.type}
                        data = {**view, "time": iso(time.time()), "data": json.loads(item.data)}
                        yield format_event(None, json.dumps(data), event=event_name(item.type))
                    else:
                        record = await store.get_run(run.id) if item.type in FINAL_TYPES else None
                        view = event_view(item, record)
                        view["id"] = f"{run.id}:{item.seq}"
                        yield format_event(
                            view["id"], json.dumps(view), event=event_name(item.type)
                        )
                finished.add(run.id)
                progressed = True
            if progressed:
                idle_since = loop.time()
                continue
            if loop.time() - idle_since >= KEEPALIVE_SECONDS:
                yield comment()
                idle_since = loop.time()
            await asyncio.sleep(SESSION_POLL)
    finally:
        state.streams.release(key_id)
