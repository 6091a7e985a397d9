"""MCP tools in `bosun.Agent`, against real MCP servers run as subprocesses: the reference
`mcp-server-time` from PyPI, and a server built with the official SDK's `MCPServer`
(`mcp_apps/counter_server.py`, which logs every start and call so the tests count them on the
server's side), over stdio, Streamable HTTP and SSE. The model is a `ScriptedProvider`.

What is shown: discovery and calls are journaled steps; a replay makes no second call (nor
starts the server); the step's idempotency key reaches the server in `_meta`; a server killed
during a call is started again and the call retried with the same key; a server that exited
between calls is replaced before the next one is sent; a run resumed by another worker
connects there; errors (the tool's, the server's, a missing command) go back to the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import bosun
from bosun.agents.parts import ImagePart, TextPart
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import ScriptedProvider
from bosun.agents.wire_parts import described
from bosun.engine.definitions import StepDef
from tests.helpers.serving import free_port
from tests.helpers.wait import wait_for, wait_until

SERVER = Path(__file__).resolve().parent / "mcp_apps" / "counter_server.py"
TIME_SERVER = str(Path(sys.executable).parent / "mcp-server-time")
FAST_RETRY = bosun.Retry(attempts=3, initial=0.2, jitter=0)


@pytest.fixture(autouse=True)
async def _close_sessions() -> AsyncIterator[None]:
    yield
    await bosun.mcp.close_all()  # the servers' processes end with the test


@pytest.fixture
def app(db_url: str) -> bosun.App:
    return bosun.App("mcp", database=db_url)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "mcp.log"
    path.touch()
    return path


def _model(app: bosun.App, *script: Any) -> ScriptedProvider:
    provider = ScriptedProvider(script=list(script))
    config = ModelConfig(alias="default", provider="scripted", model="scripted")
    app.models.register("default", provider, config)
    return provider


def _counter(log: Path, **options: Any) -> bosun.mcp.McpServer:
    options.setdefault("retry", FAST_RETRY)
    return bosun.mcp.stdio(
        sys.executable, [str(SERVER), "stdio"], env={"MCP_LOG": str(log)}, name="counter", **options
    )


def _events(log: Path, event: str = "call") -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["event"] == event]


def _tool_answers(provider: ScriptedProvider, call: int) -> list[str]:
    """The tool messages the model got in call `call`, as text (an image as the line that
    names it, as OpenAI's tool messages carry it)."""
    return [described(m) for m in provider.calls[call].messages if m.role == "tool"]


async def _journal(app: bosun.App, run_id: str) -> list[Any]:
    return list(await app.store.get_journal(run_id))


async def _suspended(app: bosun.App, run_id: str) -> None:
    async def check() -> bool:
        record = await app.store.get_run(run_id)
        return record is not None and record.status == "suspended"

    await wait_until(check, 30, f"run {run_id} to suspend")


async def approval(ctx: bosun.Context) -> str:
    """Wait for a person to say go."""
    await ctx.wait_for_signal("go")
    return "approved"


# -- the reference time server, from PyPI ------------------------------------------------------


async def test_the_reference_time_server_is_discovered_and_called(app: bosun.App) -> None:
    provider = _model(
        app,
        ScriptedProvider.tool_calls(
            ("get_current_time", {"timezone": "Europe/Paris"}),
            ("get_current_time", {"timezone": "Mars/Olympus_Mons"}),
        ),
        "It is evening in Paris.",
    )
    time_server = bosun.mcp.stdio(TIME_SERVER, ["--local-timezone", "UTC"], deny=["convert_*"])
    agent = bosun.Agent(tools=[time_server])

    @app.workflow(name="what_time")
    async def what_time(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "What time is it in Paris?")

    async with app, app.worker():
        handle = await app.start(what_time)
        assert await handle.result(timeout=60) == "It is evening in Paris."
        journal = await _journal(app, handle.run_id)

    (spec,) = provider.calls[0].tools  # convert_time is denied
    assert spec.name == "get_current_time" and "timezone" in spec.parameters["properties"]
    paris, mars = _tool_answers(provider, 1)
    assert json.loads(paris)["timezone"] == "Europe/Paris"
    assert mars.startswith("error: ") and "Mars/Olympus_Mons" in mars  # the tool's own error
    names = [(e.kind, e.name, e.status) for e in journal if e.name.startswith("mcp:")]
    assert names.count(("step", "mcp:mcp-server-time:tools/list", "completed")) == 1
    assert names.count(("tool", "mcp:mcp-server-time:get_current_time", "completed")) == 2
    recorded = json.loads(next(e.output for e in journal if e.seq == "3.0.1"))
    assert recorded["structured"]["timezone"] == "Europe/Paris"  # kept beside the text


async def test_a_server_error_answer_is_final_and_goes_to_the_model(app: bosun.App) -> None:
    time_server = bosun.mcp.stdio(TIME_SERVER, ["--local-timezone", "UTC"], retry=FAST_RETRY)

    @app.workflow(name="stale")
    async def stale(ctx: bosun.Context) -> str:
        # As after a deploy where the server dropped a tool the journal still lists.
        try:
            await time_server.call(ctx, "get_time_on_mars", {})
        except bosun.StepFailed as exc:
            return f"{exc.error_type} after {exc.attempts}: {exc.message}"
        return "called"

    async with app, app.worker():
        handle = await app.start(stale)
        answer = await handle.result(timeout=60)
    assert answer.startswith("bosun.mcp.errors.McpProtocolError after 1: ")
    assert "Unknown tool: get_time_on_mars" in answer


async def test_a_missing_command_fails_at_once_with_a_clear_message(app: bosun.App) -> None:
    provider = _model(app, ScriptedProvider.tool_call("anything"), "no tools, sorry")
    missing = bosun.mcp.stdio("no-such-mcp-server-anywhere", name="missing")

    @app.workflow(name="hopeless")
    async def hopeless(ctx: bosun.Context) -> str:
        return await bosun.Agent(tools=[missing]).run(ctx, "hi")

    async with app, app.worker():
        handle = await app.start(hopeless)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=60)
        (entry,) = [e for e in await _journal(app, handle.run_id) if e.kind == "step"]
    message = failed.value.error["message"]
    assert "'no-such-mcp-server-anywhere' cannot be started" in message
    assert "PATH" in message and entry.attempt == 1  # not retried: time does not fix it
    assert not provider.calls  # the model was never asked without its tools


