"""bosun MCP benchmark: the agent loop's cost per turn when its tools are an MCP server's,
called over stdio, beside the same tools as plain functions.

On a fresh database (a SQLite file in a new folder under ``bench/.data``, or with
``--database postgresql://HOST/DB`` a throwaway database created on that server and dropped
afterwards), with the workflows of ``bench/apps/mcp_app.py``: the agent of
``bench/agents.py`` (two tools, called in parallel for 4 turns, then an answer: 5 turns a run,
8 tool calls) on a zero-delay ``ScriptedProvider``, its tools either plain async functions or
served by an MCP server built with the official SDK (``bench/apps/mcp_tools_server.py``) that
the worker starts and talks to over stdio. 200 runs (48 with ``--quick``) of each, 16 in
flight on one in-process worker with 16 slots; then runs timed one at a time.

Anchors, in the same process on the same provider: the loop in plain Python with no journal,
calling the functions, and calling the MCP server through the SDK's ``Client`` (one session,
opened beforehand). So "bosun with MCP tools - plain loop with MCP tools" is what durability
costs a turn whose tools are remote, and "plain loop with MCP tools - plain loop with
functions" what the protocol itself costs. CPU is this process's (client and worker) and,
separately, the MCP server's.

    .venv/bin/python bench/agents_mcp.py [--quick] [--database URL] [--out F] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from _common import DATA_DIR
from _report import markdown_table
from http_api import fmt, fresh_database, machine_info, ratio

BENCH_DIR = Path(__file__).resolve().parent
APP_FILE = BENCH_DIR / "apps" / "mcp_app.py"
SLOTS = 16
TOOL_TURNS = 4


@dataclass(frozen=True)
class Plan:
    runs: int
    sequential: int

    @property
    def turns(self) -> int:
        return TOOL_TURNS + 1


FULL = Plan(runs=200, sequential=30)
QUICK = Plan(runs=48, sequential=8)


@dataclass
class Phase:
    """Wall time, this process's CPU and the MCP servers' CPU of `runs` runs."""

    wall_s: float
    cpu_s: float
    server_cpu_s: float

    def per(self, units: int) -> dict[str, float]:
        return {
            "wall_ms": self.wall_s / units * 1e3,
            "cpu_ms": self.cpu_s / units * 1e3,
            "server_cpu_ms": self.server_cpu_s / units * 1e3,
        }


def children_cpu() -> float:
    """CPU seconds of this process's children so far (the MCP servers it started)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def lanes(job: Callable[[int], Awaitable[Any]], runs: int, width: int) -> Phase:
    """`job(0)` … `job(runs - 1)`, `width` at a time."""
    todo = iter(range(runs))

    async def lane() -> None:
        for i in todo:
            await job(i)

    server0, cpu0, t0 = children_cpu(), time.process_time(), time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(width)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return Phase(wall, cpu, children_cpu() - server0)


async def timed(job: Callable[[int], Awaitable[Any]], count: int) -> list[float]:
    latencies = []
    for i in range(count):
        t0 = time.perf_counter()
        await job(i)
        latencies.append(time.perf_counter() - t0)
    return latencies


def load_app(database: str) -> Any:
    sys.path.insert(0, str(APP_FILE.parent))
    module = importlib.import_module(APP_FILE.stem)
    module.app.use_database(database)
    return module


async def measure(database: str, plan: Plan) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters

    import bosun
    from bosun.agents.tools import tool_spec

    mod = load_app(database)
    agent_app = importlib.import_module("agent_app")
    app, provider = mod.app, mod.SCRIPTED
    expected = await agent_app.plain_loop(provider, TOOL_TURNS)
    params = StdioServerParameters(command=sys.executable, args=[str(mod.SERVER)])
    out: dict[str, Any] = {}
    async with Client(params) as client, app, app.worker(concurrency=SLOTS):
        listed = (await client.list_tools()).tools
        specs = [
            tool_spec(fn) for fn in agent_app.TOOLS
        ]  # what the model is shown; the same schema
        assert {t.name for t in listed} == {s.name for s in specs}

        async def plain(i: int) -> None:
            provider.calls.clear()  # it keeps every request: a growing heap slows the GC
            if await agent_app.plain_loop(provider, TOOL_TURNS) != expected:
                raise AssertionError("the plain loop gave another answer")

        async def plain_mcp(i: int) -> None:
            provider.calls.clear()
            if await mod.plain_mcp_loop(provider, TOOL_TURNS, client, specs) != expected:
                raise AssertionError("the plain MCP loop gave another answer")

        def run(workflow: str) -> Callable[[int], Awaitable[None]]:
            async def job(i: int) -> None:
                provider.calls.clear()
                answer = await (await app.start(workflow, TOOL_TURNS)).result(timeout=120)
                if answer != (expected if workflow != "empty" else ""):
                    raise AssertionError(f"{workflow} answered {answer!r}")

            return job

        jobs = {
            "plain": plain,
            "plain_mcp": plain_mcp,
            "agent_local": run("agent_local"),
            "agent_mcp": run("agent_mcp"),
            "empty": run("empty"),
        }
        for job in jobs.values():  # warm up (and start bosun's session with the server)
            await lanes(job, SLOTS, SLOTS)
        for name, job in jobs.items():
            out[name] = await lanes(job, plan.runs, SLOTS)
            print(f"   {name}: {out[name].wall_s:.2f} s", flush=True)
        for name, job in jobs.items():
            out[f"seq_{name}"] = await timed(job, plan.sequential)
        handle = await app.start("agent_mcp", TOOL_TURNS)
        await handle.result(timeout=60)
        journal = await app.store.get_journal(handle.run_id)
        out["journal"] = sorted({(e.kind, e.name.split(":")[0]) for e in journal})
        out["journal_entries"] = len(journal)
    await bosun.mcp.close_all()
    return out


