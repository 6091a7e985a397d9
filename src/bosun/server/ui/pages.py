"""The UI's pages: runs, one run, sessions, one session, queues. Each reads the store the
way the matching `/v1` endpoint does, scoped to the logged-in key's tenant, and shows the
records through the API's own JSON views (`bosun.wire.run_view`, the sessions view)."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from bosun.agents.approvals import SIGNAL_PREFIX as APPROVAL_SIGNAL_PREFIX
from bosun.agents.approvals import pending_approvals
from bosun.errors import InvalidRequest
from bosun.records import RUN_STATUSES, TERMINAL_STATUSES, JournalEntry, RunFilter, RunRecord
from bosun.server.api import INTERNAL_PREFIX, owned_run, page_of_runs
from bosun.server.deps import Caller
from bosun.server.queues import queue_overview, sees_all_tenants
from bosun.server.sessions_api import _view as session_view
from bosun.server.sessions_api import owned_session
from bosun.server.ui.access import PageReader
from bosun.server.ui.render import render
from bosun.server.ui.routing import PageRoute
from bosun.server.ui.views import chat_line, timeline
from bosun.wire import approval_view, decode_cursor, encode_cursor, event_view, run_view

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)

DEFAULT_LIMIT = 50
POLL_SECONDS = 2
EVENTS_SHOWN = 1000
MESSAGES_SHOWN = 500


def _blank(value: str | None) -> str | None:
    """An empty form field means no filter."""
    if value is None:
        return None
    return value.strip() or None


def run_row(record: RunRecord) -> dict[str, Any]:
    """A run as the API shows it, plus raw times for the UI's relative dates."""
    end = record.finished_at or (time.time() if record.status == "running" else None)
    return {
        **run_view(record),
        "created_ts": record.created_at,
        "took": None if end is None else end - record.created_at,
    }


def _workflow_names(caller: Caller) -> list[str]:
    workflows = caller.app.registry.workflows
    return sorted(n for n in workflows if not n.startswith(INTERNAL_PREFIX))


async def _queue_names(caller: Caller) -> list[str]:
    app = caller.app
    tenant = None if sees_all_tenants(caller.principal) else caller.tenant
    known = await app.store.queue_stats(tenant=tenant, known=app.declared_queues())
    return [s.queue for s in known]


@router.get("/")
async def ui_home() -> Response:
    return RedirectResponse("/ui/runs", status_code=303)


@router.get("/runs")
async def runs_page(
    request: Request,
    caller: PageReader,
    status: str | None = None,
    workflow: str | None = None,
    queue: str | None = None,
    session: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = DEFAULT_LIMIT,
    partial: str | None = None,
) -> Response:
    filters = {
        "status": _blank(status),
        "workflow": _blank(workflow),
        "queue": _blank(queue),
        "session": _blank(session),
    }
    if filters["status"] is not None and filters["status"] not in RUN_STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(RUN_STATUSES)}; got {status!r}")
    where = RunFilter(
        status=filters["status"],  # checked against RUN_STATUSES above
        workflow=filters["workflow"],
        queue=filters["queue"],
        session=filters["session"],
        tenant=caller.tenant,
        limit=limit,
        before=None if not cursor else decode_cursor(cursor),
    )
    records, after = await page_of_runs(caller.app.store, where)
    context: dict[str, Any] = {"runs": [run_row(r) for r in records]}
    if partial == "rows":
        return render(request, "runs_rows.html", context, principal=caller.principal)
    query = {k: v for k, v in filters.items() if v is not None}
    if limit != DEFAULT_LIMIT:
        query["limit"] = str(limit)
    here = dict(query, **({"cursor": cursor} if cursor else {}))
    context.update(
        filters=filters,
        statuses=RUN_STATUSES,
        workflows=_workflow_names(caller),
        queues=await _queue_names(caller),
        cursor=cursor,
        limit=limit,
        default_limit=DEFAULT_LIMIT,
        first_url="/ui/runs?" + urlencode(query),
        next_url=None
        if after is None
        else "/ui/runs?" + urlencode(dict(query, cursor=encode_cursor(*after))),
        poll_url="/ui/runs?" + urlencode(dict(here, partial="rows")),
        poll_seconds=POLL_SECONDS,
    )
    return render(request, "runs.html", context, principal=caller.principal)


