"""bosun wrapped-agent benchmark: what running an OpenAI Agents SDK agent
(`bosun.integrations.openai_agents.run`) or a PydanticAI agent (`BosunDurability`) durably
costs per turn, beside a native `bosun.Agent`.

The agent of ``bench/agents.py``: two async tools (``lookup_order``, ``add``) that the model
calls in parallel for 4 turns before it answers, so a run has 5 turns (a turn is one model
call and its tool calls) and its journal 5 ``llm`` and 8 ``tool`` entries. On a fresh
database (a SQLite file in a new folder under ``bench/.data``, or with ``--database
postgresql://HOST/DB`` a throwaway database created on that server and dropped afterwards),
200 runs (48 with ``--quick``) of each kind, 16 in flight on one in-process worker with 16
slots, in ``--rounds`` rounds (5; 4 with ``--quick``) that take the kinds in turn, each round
in another order, so that a noisy neighbour weighs on every kind alike; then runs timed one
at a time, interleaved the same way. Each figure is the median of the rounds, with their
spread (lowest to highest):

- **SDK, plain**: ``Runner.run`` of the SDK agent (the tools as ``@function_tool``s) on a
  zero-delay SDK ``Model`` that answers from the same script, with no bosun at all;
- **SDK, wrapped**: the same agent and model through ``openai_agents.run`` in a workflow
  (the model call a journaled ``llm`` step, each tool call a ``tool`` step);
- **PydanticAI, plain**: ``agent.run`` of a ``pydantic_ai.Agent`` with the same tools on a
  zero-delay ``FunctionModel`` answering the same script, with no bosun at all;
- **PydanticAI, wrapped**: the same agent built with ``capabilities=[BosunDurability()]``,
  run in a workflow (model requests ``llm`` steps, tool calls ``tool`` steps);
- **bosun Agent**: a native ``bosun.Agent`` with the same tools on a zero-delay
  ``ScriptedProvider`` answering the same script;
- **SDK, wrapped, on a bosun alias**: the SDK agent with ``model="default"``, that same
  ``ScriptedProvider``: the call goes through ``ctx.llm``, as the native agent's does.

So *wrapped - plain* is what durability costs a turn of each SDK, and *wrapped on the alias -
bosun Agent* what the Agents SDK adapter costs over a native agent on the same model. CPU is
this process's (client and worker); on PostgreSQL the database's backends are not counted.

    .venv/bin/python bench/agents_wrapped.py [--quick] [--rounds N] [--database URL] [--out F]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
# bench/agents.py would shadow the SDK's `agents` package: take bench/ off the path for it.
import _pg  # noqa: E402, F401  (bench/ is on the path: this script's folder)
from _common import DATA_DIR  # noqa: E402
from _report import markdown_table  # noqa: E402
from http_api import fmt, fresh_database, machine_info, ratio  # noqa: E402

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.modules.pop("agents", None)

from agents import (  # noqa: E402
    Agent,
    AgentOutputSchemaBase,
    Handoff,
    Model,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    RunConfig,
    Runner,
    Tool,
    TResponseInputItem,
    Usage,
    function_tool,
)
from agents.items import TResponseStreamEvent  # noqa: E402
from openai.types.responses import (  # noqa: E402
    Response,
    ResponseCompletedEvent,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam  # noqa: E402
from pydantic_ai import Agent as PydanticAgent  # noqa: E402
from pydantic_ai.messages import (  # noqa: E402
    ModelMessage,
    TextPart,
    ToolCallPart,
)
from pydantic_ai.messages import ModelResponse as PydanticResponse  # noqa: E402
from pydantic_ai.models.function import AgentInfo, FunctionModel  # noqa: E402
from pydantic_ai.usage import RequestUsage  # noqa: E402

import bosun  # noqa: E402
from bosun.agents.scripted import ScriptedProvider  # noqa: E402
from bosun.integrations import openai_agents  # noqa: E402
from bosun.integrations.pydantic_ai import BosunDurability  # noqa: E402

sys.path.insert(0, str(BENCH_DIR / "apps"))
from agent_app import SYSTEM, TOOLS, add, lookup_order, next_answer, prompt_for  # noqa: E402

SLOTS = 16
TOOL_TURNS = 4
TURNS = TOOL_TURNS + 1


@dataclass(frozen=True)
class Plan:
    runs: int
    sequential: int
    rounds: int


FULL = Plan(runs=200, sequential=30, rounds=5)
QUICK = Plan(runs=48, sequential=8, rounds=4)
KINDS = ("plain", "wrapped", "pai_plain", "pai_wrapped", "native", "wrapped_alias")


class ScriptModel(Model):
    """A zero-delay SDK model answering `next_answer`'s script: both tools while fewer than
    `TOOL_TURNS` turns were made, then text."""

    def _answer(self, items: str | list[TResponseInputItem]) -> ModelResponse:
        calls = [] if isinstance(items, str) else [i for i in items if _type(i) == "function_call"]
        done = len(calls) // 2
        output: list[Any]
        if done < TOOL_TURNS:
            output = [
                ResponseFunctionToolCall(
                    type="function_call",
                    call_id=f"call_{done}_{i}",
                    name=name,
                    arguments=json.dumps(arguments),
                )
                for i, (name, arguments) in enumerate(
                    [("lookup_order", {"order_id": 1000 + done}), ("add", {"a": done, "b": 0.5})]
                )
            ]
        else:
            text = ResponseOutputText(
                type="output_text", text=f"Your order shipped; {done} lookups done.", annotations=[]
            )
            output = [
                ResponseOutputMessage(
                    id="msg", type="message", role="assistant", status="completed", content=[text]
                )
            ]
        usage = Usage(requests=1, input_tokens=40, output_tokens=10, total_tokens=50)
        return ModelResponse(output=output, usage=usage, response_id=None)

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        return self._answer(input)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        answer = self._answer(input)
        response = Response(
            id="resp",
            created_at=0,
            model="script",
            object="response",
            output=answer.output,
            parallel_tool_calls=True,
            tool_choice="auto",
            tools=[],
        )
        yield ResponseCompletedEvent(
            type="response.completed", sequence_number=0, response=response
        )


def _type(item: Any) -> Any:
    return item.get("type") if isinstance(item, dict) else getattr(item, "type", None)


def pydantic_script(messages: list[ModelMessage], info: AgentInfo) -> PydanticResponse:
    """`ScriptModel`'s script for PydanticAI's `FunctionModel`."""
    done = sum(isinstance(m, PydanticResponse) for m in messages)
    usage = RequestUsage(input_tokens=40, output_tokens=10)
    if done < TOOL_TURNS:
        calls = [("lookup_order", {"order_id": 1000 + done}), ("add", {"a": done, "b": 0.5})]
        parts: list[Any] = [
            ToolCallPart(name, arguments, tool_call_id=f"call_{done}_{i}")
            for i, (name, arguments) in enumerate(calls)
        ]
        return PydanticResponse(parts=parts, usage=usage)
    return PydanticResponse(
        parts=[TextPart(f"Your order shipped; {done} lookups done.")], usage=usage
    )


SDK_TOOLS = [function_tool(lookup_order), function_tool(add)]
PLAIN = Agent(name="Orders", instructions=SYSTEM, model=ScriptModel(), tools=SDK_TOOLS)
ON_ALIAS = Agent(name="Orders", instructions=SYSTEM, model="default", tools=SDK_TOOLS)
CONFIG = RunConfig(tracing_disabled=True)
NATIVE = bosun.Agent(instructions=SYSTEM, tools=TOOLS)
PAI_PLAIN = PydanticAgent(
    FunctionModel(pydantic_script), name="orders", instructions=SYSTEM, tools=TOOLS
)
PAI_DURABLE = PydanticAgent(
    FunctionModel(pydantic_script),
    name="orders",
    instructions=SYSTEM,
    tools=TOOLS,
    capabilities=[BosunDurability()],
)
EXPECTED = f"Your order shipped; {TOOL_TURNS} lookups done."


def make_app(database: str) -> tuple[bosun.App, ScriptedProvider]:
    app = bosun.App("wrapped-bench", database=database)
    scripted = ScriptedProvider(fallback=next_answer)
    app.models.register("default", scripted)

    @app.workflow(name="wrapped")
    async def wrapped(ctx: bosun.Context, question: str) -> str:
        result = await openai_agents.run(ctx, PLAIN, question, run_config=CONFIG)
        return str(result.final_output)

    @app.workflow(name="wrapped_alias")
    async def wrapped_alias(ctx: bosun.Context, question: str) -> str:
        result = await openai_agents.run(ctx, ON_ALIAS, question, run_config=CONFIG)
        return str(result.final_output)

    @app.workflow(name="pai_wrapped")
    async def pai_wrapped(ctx: bosun.Context, question: str) -> str:
        return str((await PAI_DURABLE.run(question)).output)

    @app.workflow(name="native")
    async def native(ctx: bosun.Context, question: str) -> str:
        return str(await NATIVE.run(ctx, question))

    return app, scripted


@dataclass
class Phase:
    wall_s: float
    cpu_s: float


async def lanes(job: Callable[[int], Awaitable[Any]], runs: int, width: int) -> Phase:
    todo = iter(range(runs))

    async def lane() -> None:
        for i in todo:
            await job(i)

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(width)))
    return Phase(time.perf_counter() - t0, time.process_time() - cpu0)


Job = Callable[[int], Awaitable[None]]


def make_jobs(app: bosun.App, scripted: ScriptedProvider, question: str) -> dict[str, Job]:
    """One run of each kind, by name (`KINDS`)."""

    async def plain(i: int) -> None:
        result = await Runner.run(PLAIN, question, run_config=CONFIG)
        if result.final_output != EXPECTED:
            raise AssertionError(f"the plain SDK run answered {result.final_output!r}")

    async def pai_plain(i: int) -> None:
        result = await PAI_PLAIN.run(question)
        if result.output != EXPECTED:
            raise AssertionError(f"the plain PydanticAI run answered {result.output!r}")

    def in_bosun(workflow: str) -> Job:
        async def run(i: int) -> None:
            scripted.calls.clear()  # it keeps every request: a growing heap slows the GC
            answer = await (await app.start(workflow, question)).result(timeout=60)
            if answer != EXPECTED:
                raise AssertionError(f"{workflow} answered {answer!r}")

        return run

    jobs = {"plain": plain, "pai_plain": pai_plain}
    jobs.update({name: in_bosun(name) for name in KINDS if name not in jobs})
    return {name: jobs[name] for name in KINDS}


async def interleaved(jobs: dict[str, Job], plan: Plan, per_round: int) -> dict[str, Any]:
    """`plan.rounds` rounds of each kind in turn, each round starting with another kind:
    per kind, the phases of `per_round` runs 16 at a time, and one-at-a-time latencies."""
    phases: dict[str, list[Phase]] = {name: [] for name in jobs}
    latencies: dict[str, list[float]] = {name: [] for name in jobs}
    sequential = max(plan.sequential // plan.rounds, 1)
    names = list(jobs)
    for r in range(plan.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            phases[name].append(await lanes(jobs[name], per_round, SLOTS))
        for name in order:
            for i in range(sequential):
                t0 = time.perf_counter()
                await jobs[name](i)
                latencies[name].append(time.perf_counter() - t0)
    return {"phases": phases, "latencies": latencies}


async def measure(database: str, plan: Plan) -> dict[str, Any]:
    app, scripted = make_app(database)
    question = prompt_for(TOOL_TURNS)
    jobs = make_jobs(app, scripted, question)
    per_round = max(plan.runs // plan.rounds, SLOTS)
    async with app, app.worker(concurrency=SLOTS):
        for job in jobs.values():  # warm up
            await lanes(job, SLOTS, SLOTS)
        out = await interleaved(jobs, plan, per_round)
        for workflow in ("wrapped", "pai_wrapped", "native", "wrapped_alias"):
            handle = await app.start(workflow, question)
            await handle.result(timeout=60)
            kinds = [e.kind for e in await app.store.get_journal(handle.run_id)]
            out[f"journal_{workflow}"] = {k: kinds.count(k) for k in sorted(set(kinds))}
    out["runs_per_round"] = per_round
    return out


@dataclass(frozen=True)
class Spread:
    """Milliseconds per turn: the median of the rounds, and their lowest and highest."""

    median: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.median:.3f} ({self.low:.3f} to {self.high:.3f})"


def spread(values: list[float]) -> Spread:
    return Spread(statistics.median(values), min(values), max(values))


def report(results: dict[str, Any], plan: Plan) -> str:
    units = results["runs_per_round"] * TURNS
    phases: dict[str, list[Phase]] = results["phases"]
    wall = {n: spread([p.wall_s / units * 1e3 for p in phases[n]]) for n in KINDS}
    cpu = {n: spread([p.cpu_s / units * 1e3 for p in phases[n]]) for n in KINDS}
    seq = {n: statistics.median(results["latencies"][n]) / TURNS * 1e3 for n in KINDS}

    def diff(a: str, b: str) -> str:
        """The median of the rounds' differences of CPU per turn (`a` - `b`), and spread."""
        pairs = zip(phases[a], phases[b], strict=True)
        d = spread([(x.cpu_s - y.cpu_s) / units * 1e3 for x, y in pairs])
        return f"**{d.median:+.3f} ms** ({d.low:+.3f} to {d.high:+.3f})"

    labels = {
        "plain": "SDK, plain (no bosun)",
        "wrapped": "SDK, wrapped",
        "pai_plain": "PydanticAI, plain (no bosun)",
        "pai_wrapped": "PydanticAI, wrapped",
        "native": "bosun Agent",
        "wrapped_alias": "SDK, wrapped, bosun alias",
    }
    against = {"wrapped": "plain", "pai_wrapped": "pai_plain", "wrapped_alias": "native"}
    rows: list[list[str]] = []
    for name in KINDS:
        base = against.get(name)
        rows.append(
            [
                f"{labels[name]}: wall ms/turn, 16 in flight",
                str(wall[name]),
                ratio(wall[name].median, wall[base].median) if base else "",
            ]
        )
        rows.append(
            [
                f"{labels[name]}: CPU ms/turn",
                str(cpu[name]),
                ratio(cpu[name].median, cpu[base].median) if base else "",
            ]
        )
    rows += [
        ["**durability per SDK turn, CPU (wrapped - plain)**", diff("wrapped", "plain"), ""],
        [
            "**durability per PydanticAI turn, CPU (wrapped - plain)**",
            diff("pai_wrapped", "pai_plain"),
            "",
        ],
        [
            "**SDK adapter over bosun Agent, CPU (alias - native)**",
            diff("wrapped_alias", "native"),
            "",
        ],
        ["**PydanticAI wrapped - bosun Agent, CPU**", diff("pai_wrapped", "native"), ""],
    ]
    rows += [[f"one at a time: {labels[n]}, ms/turn", fmt(seq[n]), ""] for n in KINDS]
    for workflow in ("wrapped", "pai_wrapped", "native"):
        journal = json.dumps(results[f"journal_{workflow}"])
        rows.append([f"journal of a {labels[workflow]} run", journal, ""])
    return "\n".join(
        markdown_table(["metric", "median of the rounds (lowest to highest)", "ratio"], rows)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; quick: 4)")
    parser.add_argument("--database", help="a PostgreSQL server URL (default: SQLite)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.rounds is not None:
        plan = Plan(plan.runs, plan.sequential, max(args.rounds, 1))
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="wrapped-", dir=DATA_DIR))
    database, server = fresh_database(args.database, work, "bench_wrapped")
    try:
        results = asyncio.run(measure(database, plan))
        info = machine_info(database, work)
        lines = [f"- {k}: {v}" for k, v in info.items()]
        lines.append(f"- rounds: {plan.rounds} of {results['runs_per_round']} runs of each kind")
        text = "\n".join(lines) + "\n\n" + report(results, plan)
    finally:
        if server is not None:
            from _pg import drop_database

            drop_database(server, database)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