def report(out: dict[str, Any], plan: Plan) -> str:
    turns = plan.runs * plan.turns
    per = {k: out[k].per(turns) for k in ("plain", "plain_mcp", "agent_local", "agent_mcp")}
    empty = out["empty"].per(plan.runs)
    seq = {k: statistics.median(out[f"seq_{k}"]) * 1e3 / plan.turns for k in per}
    flight = f"{SLOTS} in flight"

    def row(label: str, value: float | None, anchor: float | None = None) -> list[str]:
        return [label, fmt(value), ratio(value, anchor)]

    def diff(a: str, b: str, key: str) -> float:
        return per[a][key] - per[b][key]

    rows = [
        row(f"plain loop, functions: wall ms/turn, {flight}", per["plain"]["wall_ms"]),
        row("plain loop, functions: CPU ms/turn", per["plain"]["cpu_ms"]),
        row(f"plain loop, MCP stdio: wall ms/turn, {flight}", per["plain_mcp"]["wall_ms"]),
        row("plain loop, MCP stdio: CPU ms/turn", per["plain_mcp"]["cpu_ms"]),
        row("plain loop, MCP stdio: server CPU ms/turn", per["plain_mcp"]["server_cpu_ms"]),
        row(f"bosun Agent, functions: wall ms/turn, {flight}", per["agent_local"]["wall_ms"],
            per["plain"]["wall_ms"]),
        row("bosun Agent, functions: CPU ms/turn", per["agent_local"]["cpu_ms"],
            per["plain"]["cpu_ms"]),
        row(f"bosun Agent, MCP stdio: wall ms/turn, {flight}", per["agent_mcp"]["wall_ms"],
            per["plain_mcp"]["wall_ms"]),
        row("bosun Agent, MCP stdio: CPU ms/turn", per["agent_mcp"]["cpu_ms"],
            per["plain_mcp"]["cpu_ms"]),
        row("bosun Agent, MCP stdio: server CPU ms/turn", per["agent_mcp"]["server_cpu_ms"]),
        row("durability per turn, functions: CPU ms (bosun - plain)",
            diff("agent_local", "plain", "cpu_ms")),
        row("durability per turn, MCP stdio: CPU ms (bosun - plain)",
            diff("agent_mcp", "plain_mcp", "cpu_ms")),
        row("MCP per turn, plain loop: CPU ms (MCP - functions)",
            diff("plain_mcp", "plain", "cpu_ms")),
        row("MCP per turn, bosun Agent: CPU ms (MCP - functions)",
            diff("agent_mcp", "agent_local", "cpu_ms")),
        row("bosun empty run: CPU ms/run", empty["cpu_ms"]),
        row("one at a time: plain loop, functions, ms/turn", seq["plain"]),
        row("one at a time: plain loop, MCP stdio, ms/turn", seq["plain_mcp"], seq["plain"]),
        row("one at a time: bosun Agent, functions, ms/turn", seq["agent_local"], seq["plain"]),
        row("one at a time: bosun Agent, MCP stdio, ms/turn", seq["agent_mcp"],
            seq["plain_mcp"]),
    ]  # fmt: skip
    journal = ", ".join(f"{kind} {name}" for kind, name in out["journal"])
    lines = [
        f"- a run: {plan.turns} turns ({TOOL_TURNS} calling both tools in parallel, then the "
        f"answer), 8 tool calls; an MCP run's journal: {out['journal_entries']} entries "
        f"({journal})",
        "- ratios: bosun rows against the plain loop with the same tools",
    ]
    text = ["## Results", "", *markdown_table(["metric", "value", "ratio"], rows)]
    return "\n".join([*text, "", *lines, "", f"Plan: {plan}"]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--database", help="a postgresql:// server for a throwaway database")
    parser.add_argument("--out", type=Path, help="also write the report as Markdown here")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    if args.database and not args.database.startswith(("postgresql://", "postgres://")):
        parser.error("--database takes a postgresql:// server URL; SQLite is the default")
    plan = QUICK if args.quick else FULL
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=time.strftime("mcp-%Y%m%d-%H%M%S-"), dir=DATA_DIR))
    database, pg_server = fresh_database(args.database, work, "mcp")
    machine = machine_info(database, work)
    print("\n".join(f"{k}: {v}" for k, v in machine.items()), flush=True)
    try:
        print(f"\n== agent loop: {plan.runs} runs x {plan.turns} turns, {SLOTS} in flight")
        out = asyncio.run(measure(database, plan))
    finally:
        if pg_server is not None and not args.keep:
            from _pg import drop_database

            drop_database(pg_server, database)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = report(out, plan)
    print("\n" + text, end="")
    if args.out:
        machine_lines = "\n".join(f"- {k}: {v}" for k, v in machine.items())
        args.out.write_text(f"# bosun MCP benchmark\n\n## Machine\n\n{machine_lines}\n\n{text}")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