@router.get("/runs/{run_id}")
async def run_page(
    request: Request, caller: PageReader, run_id: str, partial: str | None = None
) -> Response:
    store = caller.app.store
    record = await owned_run(caller, run_id)
    journal = await store.get_journal(run_id)
    events = await store.list_events(run_id, after=0, limit=EVENTS_SHOWN)
    now = time.time()
    waiting = next((e for e in journal if _awaits_a_signal(e)), None)
    children = await store.list_runs(RunFilter(parent_id=run_id, tenant=caller.tenant, limit=100))
    context: dict[str, Any] = {
        "run": run_view(record),
        "record": record,
        "took": (record.finished_at or now) - record.created_at,
        "journal": journal,
        "timeline": timeline(record, journal, events, now),
        "usage": await store.usage_totals(run_id=run_id),
        "children": [run_row(c) for c in children],
        "approvals": [] if record.status in TERMINAL_STATUSES else _approvals(journal),
    }
    if partial == "live":
        return render(request, "run_live.html", context, principal=caller.principal)
    context.update(
        events=[event_view(e, record) for e in events],
        events_truncated=len(events) == EVENTS_SHOWN,
        last_event=events[-1].seq if events else 0,
        finished=record.status in TERMINAL_STATUSES,
        waiting_for=None if waiting is None else waiting.name,
    )
    return render(request, "run.html", context, principal=caller.principal)


def _awaits_a_signal(entry: JournalEntry) -> bool:
    """A wait the signal form is for (a tool call's approval has a form of its own)."""
    return (
        entry.kind == "signal"
        and entry.status == "waiting"
        and not entry.name.startswith(APPROVAL_SIGNAL_PREFIX)
    )


def _approvals(journal: list[JournalEntry]) -> list[dict[str, Any]]:
    """The run's tool calls awaiting approval, as the API lists them, with raw times."""
    return [
        {**approval_view(p), "requested_ts": p.requested_at, "expires_ts": p.expires_at}
        for p in pending_approvals(journal)
    ]


@router.get("/sessions")
async def sessions_page(
    request: Request,
    caller: PageReader,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = DEFAULT_LIMIT,
) -> Response:
    before = None if not cursor else decode_cursor(cursor)
    records = await caller.app.store.list_sessions(caller.tenant, limit + 1, before)
    page = records[:limit]
    sessions = [
        {**session_view(r), "updated_ts": r.updated_at, "created_ts": r.created_at} for r in page
    ]
    next_url = None
    if len(records) > limit:
        next_url = "/ui/sessions?" + urlencode(
            {"cursor": encode_cursor(page[-1].updated_at, page[-1].id), "limit": limit}
        )
    context = {"sessions": sessions, "cursor": cursor, "next_url": next_url}
    return render(request, "sessions.html", context, principal=caller.principal)


@router.get("/sessions/{session_id}")
async def session_page(request: Request, caller: PageReader, session_id: str) -> Response:
    store = caller.app.store
    record = await owned_session(caller, session_id)
    after = max(0, record.last_seq - MESSAGES_SHOWN)
    messages = await store.session_messages(caller.tenant, session_id, after, MESSAGES_SHOWN)
    runs = await store.session_runs(caller.tenant, session_id)
    context = {
        "session": session_view(record),
        "record": record,
        "lines": [chat_line(m.seq, m.run_id, m.created_at, m.message) for m in messages],
        "truncated": after > 0,
        "runs": [run_row(r) for r in sorted(runs, key=lambda r: r.created_at, reverse=True)],
        "usage": await store.usage_totals(tenant=caller.tenant, session=session_id),
    }
    return render(request, "session.html", context, principal=caller.principal)


@router.get("/queues")
async def queues_page(request: Request, caller: PageReader, partial: str | None = None) -> Response:
    by_queue: dict[str, list[str]] = {}
    for name, definition in sorted(caller.app.registry.workflows.items()):
        if not name.startswith(INTERNAL_PREFIX):
            by_queue.setdefault(definition.queue, []).append(name)
    queues = [
        {**depth, "workflows": by_queue.get(depth["queue"], [])}
        for depth in await queue_overview(caller)
    ]
    context: dict[str, Any] = {
        "queues": queues,
        "poll_seconds": POLL_SECONDS,
        "all_tenants": sees_all_tenants(caller.principal),
        "tenant": caller.tenant,
    }
    template = "queues_rows.html" if partial == "rows" else "queues.html"
    return render(request, template, context, principal=caller.principal)
