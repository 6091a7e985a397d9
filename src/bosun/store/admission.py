"""Which claim candidates may start now: per-queue limits on running runs.

The candidate query already applies per-key concurrency and fairness order; this step caps
how many runs each limited queue may move to `running`. The SQLite connector runs it in its
writer transaction; PostgreSQL's `claim_ready` SQL function
(`sql/postgresql/functions/claim_ready.sql`) does the same in the database. The contract
and flow-control tests hold both to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def admit(
    candidates: Iterable[tuple[str, str, str]],
    limits: Mapping[str, int],
    running: Mapping[str, int],
    want: int,
) -> list[str]:
    """Pick up to `want` run ids from `(id, queue, status)` candidates, in order.

    A candidate already `running` (its lease expired) keeps the slot it holds; any other
    candidate needs a free slot in its queue when the queue has a limit.
    """
    free = {queue: limit - running.get(queue, 0) for queue, limit in limits.items()}
    chosen: list[str] = []
    for run_id, queue, status in candidates:
        if len(chosen) >= want:
            break
        if queue in free and status != "running":
            if free[queue] <= 0:
                continue
            free[queue] -= 1
        chosen.append(run_id)
    return chosen


def candidate_window(want: int) -> int:
    """How many candidates to read for `want` claims (some may be over a queue limit)."""
    return want * 4 + 16
