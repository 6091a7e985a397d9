"""The workers page: each worker's slots from the worker registry, and the leases it holds
from the runs it is running.

Workers serve every tenant, so the page lists them all, but it names only the caller's
tenant's runs; other tenants' leases are counted, never shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response

from bosun.records import RunFilter, RunRecord, WorkerRecord
from bosun.server.ui.access import PageReader
from bosun.server.ui.render import render
from bosun.server.ui.routing import PageRoute
from bosun.wire import run_view

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)

LEASES_SHOWN = 2000  # running runs read per page view (each holds one worker slot)
POLL_SECONDS = 2


@dataclass
class WorkerRow:
    """A worker as the page shows it; `record` is None for a lease owner that is not in the
    registry (a worker of an older bosun, or one whose entry was forgotten)."""

    id: str
    record: WorkerRecord | None
    state: str  # alive, draining, gone, unregistered
    leases: list[dict[str, Any]] = field(default_factory=list)
    hidden_leases: int = 0  # leases on other tenants' runs

    @property
    def held(self) -> int:
        return len(self.leases) + self.hidden_leases

    @property
    def busy(self) -> int:
        """Slots in use: what the worker last announced, or the leases it is seen holding
        if that is more (the announcement is refreshed only every few seconds)."""
        announced = self.record.busy if self.record is not None else 0
        return max(announced, self.held)


def worker_rows(
    workers: list[WorkerRecord], running: list[RunRecord], tenant: str, now: float
) -> list[WorkerRow]:
    """Join registered workers with the leases of running runs, owner by owner."""
    rows: dict[str, WorkerRow] = {}
    for worker in workers:
        state = "draining" if worker.draining else "alive"
        if worker.expires_at < now:
            state = "gone"
        rows[worker.id] = WorkerRow(worker.id, worker, state)
    for run in running:
        if run.lease_owner is None:
            continue
        row = rows.get(run.lease_owner)
        if row is None:
            row = rows[run.lease_owner] = WorkerRow(run.lease_owner, None, "unregistered")
        if run.tenant == tenant:
            lease = {**run_view(run), "expires_in": (run.lease_expires_at or now) - now}
            row.leases.append(lease)
        else:
            row.hidden_leases += 1
    return list(rows.values())


@router.get("/workers")
async def workers_page(
    request: Request, caller: PageReader, partial: str | None = None
) -> Response:
    store = caller.app.store
    workers = await store.list_workers()
    running = await store.list_runs(RunFilter(status="running", limit=LEASES_SHOWN))
    rows = worker_rows(workers, running, caller.tenant, time.time())
    context: dict[str, Any] = {"workers": rows, "poll_seconds": POLL_SECONDS}
    template = "workers_rows.html" if partial == "rows" else "workers.html"
    return render(request, template, context, principal=caller.principal)
