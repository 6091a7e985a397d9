"""What the API and the UI show of the queues: depths, and runs no live worker serves.

A key sees its own tenant's runs; an admin key sees every tenant's, as operators and
autoscalers do (queues and workers are shared by all tenants). Every known queue is listed,
at zero when empty: the app's own, those workers serve or that have a limit (deployment
settings, which any key may see), and those of the runs the key sees (another tenant's runs
do not name their queues to it).
"""

from __future__ import annotations

import time
from typing import Any

from bosun.server.auth import Principal
from bosun.server.deps import Caller


def sees_all_tenants(principal: Principal) -> bool:
    return "admin" in principal.scopes


async def queue_overview(caller: Caller) -> list[dict[str, Any]]:
    """Each known queue's depth, with the workflows whose ready runs no live worker serves."""
    store = caller.app.store
    tenant = None if sees_all_tenants(caller.principal) else caller.tenant
    stats = await store.queue_stats(tenant=tenant, known=caller.app.declared_queues())
    unserved: dict[str, list[dict[str, Any]]] = {}
    for work in await store.unserved_work(time.time(), tenant=tenant):
        unserved.setdefault(work.queue, []).append(
            {
                "workflow": work.workflow,
                "ready": work.ready,
                "oldest_ready_age": work.oldest_ready_age,
            }
        )
    return [
        {
            "queue": s.queue,
            "ready": s.ready,
            "in_flight": s.in_flight,
            "waiting": s.waiting,
            "oldest_ready_age": s.oldest_ready_age,
            "unserved": unserved.get(s.queue, []),
        }
        for s in stats
    ]