async def test_a_server_that_never_answers_times_out_and_is_stopped(
    app: bosun.App, tmp_path: Path
) -> None:
    _model(app, "never asked")
    started = tmp_path / "started"
    mute = bosun.mcp.stdio(
        sys.executable,
        ["-c", f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(60)"],
        name="mute",
        connect_timeout=1,
        retry=bosun.Retry(attempts=1),
    )

    @app.workflow(name="waiting")
    async def waiting(ctx: bosun.Context) -> str:
        return str(await bosun.Agent(tools=[mute]).run(ctx, "hi"))

    async with app, app.worker():
        handle = await app.start(waiting)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=60)
    assert "did not answer within 1 s of connecting" in failed.value.error["message"]
    assert started.exists()

    def mute_servers() -> list[int]:
        import psutil

        found = []
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):  # it may end while we look
                if str(started) in " ".join(child.cmdline()):
                    found.append(child.pid)
        return found

    await wait_until(lambda: not mute_servers(), 30, "the mute server to be stopped")


# -- journaling, replay, idempotency keys ------------------------------------------------------


async def test_calls_are_journaled_and_replay_calls_nothing_again(
    any_db_url: str, log: Path
) -> None:
    app = bosun.App("mcp", database=any_db_url)
    provider = _model(
        app,
        ScriptedProvider.tool_calls(("add", {"a": 2, "b": 3}), ("picture", {})),
        ScriptedProvider.tool_call("approval"),
        ScriptedProvider.tool_call("document"),
        "Done.",
    )
    agent = bosun.Agent(tools=[approval, _counter(log, deny=["admin.*"])])

    @app.workflow(name="assistant")
    async def assistant(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "go")

    async with app, app.worker():
        handle = await app.start(assistant)
        await _suspended(app, handle.run_id)
        assert [e["tool"] for e in _events(log)] in (["add", "picture"], ["picture", "add"])
        await bosun.mcp.close_all()  # the replay needs no session for what it already did
        await handle.signal("go")
        assert await handle.result(timeout=60) == "Done."
        journal = await _journal(app, handle.run_id)

    calls = _events(log)
    assert sorted(e["tool"] for e in calls) == ["add", "document", "picture"]  # each once
    assert len(_events(log, "start")) == 2  # once before the approval, once for `document`
    by_name = {e.name: e for e in journal if e.name.startswith("mcp:")}
    assert set(by_name) == {
        "mcp:counter:tools/list",
        "mcp:counter:add",
        "mcp:counter:picture",
        "mcp:counter:document",
    }
    for call in calls:  # the idempotency key is `<run id>:<position>` of the call's step
        assert call["key"] == f"{handle.run_id}:{by_name['mcp:counter:' + call['tool']].seq}"
        assert call["attempt"] == 1
    listed = json.loads(by_name["mcp:counter:tools/list"].output)
    assert "admin.reset" not in [tool["name"] for tool in listed]  # denied: never shown
    picture = json.loads(by_name["mcp:counter:picture"].output)
    assert [block["type"] for block in picture["content"]] == ["image", "text"]
    assert picture["content"][0]["mimeType"] == "image/png"  # the image is kept
    assert _tool_answers(provider, 1) == ["5", "[image: image/png, 70 bytes]\na transparent pixel"]
    image, caption = provider.calls[1].messages[-1].parts  # the image itself reaches the model
    assert image == ImagePart(data=picture["content"][0]["data"], media_type="image/png")
    assert caption == TextPart("a transparent pixel")
    assert _tool_answers(provider, 3)[-1] == "[resource memo://1]\nMeeting at 10."


