"""Anchor: raw PostgreSQL single-row INSERT+COMMIT rate with psycopg 3.

``--clients`` connections each insert one small row and commit, in a tight loop for ``--seconds``;
every commit waits for the WAL flush (``synchronous_commit=on``, the server default). By default
(``--commit implicit``) the connection is in autocommit mode, so each INSERT is its own
transaction: one round trip per durable commit, as pgbench does with a one-statement script.
``--commit explicit`` runs ``BEGIN; INSERT; COMMIT`` instead (psycopg sends BEGIN and COMMIT as
separate round trips: about 2/3 of the rate on the dev box). With one client this is the server's
round-trip-plus-fsync rate; with 16, PostgreSQL's group commit shares each WAL flush between
clients. It is the ceiling for a system that commits once per step from one connection, and the
yardstick for one that batches.

``--mode threads`` (default): one OS thread and one blocking connection per client (psycopg
releases the GIL while waiting on the socket). ``--mode async``: one asyncio task and one
``AsyncConnection`` per client. Also reported, per transaction: CPU ms of this process
(``client_cpu_ms``) and of the clients' PostgreSQL backends (``server_cpu_ms``, read from
/proc: the server must run on this machine). Prints one JSON line: ``{"tx_per_s": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from _common import emit, latency_ms
from _pg import cpu_delta, process_cpu

INSERT = "INSERT INTO t (payload) VALUES (%s)"
PAYLOAD = b"x" * 64


def setup(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (id bigserial PRIMARY KEY, payload bytea)")


@dataclass
class Outcome:
    counted: int  # transactions in the measured window
    total: int  # all transactions, warm-up included
    commit_s: list[float]  # one sample per client: its mean commit time in the window
    client_cpu: float  # CPU seconds of this process, connections open to closed
    server_cpu: float  # CPU seconds of the clients' PostgreSQL backends, same span


def run_threads(url: str, clients: int, autocommit: bool, warmup: float, seconds: float) -> Outcome:
    conns = [psycopg.connect(url, autocommit=autocommit) for _ in range(clients)]
    pids = [c.info.backend_pid for c in conns]
    cpu0, server0 = time.process_time(), process_cpu(pids)
    counts = [0] * clients
    totals = [0] * clients
    commit_s: list[float] = []  # one sample per client: its mean commit time in the window
    barrier = threading.Barrier(clients + 1)
    window: dict[str, float] = {}

    def client(k: int) -> None:
        conn, n = conns[k], 0
        barrier.wait()
        start = window["start"]
        counting_from, end = start + warmup, start + warmup + seconds
        t_counting = None
        while True:
            conn.execute(INSERT, (PAYLOAD,))
            if not autocommit:
                conn.commit()
            totals[k] += 1
            now = time.perf_counter()
            if now >= counting_from:
                if t_counting is None:
                    t_counting = now
                elif now <= end:
                    n += 1
                else:
                    break
        counts[k] = n
        if n:
            commit_s.append((end - t_counting) / n)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    window["start"] = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    client_cpu, server = time.process_time() - cpu0, cpu_delta(server0, process_cpu(pids))
    for conn in conns:
        conn.close()
    return Outcome(sum(counts), sum(totals), commit_s, client_cpu, server)


async def run_async(
    url: str, clients: int, autocommit: bool, warmup: float, seconds: float
) -> Outcome:
    conns = [
        await psycopg.AsyncConnection.connect(url, autocommit=autocommit) for _ in range(clients)
    ]
    pids = [c.info.backend_pid for c in conns]
    cpu0, server0 = time.process_time(), process_cpu(pids)
    total = 0
    start = time.perf_counter()
    counting_from, end = start + warmup, start + warmup + seconds
    commit_s: list[float] = []

    async def client(conn: psycopg.AsyncConnection[Any]) -> int:
        nonlocal total
        n, t_counting = 0, None
        while True:
            await conn.execute(INSERT, (PAYLOAD,))
            if not autocommit:
                await conn.commit()
            total += 1
            now = time.perf_counter()
            if now >= counting_from:
                if t_counting is None:
                    t_counting = now
                elif now <= end:
                    n += 1
                else:
                    break
        if n and t_counting is not None:
            commit_s.append((end - t_counting) / n)
        return n

    counts = await asyncio.gather(*(client(c) for c in conns))
    client_cpu, server = time.process_time() - cpu0, cpu_delta(server0, process_cpu(pids))
    for conn in conns:
        await conn.close()
    return Outcome(sum(counts), total, commit_s, client_cpu, server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="postgresql:// URL of a fresh database")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before the window")
    parser.add_argument("--mode", choices=["threads", "async"], default="threads")
    parser.add_argument("--commit", choices=["implicit", "explicit"], default="implicit")
    args = parser.parse_args()
    setup(args.url)
    autocommit = args.commit == "implicit"
    run = (args.url, args.clients, autocommit, args.warmup, args.seconds)
    out = run_threads(*run) if args.mode == "threads" else asyncio.run(run_async(*run))
    emit(
        {
            "system": "postgres",
            "mode": args.mode,
            "commit": args.commit,
            "clients": args.clients,
            "tx": out.counted,
            "seconds": args.seconds,
            "tx_per_s": out.counted / args.seconds,
            "commit_ms": latency_ms(out.commit_s)["mean_ms"],
            "client_cpu_ms": out.client_cpu / out.total * 1e3,
            "server_cpu_ms": out.server_cpu / out.total * 1e3,
        }
    )


if __name__ == "__main__":
    main()
