"""Anchor (a): raw SQLite durable single-row commit rate.

Opens one stdlib ``sqlite3`` connection in WAL mode with ``synchronous=FULL`` (``--synchronous``
changes it) and, for ``--seconds``, runs ``BEGIN; INSERT one small row; COMMIT`` in a tight loop.
Every COMMIT is durable (fsync of the WAL under FULL), so tx/s is the ceiling for any system that
commits once per step on this disk. Prints one JSON line: ``{"tx_per_s": ..., ...}``.
"""

from __future__ import annotations

import argparse
import sqlite3
import time

from _common import emit, fresh_db_path


def measure(path: str, synchronous: str, seconds: float) -> dict[str, float | int | str]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        journal = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
        payload = b"x" * 64
        for _ in range(20):  # warm-up: file growth, page cache
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (payload) VALUES (?)", (payload,))
            conn.execute("COMMIT")
        count = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (payload) VALUES (?)", (payload,))
            conn.execute("COMMIT")
            count += 1
            if count % 16 == 0 and time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    return {
        "system": "sqlite",
        "journal_mode": journal,
        "synchronous": synchronous.upper(),
        "tx": count,
        "seconds": elapsed,
        "tx_per_s": count / elapsed,
        "commit_us": elapsed / count * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database file (default: fresh file under bench/.data)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--synchronous",
        default="FULL",
        choices=["OFF", "NORMAL", "FULL", "EXTRA"],
        type=str.upper,
    )
    args = parser.parse_args()
    path = fresh_db_path(args.db, "anchor_sqlite")
    emit(measure(str(path), args.synchronous, args.seconds))


if __name__ == "__main__":
    main()
