"""What the UI's JavaScript calls: signal, cancel and resume a run, and follow its events.

Each endpoint is the `/v1` handler itself, called with the cookie's key as the bearer
token, so scopes, tenant scoping, validation and problem+json errors are the API's own.
The POST actions first check that the request comes from the UI's origin (CSRF).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from bosun.server import api
from bosun.server.bodies import StrictJsonRoute
from bosun.server.models import SendSignal
from bosun.server.ui.access import keyed, require_same_origin

router = APIRouter(prefix="/ui/api", include_in_schema=False, route_class=StrictJsonRoute)


@router.post("/runs/{run_id}/signals", status_code=202)
async def signal_run(request: Request, run_id: str, body: SendSignal) -> dict[str, Any]:
    require_same_origin(request)
    return await api.send_signal(keyed(request), run_id, body)


@router.post("/runs/{run_id}/cancel")
async def cancel_run(request: Request, run_id: str) -> dict[str, Any]:
    require_same_origin(request)
    return await api.cancel_run(keyed(request), run_id)


@router.post("/runs/{run_id}/resume")
async def resume_run(request: Request, run_id: str) -> dict[str, Any]:
    require_same_origin(request)
    return await api.resume_run(keyed(request), run_id)


@router.get("/runs/{run_id}/events", response_class=StreamingResponse)
async def run_events(
    request: Request,
    run_id: str,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The run's events as SSE; EventSource sends the cookie (it cannot send a header) and,
    on reconnecting, `Last-Event-ID`."""
    return await api.stream_events(keyed(request), run_id, after, last_event_id)
