"""On SQLite a claim reads each queue's ready runs in index order and locks its picks by
primary key, whatever the backlog and whatever ANALYZE has taught the planner: SQLite's own
query plans say which index each statement uses and whether it sorts. (Reading and sorting
every ready run made a claim of 32 take 24 ms with 20 000 runs waiting.)"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from bosun.records import NewRun
from bosun.store import store_for_url
from bosun.store.sqlite.io import Q


def plan(conn: sqlite3.Connection, name: str, params: dict[str, object]) -> list[str]:
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {Q[name]}", params)]


@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh", "analyzed"])
async def test_claim_statements_use_the_ready_index_and_primary_key(
    tmp_path: Path, analyzed: bool
) -> None:
    store = store_for_url(f"sqlite:///{tmp_path}/bosun.db")
    await store.open()
    try:
        for _ in range(300):
            await store.create_run(
                NewRun(id=uuid.uuid4().hex, workflow="wf", queue="q", input="{}")
            )
        claimed = await store.claim_runs("w", ["q"], 100, 30, time.time(), workflows=["wf"])
        assert len(claimed) == 100
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "bosun.db")
    if analyzed:
        conn.execute("ANALYZE")
    now = time.time()
    candidates = plan(
        conn,
        "claim_candidates_fast",
        {
            "queue": "q",
            "workflow": "wf",
            "now": now,
            "window": 10,
            "any_version": True,
            "versions": "[]",
        },
    )
    # Runs of other workflows in the queue are not read: the scan is of this workflow's.
    assert candidates[0] == "SEARCH r USING INDEX runs_ready (queue=? AND workflow=?)", candidates
    assert not any("TEMP B-TREE" in step for step in candidates), candidates
    update = plan(
        conn,
        "claim_runs",
        {"owner": "w", "run_ids": '["a"]', "expires": now + 30, "now": now, "version": None},
    )
    assert update[0].startswith("SEARCH runs USING INDEX sqlite_autoindex_runs_1 (id=?)"), update


@pytest.mark.parametrize("analyzed", [False, True], ids=["fresh", "analyzed"])
async def test_fair_claim_statements_probe_keys_in_index_order(
    tmp_path: Path, analyzed: bool
) -> None:
    """With fairness keys, a claim takes keys in turn (store/sqlite/fair.py): each statement
    is a search of runs_fair_turns in index order, never a scan or a sort of the keyed
    backlog, so a claim reads about as many runs as it claims."""
    store = store_for_url(f"sqlite:///{tmp_path}/bosun.db")
    await store.open()
    try:
        for n in range(300):
            await store.create_run(
                NewRun(
                    id=uuid.uuid4().hex, workflow="wf", queue="q", input="{}",
                    fairness_key=f"k{n % 30:02d}",
                )
            )  # fmt: skip
        claimed = await store.claim_runs("w", ["q"], 10, 30, time.time(), workflows=["wf"])
        assert len(claimed) == 10
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "bosun.db")
    if analyzed:
        conn.execute("ANALYZE")
    where = {"queue": "q", "workflow": "wf", "now": time.time(), "priority": 0}
    steps = {
        "fair_priority": {**where, "below": 10},
        "fair_first_key": where,
        "fair_next_key": {**where, "after": "k00"},
        "fair_key_candidates": {
            **where, "key": "k01", "per_key": 1, "any_version": True, "versions": "[]",
        },
    }  # fmt: skip
    for name, params in steps.items():
        found = plan(conn, name, params)
        first = found[0].replace("COVERING INDEX", "INDEX")
        assert first.startswith("SEARCH r USING INDEX runs_fair_turns (queue=? AND workflow=?"), (
            name,
            found,
        )
        assert not any("TEMP B-TREE" in step for step in found), (name, found)
    unkeyed = plan(
        conn,
        "fair_unkeyed_candidates",
        {**where, "window": 10, "any_version": True, "versions": "[]"},
    )
    assert any("USING INDEX runs_ready (queue=? AND workflow=?)" in s for s in unkeyed), unkeyed
    assert not any("TEMP B-TREE" in step for step in unkeyed), unkeyed
