"""`POST /v1/runs/{run_id}/approvals/{call_id}`: a human approves, rejects or edits a tool
call that waits for approval (`bosun.agents.approvals`). The run's pending approvals are
listed by `GET /v1/runs/{run_id}`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bosun.agents.approvals import Decision, decide
from bosun.server.api import _unicode, owned_run
from bosun.server.bodies import StrictJsonRoute
from bosun.server.deps import SubmitCaller
from bosun.server.models import DecideApproval

router = APIRouter(prefix="/v1", route_class=StrictJsonRoute)


@router.post(
    "/runs/{run_id}/approvals/{call_id}",
    status_code=202,
    summary="Approve, reject or edit a tool call that waits for a human",
    responses={
        400: {"description": "the decision does not fit (edited arguments against the schema)"},
        404: {"description": "no such run, or no call of it waits for approval under that id"},
        409: {
            "description": "the call was decided already, its approval timed out, or the "
            "run has finished"
        },
    },
)
async def decide_approval(
    caller: SubmitCaller, run_id: str, call_id: str, body: DecideApproval
) -> dict[str, Any]:
    """The decision is kept until the run applies it: at once if a worker is free, or when
    the run is next claimed. A second decision on the same call is refused (409)."""
    await owned_run(caller, run_id)
    decision = Decision(
        body.decision,
        message=_unicode(body.message, "message"),
        arguments=_unicode(body.arguments, "arguments"),
    )
    decided = await decide(caller.app.store, run_id, call_id, decision)
    return {"run_id": run_id, "call_id": call_id, "tool": decided.tool, "decision": body.decision}
