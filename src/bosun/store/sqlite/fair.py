"""Claims with fairness keys on SQLite: a rotation across keys that reads about as many runs
as it claims, however many keys and keyed runs wait.

Each queue and workflow keeps a cursor (``fair_cursors``): the key its last claim served last.
A claim visits keys in key order from there, wrapping around, at most ``window`` of them,
highest priority first (each step one probe of ``runs_fair_turns``), and takes each visited
key's oldest ready runs, enough to fill the window when fewer keys wait. Candidates are
ordered by priority, then their place within their key (round), then their key's turn.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bosun.store.sqlite.io import Q

NO_PRIORITY_ABOVE = 2**63 - 1


def rotation(
    conn: sqlite3.Connection, queue: str, workflow: str, window: int, now: float
) -> list[tuple[int, str]]:
    """The (priority, key) pairs whose runs this claim considers, in turn order."""
    where = {"queue": queue, "workflow": workflow, "now": now}
    row = conn.execute(Q["fair_cursor"], where).fetchone()
    cursor: str | None = row[0] if row else None
    turns: list[tuple[int, str]] = []
    below = NO_PRIORITY_ABOVE
    while len(turns) < window:
        row = conn.execute(Q["fair_priority"], {**where, "below": below}).fetchone()
        if row is None:
            break
        below = priority = int(row[0])
        for key in keys_from(conn, {**where, "priority": priority}, cursor):
            turns.append((priority, key))
            if len(turns) >= window:
                break
    return turns


def keys_from(
    conn: sqlite3.Connection, where: Mapping[str, Any], cursor: str | None
) -> Iterable[str]:
    """Keys with ready runs at one priority, after ``cursor`` first, then from the start up
    to it."""
    key = cursor
    wrapped = cursor is None
    while True:
        if key is None:
            row = conn.execute(Q["fair_first_key"], where).fetchone()
        else:
            row = conn.execute(Q["fair_next_key"], {**where, "after": key}).fetchone()
        if row is None:
            if wrapped:
                return
            wrapped, key = True, None
            continue
        key = str(row[0])
        if wrapped and cursor is not None and key > cursor:
            return
        yield key


def fair_candidates(
    conn: sqlite3.Connection,
    queues: Sequence[str],
    workflows: Sequence[str],
    window: int,
    params: Mapping[str, Any],
) -> list[sqlite3.Row]:
    """Up to ``window`` candidates of these queues and workflows in claim order."""
    ranked: list[tuple[tuple[int, int, int, float], sqlite3.Row]] = []
    for queue in queues:
        for workflow in workflows:
            where = {**params, "queue": queue, "workflow": workflow}
            turns = rotation(conn, queue, workflow, window, params["now"])
            per_key = math.ceil(window / max(len(turns), 1))
            for turn, (priority, key) in enumerate(turns, start=1):
                rows = conn.execute(
                    Q["fair_key_candidates"],
                    {**where, "priority": priority, "key": key, "per_key": per_key},
                )
                for rank, row in enumerate(rows, start=1):
                    ranked.append(((-priority, rank, turn, row["ready_at"]), row))
            unkeyed = conn.execute(Q["fair_unkeyed_candidates"], {**where, "window": window})
            for rank, row in enumerate(unkeyed, start=1):
                ranked.append(((-row["priority"], rank, 0, row["ready_at"]), row))
    ranked.sort(key=lambda pair: pair[0])
    return [row for _, row in ranked[:window]]


def save_turns(
    conn: sqlite3.Connection, candidates: Sequence[sqlite3.Row], chosen: Iterable[str]
) -> None:
    """Move each queue and workflow's cursor to the last key served by this claim."""
    taken = set(chosen)
    last: dict[tuple[str, str], str] = {}
    for row in candidates:
        if row["id"] in taken and row["fairness_key"] is not None:
            last[(row["queue"], row["workflow"])] = row["fairness_key"]
    for (queue, workflow), key in last.items():
        conn.execute(Q["set_fair_cursor"], {"queue": queue, "workflow": workflow, "key": key})
