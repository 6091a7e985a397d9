"""A PostgreSQL claim reads about as many rows as it claims, however long the backlog.

The server's own counters (pg_stat_user_tables, flushed by the claiming session) say how many
rows of `runs` a claim read. The backlog is inserted into a fresh database without
ANALYZE, as after a burst, and the session's planner costs favour reading everything: with
stale statistics the planner once read every ready run through a bitmap and sorted them, on
every claim.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import psycopg
import pytest

from bosun.store.postgres import PostgresStore

WAITING = 3000
RUNNING = 1000
CLAIM = 10


def rows_read(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """Rows of `runs` this database has read so far, this session's reads included (its
    pending counters are flushed at the end of the first statement)."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    row = conn.execute(
        "SELECT seq_tup_read + COALESCE(idx_tup_fetch, 0) FROM pg_stat_user_tables "
        "WHERE schemaname = 'bosun' AND relname = 'runs'"
    ).fetchone()
    assert row is not None
    return int(row[0])  # type: ignore[call-overload]


@pytest.fixture
def backlog(pg_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    async def migrate() -> None:
        store = PostgresStore(pg_url)
        await store.open()
        await store.close()

    asyncio.run(migrate())
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET search_path TO bosun")
        now = time.time()
        # A quiet system, analyzed while every run was finished (ready_at NULL) ...
        conn.execute(
            "INSERT INTO runs (id, workflow, queue, status, input, result, created_at, "
            "updated_at, finished_at) SELECT 'c' || n, 'wf', 'default', 'completed', '{}', "
            "'1', %s, %s, %s FROM generate_series(1, %s) AS n",
            (now - 3600, now - 3600, now - 3600, WAITING),
        )
        conn.execute("ANALYZE runs")
        # ... then a burst arrives.
        conn.execute(
            "INSERT INTO runs (id, workflow, queue, status, input, ready_at, created_at, "
            "updated_at) SELECT 'q' || n, 'wf', 'default', 'queued', '{}', %s + n * 1e-3, %s, %s "
            "FROM generate_series(1, %s) AS n",
            (now - 60, now, now, WAITING),
        )
        # Older runs of a workflow this claimer does not serve (another app's): they wait for
        # its workers, and are not to be read either.
        conn.execute(
            "INSERT INTO runs (id, workflow, queue, status, input, ready_at, created_at, "
            "updated_at) SELECT 'o' || n, 'other', 'default', 'queued', '{}', %s + n * 1e-3, "
            "%s, %s FROM generate_series(1, %s) AS n",
            (now - 120, now, now, WAITING),
        )
        # Runs other workers hold, with live leases: not claimable, and not to be read.
        conn.execute(
            "INSERT INTO runs (id, workflow, queue, status, input, ready_at, lease_owner, "
            "lease_token, lease_expires_at, attempts, created_at, updated_at) "
            "SELECT 'r' || n, 'wf', 'default', 'running', '{}', %s, 'other', 'other:1', %s, 1, "
            "%s, %s FROM generate_series(1, %s) AS n",
            (now + 600, now + 600, now, now, RUNNING),
        )
        yield conn


def claim(
    conn: psycopg.Connection[tuple[object, ...]], function: str, *tail: str
) -> list[tuple[object, ...]]:
    """Claim on this session.

    The session's costs make reading the whole table look cheap, as misleading statistics
    can: the claim must not depend on the planner's estimates to read in index order."""
    conn.execute("SET seq_page_cost = 0.0001")
    conn.execute("SET cpu_tuple_cost = 0.00001")
    now = time.time()
    extra = "".join(f", '{arg}'" for arg in tail)
    return conn.execute(
        f"SELECT * FROM {function}('w', '{{default}}', %s, %s, %s, %s, '{{}}'{extra})",
        (CLAIM, CLAIM * 4 + 16, now + 30, now),
    ).fetchall()


def test_a_claim_reads_rows_in_proportion_to_what_it_claims(
    backlog: psycopg.Connection[tuple[object, ...]],
) -> None:
    before = rows_read(backlog)
    claimed = claim(backlog, "claim_ready", "{wf}")
    read = rows_read(backlog) - before
    assert len(claimed) == CLAIM
    assert [took_over for _run, took_over in claimed] == [False] * CLAIM
    # The oldest waiting runs, in order of readiness.
    assert sorted(str(run["id"]) for run, _ in claimed) == sorted(  # type: ignore[index]
        f"q{n}" for n in range(1, CLAIM + 1)
    )
    # Candidates, the locked rows and their updates: a few reads per claimed run, never
    # the 3000 waiting, the 3000 of another workflow or the 1000 running.
    assert read < 10 * CLAIM, f"a claim of {CLAIM} read {read} rows of runs"


def test_the_previous_interface_still_claims(
    backlog: psycopg.Connection[tuple[object, ...]],
) -> None:
    """Workers of the previous release call claim_runs or the claim_ready of seven arguments
    during a rolling deploy: they claim runs of any workflow, as they did."""
    backlog.row_factory = psycopg.rows.dict_row  # type: ignore[assignment]
    older = claim(backlog, "claim_ready")
    claimed_ids = sorted(str(row["run"]["id"]) for row in older)  # type: ignore[call-overload]
    assert claimed_ids == sorted(f"o{n}" for n in range(1, CLAIM + 1))
    rows = claim(backlog, "claim_runs")
    assert len(rows) == CLAIM
    assert all(r["status"] == "running" and r["lease_owner"] == "w" for r in rows)  # type: ignore[call-overload]
    assert all(r["lease_token"] == "w:1" for r in rows)  # type: ignore[call-overload]


KEYS = 1000
KEYED = 20_000


@pytest.fixture
def keyed_backlog(pg_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """20,000 ready runs with fairness keys across 1,000 keys, half of them one tenant's
    burst (the oldest), inserted after an ANALYZE of a quiet table, as a burst arrives."""

    async def migrate() -> None:
        store = PostgresStore(pg_url)
        await store.open()
        await store.close()

    asyncio.run(migrate())
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET search_path TO bosun")
        now = time.time()
        conn.execute("ANALYZE runs")
        conn.execute(
            "INSERT INTO runs (id, workflow, queue, status, input, ready_at, fairness_key, "
            "created_at, updated_at) SELECT 'b' || n, 'wf', 'default', 'queued', '{}', "
            "%s + n * 1e-4, 'k0000', %s, %s FROM generate_series(1, %s) AS n",
            (now - 120, now, now, KEYED // 2),
        )
        conn.execute(
            "INSERT INTO runs (id, workflow, queue, status, input, ready_at, fairness_key, "
            "created_at, updated_at) SELECT 'f' || n, 'wf', 'default', 'queued', '{}', "
            "%s + n * 1e-4, 'k' || lpad((1 + n %% %s)::text, 4, '0'), %s, %s "
            "FROM generate_series(1, %s) AS n",
            (now - 60, KEYS - 1, now, now, KEYED // 2),
        )
        yield conn


def test_a_fair_claim_reads_rows_in_proportion_to_what_it_claims(
    keyed_backlog: psycopg.Connection[tuple[object, ...]],
) -> None:
    """With fairness keys, a claim visits the next keys in turn instead of ranking every
    keyed run: its reads do not grow with the 20,000 waiting, and the next claim carries on
    where it stopped, so the burst's key has one turn like every other key."""
    conn = keyed_backlog
    keys: list[str] = []
    for _ in range(3):
        before = rows_read(conn)
        claimed = claim(conn, "claim_ready", "{wf}")
        read = rows_read(conn) - before
        assert len(claimed) == CLAIM
        # Per claimed run: its key's probe, the candidate, the locked row and its update,
        # and the window of oldest runs read for unkeyed ones; never the keyed backlog.
        assert read < 10 * CLAIM, f"a fair claim of {CLAIM} read {read} rows of runs"
        keys += [str(run["fairness_key"]) for run, _ in claimed]  # type: ignore[index]
    assert sorted(keys) == [f"k{n:04d}" for n in range(3 * CLAIM)], keys
