"""What the UI's JavaScript calls: signal, cancel and resume a run, decide on its tool calls
awaiting approval, and follow its events.

Each endpoint is the `/v1` handler itself, called with the caller the cookie's key makes
(the scope each declares is that of its `/v1` route), so scopes, tenant scoping, validation
and problem+json errors are the API's own. The POST actions first check that the request
comes from the UI's origin (CSRF).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse

from bosun.server import api, approvals_api
from bosun.server.bodies import StrictJsonRoute
from bosun.server.deps import Caller
from bosun.server.models import DecideApproval, SendSignal
from bosun.server.ui.access import cookie_caller, require_same_origin

router = APIRouter(prefix="/ui/api", include_in_schema=False, route_class=StrictJsonRoute)

# The origin check runs first: a request another site sent is refused before its key is used.
SAME_ORIGIN = [Depends(require_same_origin)]
CookieReader = Annotated[Caller, Depends(cookie_caller("read", page=False))]
CookieSubmitter = Annotated[Caller, Depends(cookie_caller("submit", page=False))]
CookieAdmin = Annotated[Caller, Depends(cookie_caller("admin", page=False))]


@router.post("/runs/{run_id}/signals", status_code=202, dependencies=SAME_ORIGIN)
async def signal_run(caller: CookieSubmitter, run_id: str, body: SendSignal) -> dict[str, Any]:
    return await api.send_signal(caller, run_id, body)


@router.post("/runs/{run_id}/approvals/{call_id}", status_code=202, dependencies=SAME_ORIGIN)
async def decide_approval(
    caller: CookieSubmitter, run_id: str, call_id: str, body: DecideApproval
) -> dict[str, Any]:
    return await approvals_api.decide_approval(caller, run_id, call_id, body)


@router.post("/runs/{run_id}/cancel", dependencies=SAME_ORIGIN)
async def cancel_run(caller: CookieSubmitter, run_id: str) -> dict[str, Any]:
    return await api.cancel_run(caller, run_id)


@router.post("/runs/{run_id}/resume", dependencies=SAME_ORIGIN)
async def resume_run(caller: CookieAdmin, run_id: str) -> dict[str, Any]:
    return await api.resume_run(caller, run_id)


@router.get("/runs/{run_id}/events", response_class=StreamingResponse)
async def run_events(
    caller: CookieReader,
    run_id: str,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The run's events as SSE; EventSource sends the cookie (it cannot send a header) and,
    on reconnecting, `Last-Event-ID`. Untyped (no `event:` field), so the page's `onmessage`
    gets every event, whatever its type."""
    return await api.event_stream(caller, run_id, after, last_event_id, typed=False)
