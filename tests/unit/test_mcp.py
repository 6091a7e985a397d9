"""bosun.mcp without a server: the optional import, the constructors' checks and defaults, the
allow- and deny-lists, and how a result is shown to the model and cut to the payload limit."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from typing import Any

import pytest

import bosun
from bosun.mcp import ToolResult
from bosun.mcp.servers import _command_name


def test_import_bosun_loads_neither_bosun_mcp_nor_the_sdk() -> None:
    code = (
        "import sys, bosun\n"
        "assert 'bosun.mcp' not in sys.modules and 'mcp' not in sys.modules\n"
        "bosun.mcp.stdio('mcp-server-time')\n"  # loaded on first use; the SDK is not imported
        "assert 'bosun.mcp' in sys.modules and 'mcp' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_other_missing_attributes_still_raise() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        bosun.nothing_here  # noqa: B018


def test_without_the_sdk_making_a_server_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec

    def without_mcp(name: str, *args: Any) -> Any:
        return None if name == "mcp" else find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_mcp)
    with pytest.raises(bosun.ConfigurationError, match=r"pip install 'bosun\[mcp\]'"):
        bosun.mcp.stdio("mcp-server-time")


@pytest.mark.parametrize(
    ("command", "args", "name"),
    [
        ("mcp-server-time", [], "mcp-server-time"),
        ("/usr/local/bin/mcp-server-time", ["--local-timezone", "UTC"], "mcp-server-time"),
        ("uvx", ["mcp-server-fetch"], "mcp-server-fetch"),
        ("npx", ["-y", "@modelcontextprotocol/server-everything@2.0"], "server-everything"),
        ("python3.11", ["-m", "my.server"], "my.server"),
        ("python", ["tools/server.py", "stdio"], "server"),
    ],
)
def test_a_stdio_server_is_named_after_its_program(
    command: str, args: list[str], name: str
) -> None:
    assert _command_name(command, args) == name
    assert bosun.mcp.stdio(command, args).name == name


def test_an_http_server_is_named_after_its_host_without_the_port() -> None:
    server = bosun.mcp.http("https://tools.example.com:8443/mcp", headers={"A": "secret"})
    assert server.name == "tools.example.com"
    assert "secret" not in repr(server) + repr(server.endpoint)


def test_messages_show_a_url_without_its_credentials_or_query() -> None:
    server = bosun.mcp.http("https://me:pw@tools.example.com:8443/mcp?token=t0k", name="t")
    assert server.endpoint.describe() == "https://tools.example.com:8443/mcp"
    assert "pw" not in repr(server) and "t0k" not in repr(server)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: bosun.mcp.stdio(""), "needs a command"),
        (lambda: bosun.mcp.stdio("x", name="has space"), "name 'has space'"),
        (lambda: bosun.mcp.stdio("x", prefix="a.b"), "prefix"),
        (lambda: bosun.mcp.stdio("x", allow="get_time"), "lists of tool names"),
        (lambda: bosun.mcp.stdio("x", keep_alive=0), "keep_alive"),
        (lambda: bosun.mcp.http("ftp://host/mcp"), "http(s) URL"),
        (lambda: bosun.mcp.sse("/relative"), "http(s) URL"),
    ],
)
def test_bad_arguments_are_refused_when_the_server_is_made(make: Any, problem: str) -> None:
    with pytest.raises(bosun.ConfigurationError) as refused:
        make()
    assert problem in str(refused.value)


def test_allow_and_deny_lists_take_names_and_patterns() -> None:
    server = bosun.mcp.stdio("x", allow=["get_*", "search"], deny=["get_secret*"])
    allowed = [t for t in ["get_time", "get_secret_key", "search", "delete"] if server.allows(t)]
    assert allowed == ["get_time", "search"]
    assert bosun.mcp.stdio("x", deny=["delete"]).allows("anything")


def test_an_agent_takes_servers_beside_functions() -> None:
    def lookup(order_id: int) -> str:
        """Look an order up."""
        return str(order_id)

    server = bosun.mcp.stdio("mcp-server-time")
    agent = bosun.Agent(tools=[lookup, server])
    assert list(agent.tools) == ["lookup"] and agent.sources == [server]


# -- results -----------------------------------------------------------------------------------

PNG_B64 = "iVBORw0KGgo" * 100


def _result(*content: dict[str, Any], structured: Any = None, error: bool = False) -> ToolResult:
    return ToolResult(content=list(content), structured=structured, is_error=error)


def test_what_the_model_reads_of_each_kind_of_content() -> None:
    result = _result(
        {"type": "text", "text": "Here:"},
        {"type": "image", "data": PNG_B64, "mimeType": "image/png"},
        {"type": "audio", "data": "AAAA", "mimeType": "audio/wav"},
        {
            "type": "resource_link",
            "uri": "file:///a",
            "name": "a.txt",
            "mimeType": "text/plain",
        },
        {"type": "resource", "resource": {"uri": "memo://1", "text": "Meeting at 10."}},
        {"type": "resource", "resource": {"uri": "blob://2", "blob": "AAAA", "mimeType": "x/y"}},
    )
    assert result.text().splitlines() == [
        "Here:",
        "[image: image/png, 825 bytes]",
        "[audio: audio/wav, 3 bytes]",
        "[resource link: file:///a a.txt, text/plain]",
        "[resource memo://1]",
        "Meeting at 10.",
        "[resource blob://2: x/y, 3 bytes]",
    ]


def test_structured_content_is_shown_when_no_text_carries_it() -> None:
    assert _result(structured={"a": 1}).text() == '{"a": 1}'
    assert _result({"type": "text", "text": "1"}, structured={"a": 1}).text() == "1"
    assert _result({"type": "text", "text": "boom"}, error=True).text() == "error: boom"


def test_a_result_within_the_limit_is_kept_whole() -> None:
    result = _result({"type": "text", "text": "short"})
    assert result.fit(None) is result and result.fit(10_000) is result


def test_binary_content_goes_first_when_a_result_is_too_large() -> None:
    image = {"type": "image", "data": "A" * 50_000, "mimeType": "image/png"}
    result = _result({"type": "text", "text": "caption"}, image, structured={"n": 1})
    cut = result.fit(8_000)
    assert len(cut.model_dump_json().encode()) <= 8_000
    assert cut.content[0] == {"type": "text", "text": "caption"}
    assert "image (image/png), 50000 base64 characters, left out" in cut.content[1]["text"]
    assert cut.structured == {"n": 1} and cut.omitted == 50_000
    assert result.content[1] == image  # the original is left alone


def test_text_is_cut_last_and_the_cut_is_named() -> None:
    result = _result({"type": "text", "text": "é" * 30_000}, structured={"echo": "x" * 20_000})
    cut = result.fit(5_000)
    assert len(cut.model_dump_json().encode()) <= 5_000
    assert cut.structured is None
    (block,) = cut.content
    assert block["text"].startswith("éé")
    assert block["text"].endswith("characters cut: the result exceeds the payload limit]")
    assert cut.omitted > 40_000
    assert json.loads(cut.model_dump_json())["omitted"] == cut.omitted
