"""bosun agent benchmark: the agent loop's cost per turn, and streamed tokens to an SSE client.

On a fresh database (a SQLite file in a new folder under ``bench/.data``, or with
``--database postgresql://HOST/DB`` a throwaway database ``bench_agents_<random>`` created on
that server and dropped afterwards), with the workflows of ``bench/apps/agent_app.py``:

(a) agent loop: 200 runs (48 with ``--quick``) of a ``bosun.Agent`` with two async tools,
    on a zero-delay ``ScriptedProvider`` that calls both tools for 4 turns and then answers
    (5 turns a run; a turn is one LLM call and its tool calls, all journaled), 16 in flight
    on one in-process worker with 16 slots. Anchors, in the same process on the same
    provider and tools: the same loop in plain Python with no journal, and an empty workflow
    (what a run costs by itself). Then runs are timed one at a time (latency), and runs that
    wait for a signal at the end are signalled, so their whole history replays;
(b) token streams: ``bosun server --worker-slots 16`` runs as a subprocess. A run waits for
    a signal; an SSE client opens ``GET /v1/runs/{id}/events``, and once its stream is open
    the run is signalled and makes one ``ctx.llm.chat`` call on a model that generates a token
    every ``gap`` seconds, each carrying its generation time. Delivery latency is the time the
    client reads the ``llm.delta`` event minus that stamp, for every token; bosun batches the
    deltas of a call every 50 ms. Every token must arrive once, in order. First one stream at
    a time, then 16 runs streaming at once, then one stream whose model pauses for 0.5 s
    part-way (how long a pause may hold back the tokens generated before it).

    .venv/bin/python bench/agents.py [--quick] [--database URL] [--out F] [--keep]

Exit status 1 when a stream lost, repeated or reordered a token, or a phase failed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import DATA_DIR, percentile
from _report import markdown_table
from http_api import (
    Server,
    fmt,
    free_port,
    fresh_database,
    launch,
    machine_info,
    ratio,
    stop_server,
    until_suspended,
)

from bosun.agents.llm import DELTA_INTERVAL

BENCH_DIR = Path(__file__).resolve().parent
APP_FILE = BENCH_DIR / "apps" / "agent_app.py"
SLOTS = 16
PAUSED_WORDS = 40  # tokens of the stream with a pause in it
PAUSE_AT = 25  # the pause comes before this token: mid-way between two 50 ms batches
PAUSE = 0.5  # seconds


@dataclass(frozen=True)
class Plan:
    runs: int  # agent runs per phase
    tool_turns: int  # turns with tool calls; a run has one more, its answer
    sequential: int  # runs timed one at a time
    streams: int  # runs streamed one at a time
    parallel: int  # runs streamed at once
    words: int  # tokens per streamed call
    gap: float  # seconds between two generated tokens

    @property
    def turns(self) -> int:
        return self.tool_turns + 1


FULL = Plan(runs=200, tool_turns=4, sequential=30, streams=5, parallel=16, words=200, gap=0.005)
QUICK = Plan(runs=48, tool_turns=4, sequential=8, streams=2, parallel=4, words=100, gap=0.005)


# -- (a) the agent loop -----------------------------------------------------------------------


@dataclass
class Phase:
    """Wall and CPU time of `runs` runs; CPU of this process and, on PostgreSQL, its backends."""

    runs: int
    wall_s: float
    cpu_s: float
    pg_cpu_s: float | None = None

    def per(self, units: int) -> dict[str, float | None]:
        return {
            "wall_ms": self.wall_s / units * 1e3,
            "cpu_ms": self.cpu_s / units * 1e3,
            "pg_cpu_ms": None if self.pg_cpu_s is None else self.pg_cpu_s / units * 1e3,
        }


class Meter:
    """Times a phase: wall, this process's CPU, and the database's backends on PostgreSQL."""

    def __init__(self, database: str) -> None:
        self.pg = database if database.startswith("postgres") else None

    def _backends(self) -> dict[int, float]:
        if self.pg is None:
            return {}
        from _pg import backend_cpu

        return backend_cpu(self.pg)

    async def lanes(self, job: Callable[[int], Awaitable[Any]], runs: int, width: int) -> Phase:
        """`job(0)` … `job(runs - 1)`, `width` at a time."""
        todo = iter(range(runs))

        async def lane() -> None:
            for i in todo:
                await job(i)

        backends = self._backends()
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(width)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        pg = None
        if self.pg is not None:
            from _pg import cpu_delta

            pg = cpu_delta(backends, self._backends())
        return Phase(runs, wall, cpu, pg)


def load_agent_app(database: str) -> Any:
    sys.path.insert(0, str(APP_FILE.parent))
    module = importlib.import_module(APP_FILE.stem)
    module.app.use_database(database)
    return module


async def until_waiting(app: Any, run_id: str) -> None:
    handle = app.get_handle(run_id)
    for _ in range(3000):
        if (await handle.status()).status == "suspended":
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"run {run_id} did not reach 'suspended' in 30 s")


async def agent_loop(database: str, plan: Plan) -> dict[str, Any]:
    mod = load_agent_app(database)
    app, meter, k = mod.app, Meter(database), plan.tool_turns
    expected = await mod.plain_loop(mod.SCRIPTED, k)

    async def plain(i: int) -> None:
        mod.SCRIPTED.calls.clear()  # it keeps every request: a growing heap slows the GC
        if await mod.plain_loop(mod.SCRIPTED, k) != expected:
            raise AssertionError("the plain loop gave another answer")

    def bosun_run(workflow: str) -> Callable[[int], Awaitable[None]]:
        async def run(i: int) -> None:
            mod.SCRIPTED.calls.clear()
            answer = await (await app.start(workflow, k)).result(timeout=60)
            if answer != (expected if workflow == "agent_loop" else ""):
                raise AssertionError(f"{workflow} answered {answer!r}")

        return run

    async def timed(job: Callable[[int], Awaitable[Any]]) -> list[float]:
        latencies = []
        for i in range(plan.sequential):
            t0 = time.perf_counter()
            await job(i)
            latencies.append(time.perf_counter() - t0)
        return latencies

    out: dict[str, Any] = {}
    async with app, app.worker(concurrency=SLOTS):
        for job in (plain, bosun_run("agent_loop"), bosun_run("empty")):  # warm up
            await meter.lanes(job, SLOTS, SLOTS)
        out["plain"] = await meter.lanes(plain, plan.runs, SLOTS)
        out["agent"] = await meter.lanes(bosun_run("agent_loop"), plan.runs, SLOTS)
        out["empty"] = await meter.lanes(bosun_run("empty"), plan.runs, SLOTS)
        out["seq_plain"] = await timed(plain)
        out["seq_agent"] = await timed(bosun_run("agent_loop"))
        out["seq_empty"] = await timed(bosun_run("empty"))
        handle = await app.start("agent_loop", k)
        await handle.result(timeout=60)
        kinds = [entry.kind for entry in await app.store.get_journal(handle.run_id)]
        out["journal"] = {kind: kinds.count(kind) for kind in sorted(set(kinds))}
        for workflow in ("agent_loop", "empty"):
            handles = await replay_ready(app, workflow, k, plan.runs)

            async def replay(i: int, handles: list[Any] = handles) -> None:
                await handles[i].signal("go")
                await handles[i].result(timeout=60)

            out[f"replay_{workflow}"] = await meter.lanes(replay, plan.runs, SLOTS)
    return out


async def replay_ready(app: Any, workflow: str, tool_turns: int, runs: int) -> list[Any]:
    """`runs` runs of `workflow` that finished their work and wait for the signal "go"."""
    handles = [await app.start(workflow, tool_turns, wait=True) for _ in range(runs)]
    for handle in handles:
        await until_waiting(app, handle.run_id)
    return handles


# -- (b) token streams ------------------------------------------------------------------------


@dataclass
class Stream:
    """What one SSE client saw of one run: token indices in arrival order, latencies."""

    indices: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    last_delays: list[float] = field(default_factory=list)  # each batch's newest token
    batches: int = 0
    error: str = ""

    def take(self, text: str, received: float) -> None:
        self.batches += 1
        stamp = 0.0
        for token in text.split():
            index, _, stamp_text = token.partition(":")
            stamp = float(stamp_text)
            self.indices.append(int(index))
            self.delays.append(received - stamp)
        self.last_delays.append(received - stamp)

    def complete(self, words: int) -> bool:
        return not self.error and self.indices == list(range(words))


def start_server(database: str, work: Path) -> Server:
    port = free_port()
    log = work / "server.log"
    cmd = [sys.executable, "-m", "bosun", "server", str(APP_FILE), "--database", database]
    cmd += ["--port", str(port), "--worker-slots", str(SLOTS), "--no-auth"]
    cmd += ["--rate-limit", "0", "--max-streams", "0"]
    return launch(cmd, port, log)


async def follow(
    client: httpx.AsyncClient, run_id: str, stream: Stream, opened: asyncio.Event
) -> None:
    """Read the run's events until its final one; `opened` is set at the first event, when
    the server has certainly subscribed this stream to the run's token deltas."""
    try:
        async with client.stream("GET", f"/v1/runs/{run_id}/events") as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                received = time.time()
                event = json.loads(line[6:])
                opened.set()
                if event["type"] == "llm.delta":
                    stream.take(event["data"]["text"], received)
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        stream.error = f"{type(exc).__name__}: {exc}"
    finally:
        opened.set()