async def test_a_server_killed_during_a_call_is_restarted_and_the_call_retried(
    app: bosun.App, log: Path
) -> None:
    provider = _model(app, ScriptedProvider.tool_call("slow", seconds=30), "Finished.")
    agent = bosun.Agent(tools=[_counter(log)])

    @app.workflow(name="patient")
    async def patient(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "take your time")

    async with app, app.worker():
        handle = await app.start(patient)
        await wait_until(lambda: _events(log), 30, "the call to reach the server")
        (start,) = _events(log, "start")
        os.kill(start["pid"], signal.SIGKILL)
        assert await handle.result(timeout=60) == "Finished."
        journal = await _journal(app, handle.run_id)

    first, second = _events(log)
    assert first["key"] == second["key"]  # the same step, sent again: at least once
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert _tool_answers(provider, 1) == ["already started by attempt 1"]
    (entry,) = [e for e in journal if e.name == "mcp:counter:slow"]
    assert (entry.status, entry.attempt) == ("completed", 2)
    async with app:
        types = [e.type for e in await app.store.list_events(handle.run_id)]
    assert "step.retrying" in types  # a durable timer between the attempts
    assert len(_events(log, "start")) == 2


async def test_a_server_that_exited_between_calls_is_replaced_before_the_next(
    app: bosun.App, log: Path
) -> None:
    _model(
        app,
        ScriptedProvider.tool_call("add", a=1, b=1),
        ScriptedProvider.tool_call("approval"),
        ScriptedProvider.tool_call("add", a=2, b=2),
        "4",
    )
    agent = bosun.Agent(tools=[approval, _counter(log)])

    @app.workflow(name="twice")
    async def twice(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "add twice")

    async with app, app.worker():
        handle = await app.start(twice)
        await _suspended(app, handle.run_id)
        (start,) = _events(log, "start")
        os.kill(start["pid"], signal.SIGKILL)  # the worker's session to it is now dead
        await asyncio.sleep(0.2)
        await handle.signal("go")
        assert await handle.result(timeout=60) == "4"
        journal = await _journal(app, handle.run_id)
    adds = [e for e in journal if e.name == "mcp:counter:add"]
    assert [e.attempt for e in adds] == [1, 1]  # nothing was lost, nothing retried
    assert len(_events(log, "start")) == 2 and len(_events(log)) == 2


async def test_a_run_resumed_by_another_worker_connects_there(app: bosun.App, log: Path) -> None:
    _model(
        app,
        ScriptedProvider.tool_call("add", a=1, b=2),
        ScriptedProvider.tool_call("approval"),
        ScriptedProvider.tool_call("add", a=3, b=4),
        "7",
    )
    agent = bosun.Agent(tools=[approval, _counter(log)])

    @app.workflow(name="handover")
    async def handover(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "add")

    async with app:
        async with app.worker():
            handle = await app.start(handover)
            await _suspended(app, handle.run_id)
        await bosun.mcp.close_all()  # the first worker is gone, and its sessions with it
        async with app.worker():
            await handle.signal("go")
            assert await handle.result(timeout=60) == "7"
    assert [(e["a"], e["b"]) for e in _events(log)] == [(1, 2), (3, 4)]
    assert len(_events(log, "start")) == 2


