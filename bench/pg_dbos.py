"""Anchor: DBOS Transact running the 3-step workflow with its system database on PostgreSQL.

The workflow, steps and phases are those of ``anchor_dbos.py`` (imported from it): three
``@DBOS.step()`` functions chained in one ``@DBOS.workflow()``; a sequential phase (start ->
result latency p50/p99) and a concurrent one with ``--concurrency`` (64) workflows always in
flight (runs/s, steps/s). Only the system database differs: ``system_database_url`` is the
fresh PostgreSQL database given by ``--url``. ``--mode threads`` (default) drives DBOS from 64
OS threads, its fastest mode on the dev box. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging

from _common import emit
from anchor_dbos import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="postgresql:// URL of a fresh database")
    parser.add_argument("--runs", type=int, default=100, help="sequential runs")
    parser.add_argument("--warmup", type=int, default=10, help="sequential warm-up runs")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--ramp", type=float, default=1.0, help="concurrent ramp-up, not counted")
    parser.add_argument("--seconds", type=float, default=5.0, help="concurrent measured window")
    parser.add_argument("--mode", choices=["threads", "async"], default="threads")
    parser.add_argument("--pool-size", type=int, default=0, help="sys_db_pool_size; 0: default")
    args = parser.parse_args()
    logging.getLogger("dbos").setLevel(logging.WARNING)
    result = measure(args, args.url)
    emit(
        {
            "system": "dbos",
            "version": importlib.metadata.version("dbos"),
            "mode": args.mode,
            "concurrency": args.concurrency,
            **result,
        }
    )


if __name__ == "__main__":
    main()
