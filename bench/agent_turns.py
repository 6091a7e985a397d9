"""Agent-turn overhead against durable agent frameworks: one run at a time, ms per turn.

The same agent everywhere: an instant in-process fake model that calls an ``add(a, b)`` tool
once a turn for 4 turns and then answers, so a run has 5 turns (a turn is one model call and
the tool call it asks for). One run at a time, after a warm-up, each on a fresh thread /
workflow; the time per turn is the run's latency divided by 5. Each system runs in its own
process on a fresh PostgreSQL database (and bosun also on a fresh SQLite file):

- ``bosun`` / ``bosun_session``: a ``bosun.Agent`` on a minimal provider (``InstantModel``:
  an answer built from the request, like the other systems' fakes), every model and tool call
  journaled, each step's completion durable before the next starts; the session variant
  starts each run in a new session (its messages stored as the session's history).
  ``bosun_scripted`` is bosun on SQLite with bosun's test double, ``ScriptedProvider``, which
  also estimates each call's token usage, records every request and streams the answer word
  by word: what a test written with it pays on top.
- ``langgraph``: ``langgraph.prebuilt.create_react_agent`` with ``AsyncPostgresSaver`` and
  ``durability="sync"`` (each checkpoint written before the next step), on a fake
  ``BaseChatModel`` that answers in the event loop.
- ``pydantic_ai_dbos``: PydanticAI's ``DBOSAgent`` (each model request a DBOS step, the run a
  DBOS workflow) on a ``FunctionModel``; the tool is a plain function tool, as by default.
- ``openai_agents``: the OpenAI Agents SDK's ``Runner`` with a ``SQLAlchemySession`` on the
  same PostgreSQL (asyncpg): the conversation is stored, the run is not durable (a baseline).

    .venv/bin/python bench/agent_turns.py [--runs 30] [--quick] [--only bosun,langgraph]

Needs the ``bench`` extra (DBOS, LangGraph's PostgreSQL checkpointer, asyncpg) and the
``pydantic-ai`` and ``openai-agents`` extras; a system whose packages are missing is reported
as not installed. Prints a table with each system's ms per turn and its ratio to bosun's on
PostgreSQL, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import emit, fresh_db_path
from _pg import create_database, drop_database, server_url

TOOL_TURNS = 4
TURNS = TOOL_TURNS + 1
PROMPT = "Add the numbers, please."
SYSTEMS = {
    "bosun_sqlite": "bosun, SQLite",
    "bosun_scripted": "bosun, SQLite, ScriptedProvider",
    "bosun": "bosun, PostgreSQL",
    "bosun_session": "bosun in a session, PostgreSQL",
    "langgraph": "LangGraph create_react_agent + AsyncPostgresSaver (sync)",
    "pydantic_ai_dbos": "PydanticAI DBOSAgent",
    "openai_agents": "OpenAI Agents SDK + SQLAlchemySession (not durable)",
}
PACKAGES = {
    "langgraph": ["langgraph", "langgraph-checkpoint-postgres", "langchain-core"],
    "pydantic_ai_dbos": ["pydantic-ai-slim", "dbos"],
    "openai_agents": ["openai-agents", "sqlalchemy", "asyncpg"],
}


async def add(a: float, b: float) -> float:
    """Add two numbers.

    Args:
        a: the first number.
        b: the second number.
    """
    return a + b


RunOnce = Callable[[int], Awaitable[None]]


async def timed(run_once: RunOnce, runs: int, warmup: int) -> dict[str, Any]:
    for i in range(warmup):
        await run_once(-1 - i)
    latencies = []
    cpu0 = time.process_time()
    for i in range(runs):
        t0 = time.perf_counter()
        await run_once(i)
        latencies.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    per_turn = sorted(s / TURNS * 1e3 for s in latencies)
    return {
        "runs": runs,
        "ms_per_turn_p50": statistics.median(per_turn),
        "ms_per_turn_mean": statistics.fmean(per_turn),
        "ms_per_turn_min": per_turn[0],
        "ms_per_turn_max": per_turn[-1],
        "cpu_ms_per_turn": cpu / runs / TURNS * 1e3,
    }


# -- the systems (each runs in its own process) ------------------------------------------------


async def bosun_system(
    url: str, runs: int, warmup: int, session: bool, scripted: bool
) -> dict[str, Any]:
    import bosun
    from bosun.agents.messages import ChatRequest, ChatResponse, Message, StreamDelta, ToolCall
    from bosun.agents.scripted import Rule, ScriptedProvider

    def answer(request: ChatRequest) -> Message:
        done = 0
        for message in reversed(request.messages):  # this run's turns (a session has more)
            if message.role == "user":
                break
            done += message.role == "assistant"
        if done < TOOL_TURNS:
            arguments = json.dumps({"a": done, "b": 1})
            return Message.assistant(
                None, [ToolCall(id=f"call_{done}", name="add", arguments=arguments)]
            )
        return Message.assistant("done")

    class InstantModel:
        """The answer at once, built from the request (bosun's `Provider` protocol)."""

        async def chat(
            self, request: ChatRequest, *, idle_timeout: float | None = None
        ) -> ChatResponse:
            message = answer(request)
            reason = "tool_calls" if message.tool_calls else "stop"
            return ChatResponse(message=message, finish_reason=reason, model=request.model)

        async def stream(
            self, request: ChatRequest, *, idle_timeout: float | None = None
        ) -> AsyncIterator[StreamDelta | ChatResponse]:
            yield await self.chat(request)

        async def aclose(self) -> None:
            pass

    app = bosun.App("agent-turns", database=url)
    if scripted:
        app.models.register("default", ScriptedProvider(rules=[Rule(lambda _r: True, answer)]))
    else:
        app.models.register("default", InstantModel())
    agent = bosun.Agent(system="You add numbers.", tools=[add], max_turns=16)

    @app.workflow()
    async def turns(ctx: bosun.Context, prompt: str) -> str:
        answer: str = await agent.run(ctx, prompt)
        return answer

    async with app, app.worker(concurrency=4):

        async def run_once(i: int) -> None:
            where = {"session": f"s{i}"} if session else {}
            handle = await app.start(turns, PROMPT, **where)
            if await handle.result(timeout=60) != "done":
                raise AssertionError("the agent did not answer")

        result = await timed(run_once, runs, warmup)
    return {"version": importlib.metadata.version("bosun"), **result}


async def langgraph_system(url: str, runs: int, warmup: int) -> dict[str, Any]:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.tools import tool
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.prebuilt import create_react_agent
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    class FakeToolModel(BaseChatModel):
        """Calls `add` once a turn for TOOL_TURNS turns, then answers; in the event loop."""

        @property
        def _llm_type(self) -> str:
            return "fake-tools"

        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

        def _generate(self, messages: list[BaseMessage], *args: Any, **kw: Any) -> ChatResult:
            done = sum(isinstance(m, AIMessage) for m in messages)
            if done < TOOL_TURNS:
                call = {"name": "add", "args": {"a": done, "b": 1}, "id": f"call_{done}"}
                message = AIMessage(content="", tool_calls=[call])
            else:
                message = AIMessage(content="done")
            return ChatResult(generations=[ChatGeneration(message=message)])

        async def _agenerate(
            self, messages: list[BaseMessage], *args: Any, **kw: Any
        ) -> ChatResult:
            return self._generate(messages)

    add_tool = tool(add)
    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    async with AsyncConnectionPool(url, min_size=1, max_size=4, kwargs=kwargs, open=False) as pool:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # create_react_agent moved to langchain.agents
            graph = create_react_agent(FakeToolModel(), [add_tool], checkpointer=saver)

        async def run_once(i: int) -> None:
            config = {"configurable": {"thread_id": uuid.uuid4().hex}}
            state = {"messages": [("user", PROMPT)]}
            out = await graph.ainvoke(state, config, durability="sync")
            if out["messages"][-1].content != "done":
                raise AssertionError(f"the agent did not answer: {out['messages'][-1]}")

        result = await timed(run_once, runs, warmup)
    return {"version": importlib.metadata.version("langgraph"), **result}


async def pydantic_ai_dbos_system(url: str, runs: int, warmup: int) -> dict[str, Any]:
    from dbos import DBOS, DBOSConfig
    from pydantic_ai import Agent
    from pydantic_ai.durable_exec.dbos import DBOSAgent
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        done = sum(isinstance(m, ModelResponse) for m in messages)
        if done < TOOL_TURNS:
            return ModelResponse(parts=[ToolCallPart("add", {"a": done, "b": 1})])
        return ModelResponse(parts=[TextPart("done")])

    agent = Agent(FunctionModel(model), name="adder", tools=[add])
    config: DBOSConfig = {"name": "agent_turns", "system_database_url": url, "log_level": "WARNING"}
    DBOS(config=config)
    durable = DBOSAgent(agent)
    DBOS.launch()
    try:

        async def run_once(i: int) -> None:
            result = await durable.run(PROMPT)
            if result.output != "done":
                raise AssertionError(f"the agent did not answer: {result.output!r}")

        result = await timed(run_once, runs, warmup)
    finally:
        DBOS.destroy()
    versions = f"{importlib.metadata.version('pydantic-ai-slim')}, dbos "
    return {"version": versions + importlib.metadata.version("dbos"), **result}


async def openai_agents_system(url: str, runs: int, warmup: int) -> dict[str, Any]:
    from agents import Agent, ModelResponse, Runner, Usage, function_tool
    from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession
    from agents.models.interface import Model
    from openai.types.responses import (
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
    )
    from sqlalchemy.ext.asyncio import create_async_engine

    class FakeToolModel(Model):
        """Calls `add` once a turn for TOOL_TURNS turns, then answers; in the event loop."""

        async def get_response(self, system_instructions: Any, input: Any, *a: Any, **k: Any):  # type: ignore[no-untyped-def]
            items = input if isinstance(input, list) else []
            done = sum(1 for item in items if _item_type(item) == "function_call_output")
            if done < TOOL_TURNS:
                output: Any = ResponseFunctionToolCall(
                    type="function_call",
                    call_id=f"call_{uuid.uuid4().hex[:8]}",
                    name="add",
                    arguments=json.dumps({"a": done, "b": 1}),
                )
            else:
                text = ResponseOutputText(type="output_text", text="done", annotations=[])
                output = ResponseOutputMessage(
                    id="msg", type="message", role="assistant", status="completed", content=[text]
                )
            return ModelResponse(output=[output], usage=Usage(), response_id=None)

        def stream_response(self, *a: Any, **k: Any) -> Any:
            raise NotImplementedError

    def _item_type(item: Any) -> str | None:
        return item.get("type") if isinstance(item, dict) else getattr(item, "type", None)

    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    agent = Agent(name="adder", instructions="You add numbers.", model=FakeToolModel())
    agent.tools.append(function_tool(add))
    try:

        async def run_once(i: int) -> None:
            session = SQLAlchemySession(uuid.uuid4().hex, engine=engine, create_tables=i < -1)
            result = await Runner.run(agent, PROMPT, session=session)
            if result.final_output != "done":
                raise AssertionError(f"the agent did not answer: {result.final_output!r}")

        await run_once(-2)  # creates the tables
        result = await timed(run_once, runs, warmup)
    finally:
        await engine.dispose()
    return {"version": importlib.metadata.version("openai-agents"), **result}


# -- the parent: one process per system -------------------------------------------------------


def child(system: str, url: str, runs: int, warmup: int) -> None:
    if system.startswith("bosun"):
        scripted = system == "bosun_scripted"
        coro = bosun_system(url, runs, warmup, system == "bosun_session", scripted)
    elif system == "langgraph":
        coro = langgraph_system(url, runs, warmup)
    elif system == "pydantic_ai_dbos":
        coro = pydantic_ai_dbos_system(url, runs, warmup)
    else:
        # bench/agents.py would shadow the SDK's `agents` package: take it from site-packages.
        here = Path(__file__).resolve().parent
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
        coro = openai_agents_system(url, runs, warmup)
    emit({"system": system, **asyncio.run(coro)})


def missing(system: str) -> list[str]:
    absent = []
    for package in PACKAGES.get(system, []):
        try:
            importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            absent.append(package)
    return absent


def run_system(system: str, runs: int, warmup: int) -> dict[str, Any]:
    server = server_url()
    if system in ("bosun_sqlite", "bosun_scripted"):
        url, database = f"sqlite:///{fresh_db_path(None, 'agent_turns')}", None
    else:
        url = database = create_database(server, "turns")
    try:
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                system,
                "--url",
                url,
                "--runs",
                str(runs),
                "--warmup",
                str(warmup),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        if database is not None:
            drop_database(server, database)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout)[-2000:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def report(results: dict[str, dict[str, Any]]) -> None:
    anchor = results.get("bosun", {}).get("ms_per_turn_p50")
    print("| system | ms/turn p50 | min-max | CPU ms/turn | vs bosun (PostgreSQL) |")
    print("|---|---|---|---|---|")
    for system, label in SYSTEMS.items():
        data = results.get(system)
        if data is None:
            continue
        if "error" in data or "not_installed" in data:
            why = data.get("not_installed") or "failed"
            print(f"| {label} | {why} | | | |")
            continue
        p50 = data["ms_per_turn_p50"]
        ratio = f"{p50 / anchor:.2f}x" if anchor else ""
        spread = f"{data['ms_per_turn_min']:.2f}-{data['ms_per_turn_max']:.2f}"
        print(f"| {label} ({data['version']}) | {p50:.2f} | {spread} |", end="")
        print(f" {data['cpu_ms_per_turn']:.2f} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="5 runs each: a smoke run")
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(SYSTEMS)}")
    parser.add_argument("--child", choices=list(SYSTEMS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.runs, args.warmup)
        return
    runs, warmup = (5, 2) if args.quick else (args.runs, args.warmup)
    chosen = args.only.split(",") if args.only else list(SYSTEMS)
    unknown = set(chosen) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown system(s): {', '.join(sorted(unknown))}")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"agent turns, {runs} runs of {TURNS} turns each, one at a time ({when})")
    results: dict[str, dict[str, Any]] = {}
    for system in chosen:
        absent = missing(system)
        if absent:
            results[system] = {"not_installed": f"not installed ({', '.join(absent)})"}
            continue
        results[system] = run_system(system, runs, warmup)
        if "error" in results[system]:
            print(f"{system} failed:\n{results[system]['error']}", file=sys.stderr)
    report(results)
    emit(results)
    if any("error" in r for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