async def test_an_unused_session_is_closed_and_the_next_call_opens_another(
    app: bosun.App, log: Path
) -> None:
    _model(app, *[ScriptedProvider.tool_call("add", a=1, b=1), "2"] * 2)
    agent = bosun.Agent(tools=[_counter(log, keep_alive=0.5)])

    @app.workflow(name="now_and_then")
    async def now_and_then(ctx: bosun.Context) -> str:
        return str(await agent.run(ctx, "add"))

    async with app, app.worker():
        assert await (await app.start(now_and_then)).result(timeout=60) == "2"
        (first,) = _events(log, "start")
        await wait_until(lambda: not _alive(first["pid"]), 30, "the idle server to exit")
        assert await (await app.start(now_and_then)).result(timeout=60) == "2"
    assert len(_events(log, "start")) == 2 and len(_events(log)) == 2


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_large_results_are_cut_to_the_payload_limit(log: Path, db_url: str) -> None:
    app = bosun.App("mcp", database=db_url, max_payload_bytes=4096)
    provider = _model(app, ScriptedProvider.tool_call("big", chars=20_000), "ok")
    agent = bosun.Agent(tools=[_counter(log)])

    @app.workflow(name="huge")
    async def huge(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "big")

    async with app, app.worker():
        handle = await app.start(huge)
        assert await handle.result(timeout=60) == "ok"
        (entry,) = [e for e in await _journal(app, handle.run_id) if e.name == "mcp:counter:big"]
    assert len(entry.output.encode()) <= 4096
    assert json.loads(entry.output)["omitted"] > 15_000
    (answer,) = _tool_answers(provider, 1)
    assert (
        answer.startswith("xxx")
        and "characters cut: the result exceeds the payload limit" in answer
    )


# -- Streamable HTTP and SSE -------------------------------------------------------------------


