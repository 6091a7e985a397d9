"""`bosun queues`: each queue's depth, and the work no live worker serves."""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated

import typer

from bosun.cli.common import DatabaseOpt, JsonOpt, out, print_json, run_async, with_store
from bosun.cli.tables import print_table
from bosun.records import QueueStats, UnservedWork
from bosun.store import QueueStore


def queues(
    database: DatabaseOpt = None,
    tenant: Annotated[
        str | None, typer.Option(help="Count only this tenant's runs (default: every tenant's).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show each known queue's depth: ready, in flight, waiting, and the oldest ready run's
    age; and the workflows whose ready runs no live worker serves. Queues that workers serve
    or that have a limit are listed at zero when empty, as are those whose last run finished
    within the hour."""

    async def read(store: QueueStore) -> tuple[list[QueueStats], list[UnservedWork]]:
        stats = await store.queue_stats(tenant=tenant)
        return stats, await store.unserved_work(time.time(), tenant=tenant)

    stats, unserved = run_async(lambda: with_store(database, read))
    if as_json:
        print_json(
            [
                {
                    **dataclasses.asdict(s),
                    "unserved": [
                        {k: v for k, v in dataclasses.asdict(u).items() if k != "queue"}
                        for u in unserved
                        if u.queue == s.queue
                    ],
                }
                for s in stats
            ]
        )
        return
    print_table(
        ("queue", "ready", "in flight", "waiting", "oldest ready (s)"),
        [
            (s.queue, str(s.ready), str(s.in_flight), str(s.waiting), f"{s.oldest_ready_age:.1f}")
            for s in stats
        ],
        optional=("ready", "in flight", "waiting", "oldest ready (s)"),
    )
    for u in unserved:
        out.print(
            f"queue {u.queue}: {u.ready} run(s) ready but no worker serves workflow "
            f"{u.workflow!r} (oldest waited {u.oldest_ready_age:.0f} s): start a worker of the "
            "app that defines it",
            style="yellow",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
