"""Anchor: LangGraph with its PostgreSQL checkpointer running a 3-node graph.

A ``StateGraph`` over ``{"x": int}`` with three nodes (x+1, x*2, x-1) chained START -> n1 -> n2
-> n3 -> END, compiled with ``AsyncPostgresSaver`` on an ``AsyncConnectionPool``
(``--pool-size`` connections, the settings LangGraph documents: autocommit, no prepared
statements, dict rows) over the fresh database ``--url``. Every invocation uses a fresh
``thread_id``, so each run is a new durable thread (checkpoints before and after every node).
LangGraph's default ``durability="async"`` is kept (``--durability`` changes it): checkpoint
writes overlap the next node, and the run waits for them before returning.

Phases as for the other workflow systems: sequential runs (``ainvoke`` latency p50/p99), then
``--concurrency`` (64) asyncio lanes each invoking one graph at a time; graphs finished in a
``--seconds`` window after a ``--ramp`` give runs/s ("steps" are node executions: 3 per run).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import time
import uuid
from typing import Any, TypedDict

from _common import Window, WorkflowMetrics, emit


class State(TypedDict):
    x: int


def n1(state: State) -> State:
    return {"x": state["x"] + 1}


def n2(state: State) -> State:
    return {"x": state["x"] * 2}


def n3(state: State) -> State:
    return {"x": state["x"] - 1}


def build_graph(checkpointer: Any) -> Any:
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(State)
    graph.add_node("n1", n1)
    graph.add_node("n2", n2)
    graph.add_node("n3", n3)
    graph.add_edge(START, "n1")
    graph.add_edge("n1", "n2")
    graph.add_edge("n2", "n3")
    graph.add_edge("n3", END)
    return graph.compile(checkpointer=checkpointer)


async def run_once(graph: Any, x: int, durability: str) -> float:
    t0 = time.perf_counter()
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    out = await graph.ainvoke({"x": x}, config, durability=durability)
    if out["x"] != 2 * (x + 1) - 1:
        raise AssertionError(f"graph({x}) returned {out}")
    return time.perf_counter() - t0


async def concurrent(graph: Any, concurrency: int, window: Window, durability: str) -> list[float]:
    finishes: list[float] = []

    async def lane(lane_id: int) -> None:
        i = 0
        while window.open():
            await run_once(graph, lane_id * 1_000_000 + i, durability)
            finishes.append(time.perf_counter())
            i += 1

    await asyncio.gather(*(lane(k) for k in range(concurrency)))
    return finishes


async def measure(args: argparse.Namespace) -> WorkflowMetrics:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    async with AsyncConnectionPool(
        args.url, min_size=1, max_size=args.pool_size, kwargs=kwargs, open=False
    ) as pool:
        checkpointer = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await checkpointer.setup()
        graph = build_graph(checkpointer)
        for i in range(args.warmup):
            await run_once(graph, i, args.durability)
        seq = [await run_once(graph, i, args.durability) for i in range(args.runs)]
        cpu0, window = time.process_time(), Window.begin(args.ramp, args.seconds)
        finishes = await concurrent(graph, args.concurrency, window, args.durability)
        wall = time.perf_counter() - window.start
    return WorkflowMetrics(seq, finishes, window, time.process_time() - cpu0, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="postgresql:// URL of a fresh database")
    parser.add_argument("--runs", type=int, default=100, help="sequential runs")
    parser.add_argument("--warmup", type=int, default=10, help="sequential warm-up runs")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--ramp", type=float, default=1.0, help="concurrent ramp-up, not counted")
    parser.add_argument("--seconds", type=float, default=5.0, help="concurrent measured window")
    parser.add_argument("--pool-size", type=int, default=20)
    parser.add_argument("--durability", choices=["sync", "async", "exit"], default="async")
    args = parser.parse_args()
    metrics = asyncio.run(measure(args))
    emit(
        {
            "system": "langgraph",
            "version": importlib.metadata.version("langgraph"),
            "checkpointer": importlib.metadata.version("langgraph-checkpoint-postgres"),
            "durability": args.durability,
            "pool_size": args.pool_size,
            "concurrency": args.concurrency,
            **metrics.as_dict(steps_per_run=3),
        }
    )


if __name__ == "__main__":
    main()