def _serve(log: Path, transport: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MCP_LOG": str(log)}
    process = subprocess.Popen(
        [sys.executable, str(SERVER), transport, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: _listening(port) or process.poll() is not None, 30, f"port {port}")
    assert process.poll() is None, "the MCP server exited"
    return process


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def http_server(log: Path) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    port = free_port()
    processes = [_serve(log, "http", port)]
    yield port, processes
    for process in processes:
        process.kill()
        process.wait()


async def test_streamable_http_headers_errors_and_a_restarted_server(
    app: bosun.App, log: Path, http_server: tuple[int, list[subprocess.Popen[bytes]]]
) -> None:
    port, processes = http_server
    provider = _model(
        app,
        ScriptedProvider.tool_calls(
            ("c_whoami", {}), ("c_fail", {"message": "disk full"}), ("c_add", {"a": "x"})
        ),
        ScriptedProvider.tool_call("approval"),
        ScriptedProvider.tool_call("c_add", a=20, b=22),
        "42",
    )
    remote = bosun.mcp.http(
        f"http://127.0.0.1:{port}/mcp",
        headers={"X-Api-Key": "secret-123"},
        name="counter",
        prefix="c_",
        allow=["add", "whoami", "fail"],
        retry=FAST_RETRY,
    )
    agent = bosun.Agent(tools=[approval, remote])

    @app.workflow(name="remote")
    async def remote_work(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "go")

    async with app, app.worker():
        handle = await app.start(remote_work)
        await _suspended(app, handle.run_id)
        processes[0].kill()  # the server goes away while the run waits…
        processes[0].wait()
        processes.append(_serve(log, "http", port))  # …and comes back
        await handle.signal("go")
        assert await handle.result(timeout=60) == "42"
        journal = await _journal(app, handle.run_id)

    assert sorted(s.name for s in provider.calls[0].tools) == [
        "approval",
        "c_add",
        "c_fail",
        "c_whoami",
    ]
    whoami, fail, bad = _tool_answers(provider, 1)
    assert whoami == "secret-123"  # the headers reached the server
    assert fail == "error: Error executing tool fail: disk full"
    assert bad.startswith("error: ") and "a" in bad  # the server's validation, to the model
    assert "secret-123" not in repr(remote) + repr(remote.endpoint)  # nor in any message
    (last,) = [e for e in journal if e.name == "mcp:counter:add" and e.status == "completed"][-1:]
    assert json.loads(last.output)["structured"] == {"result": 42}
    assert [e["tool"] for e in _events(log)][-1] == "add"
    assert _events(log)[-1]["key"] == f"{handle.run_id}:{last.seq}"


def _time_server(port: int) -> subprocess.Popen[bytes]:
    """The reference time server, served over Streamable HTTP as its package builds it."""
    code = (
        "import sys; from mcp_server_time.server import create_server; "
        "create_server('UTC').run('streamable-http', host='127.0.0.1', port=int(sys.argv[1]))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_the_reference_time_server_over_streamable_http(app: bosun.App) -> None:
    port = free_port()
    process = _time_server(port)
    try:
        wait_for(lambda: _listening(port), 30, "the time server")
        provider = _model(
            app,
            ScriptedProvider.tool_call(
                "convert_time", source_timezone="UTC", time="12:00", target_timezone="Asia/Tokyo"
            ),
            "21:00 in Tokyo.",
        )
        agent = bosun.Agent(tools=[bosun.mcp.http(f"http://127.0.0.1:{port}/mcp", name="time")])

        @app.workflow(name="convert")
        async def convert(ctx: bosun.Context) -> str:
            return await agent.run(ctx, "noon UTC in Tokyo?")

        async with app, app.worker():
            handle = await app.start(convert)
            assert await handle.result(timeout=60) == "21:00 in Tokyo."
        (answer,) = _tool_answers(provider, 1)
        assert json.loads(answer)["time_difference"] == "+9.0h"
        assert {s.name for s in provider.calls[0].tools} == {"get_current_time", "convert_time"}
    finally:
        process.kill()
        process.wait()


async def test_the_sse_transport(app: bosun.App, log: Path) -> None:
    port = free_port()
    process = _serve(log, "sse", port)
    try:
        provider = _model(app, ScriptedProvider.tool_call("add", a=5, b=6), "11")
        remote = bosun.mcp.sse(f"http://127.0.0.1:{port}/sse", name="counter", allow=["add"])
        agent = bosun.Agent(tools=[remote])

        @app.workflow(name="over_sse")
        async def over_sse(ctx: bosun.Context) -> str:
            return await agent.run(ctx, "5 + 6")

        async with app, app.worker():
            handle = await app.start(over_sse)
            assert await handle.result(timeout=60) == "11"
        assert _tool_answers(provider, 1) == ["11"]
        assert [e["tool"] for e in _events(log)] == ["add"]
    finally:
        process.kill()
        process.wait()


# -- any tool source -----------------------------------------------------------------------------


class Shelf:
    """A tool source that is not an MCP server: one `count` tool, its discovery journaled."""

    def __init__(self, name: str = "count") -> None:
        self.name = name
        self.listed = 0

    async def discover(self, ctx: bosun.Context) -> list[Any]:
        from bosun.agents.messages import ToolSpec
        from bosun.agents.tools import SourcedTool

        async def listing() -> str:
            self.listed += 1
            return self.name

        step = StepDef.build(listing, "shelf:list", None, None)
        name = await ctx._execution.call_step(step, (), {})

        async def call(ctx: bosun.Context, arguments: str) -> str:
            return f"{name} called with {arguments}"

        return [SourcedTool(ToolSpec(name=name, description="Count."), call)]


async def test_any_tool_source_plugs_into_an_agent(app: bosun.App) -> None:
    provider = _model(app, ScriptedProvider.tool_call("count", n=3), "counted")
    shelf = Shelf()

    @app.workflow(name="shelved")
    async def shelved(ctx: bosun.Context) -> str:
        answer = await bosun.Agent(tools=[approval, shelf]).run(ctx, "count")
        await ctx.wait_for_signal("go")  # the agent replays from the top after the signal
        return str(answer)

    async with app, app.worker():
        handle = await app.start(shelved)
        await _suspended(app, handle.run_id)
        await handle.signal("go")
        assert await handle.result(timeout=30) == "counted"
    assert shelf.listed == 1  # the replay read the journaled discovery
    assert _tool_answers(provider, 1) == ['count called with {"n": 3}']


async def test_two_tools_of_one_name_fail_the_run_naming_the_fix(app: bosun.App) -> None:
    _model(app, "never")

    @app.workflow(name="clash")
    async def clash(ctx: bosun.Context) -> str:
        return str(await bosun.Agent(tools=[Shelf("approval"), approval]).run(ctx, "hi"))

    async with app, app.worker():
        handle = await app.start(clash)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=30)
    assert "two tools are named 'approval'" in failed.value.error["message"]
    assert "prefix=" in failed.value.error["message"]
