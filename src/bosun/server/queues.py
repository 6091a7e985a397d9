"""What the API and the UI show of the queues: depths, and runs no live worker serves.

A key sees its own tenant's runs; an admin key sees every tenant's, as operators and
autoscalers do (queues and workers are shared by all tenants).
"""

from __future__ import annotations

import time
from typing import Any

from bosun.server.auth import Principal
from bosun.store import Store


def sees_all_tenants(principal: Principal) -> bool:
    return "admin" in principal.scopes


async def queue_overview(store: Store, principal: Principal) -> list[dict[str, Any]]:
    """Each queue's depth, with the workflows whose ready runs no live worker serves."""
    tenant = None if sees_all_tenants(principal) else principal.tenant
    stats = await store.queue_stats(tenant=tenant)
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