async def stream_runs(client: httpx.AsyncClient, count: int, spec: dict[str, Any]) -> list[Stream]:
    """`count` runs at once, each followed by its own stream; signalled once all are open.
    `spec` is the `stream_tokens` workflow's input."""
    body = {"workflow": "stream_tokens", "input": spec}
    run_ids = []
    for _ in range(count):
        created = await client.post("/v1/runs", json=body)
        created.raise_for_status()
        run_ids.append(created.json()["id"])
    for run_id in run_ids:
        await until_suspended(client, run_id)
    streams = [Stream() for _ in run_ids]
    opened = [asyncio.Event() for _ in run_ids]
    tasks = [
        asyncio.create_task(follow(client, run_id, stream, event))
        for run_id, stream, event in zip(run_ids, streams, opened, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 30)
    signal = {"name": "go", "payload": True}
    sent = [client.post(f"/v1/runs/{run_id}/signals", json=signal) for run_id in run_ids]
    for response in await asyncio.gather(*sent):
        response.raise_for_status()
    generation = spec["words"] * spec["gap"] + spec.get("pause", 0.0)
    await asyncio.wait_for(asyncio.gather(*tasks), 60 + generation * 4)
    return streams


@dataclass
class Group:
    """Streams measured together: `label` for the table, `words` tokens each; a `brief`
    group reports only whether it was complete and its longest delivery."""

    label: str
    words: int
    streams: list[Stream]
    brief: bool = False


async def token_streams(server: Server, plan: Plan) -> list[Group]:
    steady = {"words": plan.words, "gap": plan.gap}
    paused = {"words": PAUSED_WORDS, "gap": plan.gap, "pause_at": PAUSE_AT, "pause": PAUSE}
    limits = httpx.Limits(max_connections=plan.parallel * 2 + 4)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
        await stream_runs(client, 1, {"words": 20, "gap": plan.gap})  # warm up
        one: list[Stream] = []
        for _ in range(plan.streams):
            one += await stream_runs(client, 1, steady)
        many = await stream_runs(client, plan.parallel, steady)
        pause = await stream_runs(client, 1, paused)
    return [
        Group("1 stream", plan.words, one),
        Group(f"{plan.parallel} streams at once", plan.words, many),
        Group(f"{PAUSE:g} s pause before token {PAUSE_AT}", PAUSED_WORDS, pause, brief=True),
    ]


# -- report -------------------------------------------------------------------------------------


def row(label: str, value: float | None, anchor: float | None = None, note: str = "") -> list[str]:
    spec = "{:.1f}" if label.startswith("SSE") else "{:.3f}"
    return [label, fmt(value, spec), ratio(value, anchor) + note]


def loop_rows(loop: dict[str, Any], plan: Plan, pg: bool) -> list[list[str]]:
    n, t = plan.runs, plan.turns
    plain, agent, empty = loop["plain"].per(n * t), loop["agent"].per(n * t), loop["empty"].per(n)
    replay, replay_empty = loop["replay_agent_loop"].per(n * t), loop["replay_empty"].per(n)
    # Less the run's own cost: an empty run's, spread over the turns.
    net = {k: (agent[k] or 0) - (empty[k] or 0) / t for k in ("wall_ms", "cpu_ms")}
    replay_net = (replay["cpu_ms"] or 0) - (replay_empty["cpu_ms"] or 0) / t
    seq = {k: statistics.median(loop[f"seq_{k}"]) * 1e3 for k in ("plain", "agent", "empty")}
    flight, first = f"{SLOTS} in flight", " first run"
    rows = [
        row(f"plain Python loop: wall ms/turn, {flight}", plain["wall_ms"], plain["wall_ms"]),
        row("plain Python loop: CPU ms/turn", plain["cpu_ms"], plain["cpu_ms"]),
        row(f"bosun Agent: wall ms/turn, {flight}", agent["wall_ms"], plain["wall_ms"]),
        row("bosun Agent: CPU ms/turn", agent["cpu_ms"], plain["cpu_ms"]),
        row(f"bosun empty run: wall ms/run, {flight}", empty["wall_ms"]),
        row("bosun empty run: CPU ms/run", empty["cpu_ms"]),
        row("bosun Agent less the run's own cost: wall ms/turn", net["wall_ms"], plain["wall_ms"]),
        row("bosun Agent less the run's own cost: CPU ms/turn", net["cpu_ms"], plain["cpu_ms"]),
        row("one run at a time: plain loop ms/turn", seq["plain"] / t, seq["plain"] / t),
        row("one run at a time: bosun Agent ms/turn", seq["agent"] / t, seq["plain"] / t),
        row("one run at a time: bosun empty run (ms)", seq["empty"]),
        row(f"replay: wall ms/turn, {flight}", replay["wall_ms"], agent["wall_ms"], first),
        row("replay: CPU ms/turn", replay["cpu_ms"], agent["cpu_ms"], first),
        row("replay of an empty run: CPU ms/run", replay_empty["cpu_ms"]),
        row("replay less the run's own cost: CPU ms/turn", replay_net),
    ]
    if pg:
        rows += [
            row("PostgreSQL backends: CPU ms/turn, bosun Agent", agent["pg_cpu_ms"]),
            row("PostgreSQL backends: CPU ms/run, empty run", empty["pg_cpu_ms"]),
            row("PostgreSQL backends: CPU ms/turn, replay", replay["pg_cpu_ms"]),
        ]
    return rows


def stream_rows(groups: list[Group]) -> tuple[list[list[str]], bool]:
    rows, ok = [], True
    for group in groups:
        complete = sum(s.complete(group.words) for s in group.streams)
        ok = ok and complete == len(group.streams)
        delays = [d * 1e3 for s in group.streams for d in s.delays]
        sse = f"SSE, {group.label}:"
        rows.append([f"{sse} every token once, in order", f"{complete}/{len(group.streams)}", ""])
        if group.brief:
            rows.append(row(f"{sse} token delivery max (ms)", max(delays, default=None)))
            continue
        last = [d * 1e3 for s in group.streams for d in s.last_delays]
        tokens = sum(len(s.indices) for s in group.streams)
        events = sum(s.batches for s in group.streams)
        rows += [
            [f"{sse} tokens received", f"{tokens:,}/{len(group.streams) * group.words:,}", ""],
            row(f"{sse} token delivery p50 (ms)", percentile(delays, 50)),
            row(f"{sse} token delivery p99 (ms)", percentile(delays, 99)),
            row(f"{sse} token delivery max (ms)", max(delays, default=None)),
            row(f"{sse} newest token of each event, p50 (ms)", percentile(last, 50)),
            row(f"{sse} tokens per llm.delta event", tokens / max(events, 1)),
        ]
    return rows, ok


def loop_lines(loop: dict[str, Any], plan: Plan) -> list[str]:
    n, t = plan.runs, plan.turns
    plain, agent = loop["plain"].per(n * t), loop["agent"].per(n * t)
    replay = loop["replay_agent_loop"].per(n * t)
    seq_plain = statistics.median(loop["seq_plain"]) * 1e3 / t
    seq_agent = statistics.median(loop["seq_agent"]) * 1e3 / t
    seq_empty = statistics.median(loop["seq_empty"]) * 1e3
    journal = ", ".join(f"{v} {k}" for k, v in loop["journal"].items())

    def versus(key: str) -> str:
        a, p = agent[key] or 0, plain[key] or 0
        return f"{a:.3f} vs {p:.3f} ms (+{a - p:.3f} ms, {a / p:.1f}x)"

    return [
        f"- a run: {t} turns ({plan.tool_turns} calling both tools, then the answer); "
        f"its journal: {journal} entries",
        f"- bosun Agent vs the plain loop, per turn, {SLOTS} in flight: wall {versus('wall_ms')}; "
        f"CPU {versus('cpu_ms')}",
        f"- one run at a time, per turn: {seq_agent:.3f} vs {seq_plain:.3f} ms "
        f"(+{seq_agent - seq_plain:.3f} ms; +{seq_agent - seq_empty / t - seq_plain:.3f} ms "
        f"less an empty run's latency, spread over the turns)",
        f"- replay vs first run, CPU per turn: {replay['cpu_ms']:.3f} vs {agent['cpu_ms']:.3f} ms "
        f"({(replay['cpu_ms'] or 0) / (agent['cpu_ms'] or 1):.2f}x)",
    ]


def stream_lines(groups: list[Group], ok: bool) -> list[str]:
    one, paused = groups[0].streams, groups[-1].streams
    p50 = percentile([d * 1e3 for s in one for d in s.delays], 50)
    newest = percentile([d * 1e3 for s in one for d in s.last_delays], 50)
    held = max((d * 1e3 for s in paused for d in s.delays), default=float("nan"))
    interval = f"{DELTA_INTERVAL * 1e3:g} ms"
    lines = [
        f"- token delivery p50, 1 stream: {p50:.1f} ms; anchor: bosun sends a call's deltas "
        f"every {interval}, so a token waits 0-{interval} for its event; the newest token of "
        f"each event arrived after {newest:.1f} ms (p50)",
        f"- a {PAUSE:g} s pause in the model's stream: the longest a token took was "
        f"{held:.1f} ms (with deltas sent every {interval}, at most {interval} plus transport)",
        f"- every streamed token arrived once, in order: {'PASS' if ok else 'FAIL'}",
    ]
    errors = sorted({s.error for group in groups for s in group.streams if s.error})
    return lines + [f"- stream error: {e}" for e in errors[:3]]


def report(results: dict[str, Any], plan: Plan, pg: bool) -> tuple[str, bool]:
    """The Markdown report, and whether every phase ran and every token arrived in order."""
    loop, streams = results.get("loop"), results.get("streams")
    rows: list[list[str]] = []
    lines: list[str] = []
    ok = loop is not None and streams is not None
    if loop is not None:
        rows += loop_rows(loop, plan, pg)
        lines += loop_lines(loop, plan)
    if streams is not None:
        stream_table, streamed_ok = stream_rows(streams)
        rows += stream_table
        lines += stream_lines(streams, streamed_ok)
        ok = ok and streamed_ok
    text = ["## Results", "", *markdown_table(["metric", "value", "ratio"], rows)]
    text += ["", "## Anchors, ratios and checks", "", *lines, "", f"Plan: {plan}"]
    return "\n".join(text) + "\n", ok


# -- main -------------------------------------------------------------------------------------


def measure(database: str, work: Path, plan: Plan) -> dict[str, Any]:
    results: dict[str, Any] = {}
    print(f"\n== (a) agent loop: {plan.runs} runs x {plan.turns} turns, {SLOTS} in flight")
    t0 = time.perf_counter()
    results["loop"] = asyncio.run(agent_loop(database, plan))
    print(f"   {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"== (b) SSE token streams: {plan.words} tokens, {plan.gap * 1e3:g} ms apart")
    t0 = time.perf_counter()
    server = start_server(database, work)
    try:
        results["streams"] = asyncio.run(token_streams(server, plan))
    except Exception as exc:
        raise RuntimeError(f"{exc}\n{server.log_tail()}") from exc
    finally:
        stop_server(server)
    print(f"   {time.perf_counter() - t0:.1f} s", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (< 30 s)")
    parser.add_argument(
        "--database",
        help="a postgresql:// server to create a throwaway database on "
        "(default: a fresh SQLite file under bench/.data)",
    )
    parser.add_argument("--out", type=Path, help="also write the report as Markdown here")
    parser.add_argument("--keep", action="store_true", help="keep the database and server log")
    args = parser.parse_args()
    if args.database and not args.database.startswith(("postgresql://", "postgres://")):
        parser.error("--database takes a postgresql:// server URL; SQLite is the default")
    plan = QUICK if args.quick else FULL

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=time.strftime("agents-%Y%m%d-%H%M%S-"), dir=DATA_DIR))
    database, pg_server = fresh_database(args.database, work, "agents")
    machine = machine_info(database, work)
    print("\n".join(f"{k}: {v}" for k, v in machine.items()), flush=True)
    results: dict[str, Any] = {}
    try:
        results = measure(database, work, plan)
    except Exception as exc:
        print(f"FAILED: {type(exc).__name__}: {exc}", flush=True)
    finally:
        if pg_server is not None and not args.keep:
            from _pg import drop_database

            drop_database(pg_server, database)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    text, ok = report(results, plan, pg_server is not None)
    print("\n" + text, end="")
    if args.out:
        machine_lines = "\n".join(f"- {k}: {v}" for k, v in machine.items())
        args.out.write_text(f"# bosun agent benchmark\n\n## Machine\n\n{machine_lines}\n\n{text}")
        print(f"\nwrote {args.out}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
