"""The built-in sandbox tools as the model sees them, and session workspaces' quota and
cleanup (no sandbox is started here)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from bosun import Agent
from bosun.agents.errors import InvalidToolArguments
from bosun.agents.tools import call_arguments, tool_spec
from bosun.egress.fetch import FetchRefused
from bosun.errors import BosunError, ConfigurationError
from bosun.sandbox.spec import Limits
from bosun.sandbox.tools import http_fetch_tool, python, sandbox_tools, shell
from bosun.sandbox.workspace import (
    SessionWorkspace,
    WorkspaceQuotaExceeded,
    prune_workspaces,
    session_workspaces,
)

pytestmark = pytest.mark.timeout(30)


def _properties(fn: Any) -> dict[str, Any]:
    return dict(tool_spec(fn).parameters["properties"])


def test_default_tools_are_named_for_the_model() -> None:
    assert [tool_spec(fn).name for fn in (python, shell, http_fetch_tool)] == [
        "python",
        "shell",
        "http_fetch",
    ]


def test_python_tool_schema() -> None:
    spec = tool_spec(python)
    assert spec.parameters["required"] == ["code"]
    props = _properties(python)
    assert props["code"] == {"type": "string", "description": "the program's source."}
    assert {"type": "object", "additionalProperties": {"type": "string"}} in props["files"]["anyOf"]
    assert {"type": "array", "items": {"type": "string"}} in props["collect"]["anyOf"]
    assert "glob" in props["collect"]["description"]
    assert spec.description.startswith("Run a Python 3 program in a sandbox")
    assert "Args:" not in spec.description


def test_shell_tool_schema() -> None:
    spec = tool_spec(shell)
    assert spec.parameters["required"] == ["command"]
    assert _properties(shell)["command"]["type"] == "string"
    assert "sh -c" in spec.description


def test_http_fetch_tool_schema() -> None:
    spec = tool_spec(http_fetch_tool)
    assert spec.parameters["required"] == ["url"]
    props = _properties(http_fetch_tool)
    assert props["method"]["enum"] == ["GET", "POST", "HEAD"]
    assert props["method"]["default"] == "GET"
    assert props["body"]["default"] is None
    assert "private, loopback" in spec.description


def test_arguments_are_checked_before_a_call() -> None:
    assert call_arguments(http_fetch_tool, '{"url": "https://example.com"}') == {
        "url": "https://example.com"
    }
    with pytest.raises(InvalidToolArguments, match="method"):
        call_arguments(http_fetch_tool, '{"url": "https://example.com", "method": "DELETE"}')
    with pytest.raises(InvalidToolArguments, match="code"):
        call_arguments(python, '{"files": {"a.txt": "x"}}')


def test_configured_tools_keep_names_and_schemas(tmp_path: Path) -> None:
    plain = sandbox_tools()
    kept = sandbox_tools(workspace=SessionWorkspace("s1", base=tmp_path))
    for configured in (plain, kept):
        assert [tool_spec(fn).name for fn in configured] == ["python", "shell", "http_fetch"]
        for fn, default in zip(configured, (python, shell, http_fetch_tool), strict=True):
            assert tool_spec(fn).parameters == tool_spec(default).parameters
    assert [tool_spec(fn).description for fn in plain[:2]] == [
        tool_spec(python).description,
        tool_spec(shell).description,
    ]
    for fn in kept[:2]:
        assert "kept between calls" in tool_spec(fn).description
    assert "kept between calls" not in tool_spec(kept[2]).description


def test_an_agent_takes_the_tools() -> None:
    agent = Agent(tools=sandbox_tools(limits=Limits(wall_seconds=5)))
    assert sorted(agent.tools) == ["http_fetch", "python", "shell"]
    assert all(tool.step is not None for tool in agent.tools.values())  # journaled steps


async def test_http_fetch_tool_refuses_internal_addresses() -> None:
    with pytest.raises(FetchRefused, match="cloud metadata"):
        await http_fetch_tool("http://169.254.169.254/latest/meta-data/")
    (_, _, fetch) = sandbox_tools(allow_hosts=["10.0.0.0/8"])
    with pytest.raises(FetchRefused, match="loopback"):
        await fetch("http://127.0.0.1:1/")


# -- session workspaces -----------------------------------------------------------------------


def test_workspace_path_is_per_tenant_and_session(tmp_path: Path) -> None:
    ws = SessionWorkspace("chat:42@web", tenant="acme", base=tmp_path)
    assert ws.path == tmp_path / "acme" / "chat:42@web"
    assert not ws.path.exists()
    assert ws.usage().bytes == 0
    assert ws.prepare() == ws.path
    assert ws.path.is_dir()
    assert (ws.path.stat().st_mode & 0o777) == 0o700


def test_default_base_is_under_dot_bosun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert SessionWorkspace("s").path == tmp_path / ".bosun" / "workspaces" / "default" / "s"


@pytest.mark.parametrize("session", ["", "..", ".", "a/b", "../etc", "/abs", "x" * 201, "a\x00"])
def test_session_ids_that_cannot_name_a_directory_are_refused(tmp_path: Path, session: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot name a workspace"):
        SessionWorkspace(session, base=tmp_path)


@pytest.mark.parametrize("tenant", ["", "..", "a/b", "a:b"])
def test_tenants_that_cannot_name_a_directory_are_refused(tmp_path: Path, tenant: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot name a workspace"):
        SessionWorkspace("s", tenant=tenant, base=tmp_path)


def test_quota_counts_bytes_and_entries(tmp_path: Path) -> None:
    ws = SessionWorkspace("s", base=tmp_path, quota_bytes=64 * 1024, max_entries=5)
    ws.prepare()
    (ws.path / "a.bin").write_bytes(os.urandom(20_000))
    used = ws.check_quota()
    assert 20_000 <= used.bytes <= 32 * 1024
    assert used.entries == 1
    assert 0 < ws.remaining_bytes() < 64 * 1024

    (ws.path / "b.bin").write_bytes(os.urandom(60_000))
    with pytest.raises(WorkspaceQuotaExceeded, match=r"session 's' holds \d+ bytes"):
        ws.check_quota()
    assert ws.remaining_bytes() == 0
    (ws.path / "b.bin").unlink()
    ws.check_quota()

    for i in range(5):
        (ws.path / f"empty{i}").touch()
    with pytest.raises(WorkspaceQuotaExceeded, match="6 entries"):
        ws.check_quota()


def test_symlinks_are_counted_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(os.urandom(200_000))
    ws = SessionWorkspace("s", base=tmp_path / "ws", quota_bytes=64 * 1024)
    ws.prepare()
    (ws.path / "link").symlink_to(outside)
    (ws.path / "loop").symlink_to(ws.path)
    assert ws.check_quota().entries == 2


def test_files_hidden_in_an_unreadable_directory_still_count(tmp_path: Path) -> None:
    ws = SessionWorkspace("s", base=tmp_path, quota_bytes=64 * 1024)
    ws.prepare()
    hidden = ws.path / "hidden"
    hidden.mkdir()
    (hidden / "big.bin").write_bytes(os.urandom(100_000))
    hidden.chmod(0)
    try:
        with pytest.raises(WorkspaceQuotaExceeded):
            ws.check_quota()
    finally:
        hidden.chmod(0o700)


async def test_use_checks_the_quota_before_and_after(tmp_path: Path) -> None:
    ws = SessionWorkspace("s", base=tmp_path, quota_bytes=64 * 1024)
    async with ws.use() as path:
        (path / "note.txt").write_text("kept")
    async with ws.use() as path:
        assert (path / "note.txt").read_text() == "kept"

    with pytest.raises(WorkspaceQuotaExceeded):
        async with ws.use() as path:
            (path / "big.bin").write_bytes(os.urandom(100_000))
    with pytest.raises(WorkspaceQuotaExceeded):
        async with ws.use():
            pytest.fail("a full workspace must not be handed out")


async def test_a_full_workspace_refuses_the_call_before_any_sandbox(tmp_path: Path) -> None:
    ws = SessionWorkspace("s", base=tmp_path, quota_bytes=4096)
    ws.prepare()
    (ws.path / "big.bin").write_bytes(os.urandom(10_000))
    tool_python, tool_shell, _ = sandbox_tools(workspace=ws)
    with pytest.raises(WorkspaceQuotaExceeded, match="nothing more runs in it"):
        await tool_python("print(1)")
    with pytest.raises(WorkspaceQuotaExceeded):
        await tool_shell("rm big.bin")


def test_cleanup_removes_everything_even_unwritable_directories(tmp_path: Path) -> None:
    outside = tmp_path / "keep.txt"
    outside.write_text("not the workspace's")
    ws = SessionWorkspace("s", tenant="acme", base=tmp_path / "base")
    ws.prepare()
    locked = ws.path / "a" / "b"
    locked.mkdir(parents=True)
    (locked / "f.txt").write_text("x")
    (ws.path / "out").symlink_to(outside)
    locked.chmod(0o500)
    (ws.path / "a").chmod(0)
    assert ws.cleanup() is True
    assert not ws.path.exists()
    assert not (tmp_path / "base" / "acme").exists()  # the emptied tenant directory too
    assert outside.read_text() == "not the workspace's"
    assert ws.cleanup() is False


def test_cleanup_keeps_other_sessions(tmp_path: Path) -> None:
    one = SessionWorkspace("one", base=tmp_path)
    two = SessionWorkspace("two", base=tmp_path)
    one.prepare()
    two.prepare()
    (two.path / "f").write_text("x")
    one.cleanup()
    assert (two.path / "f").read_text() == "x"


def test_prune_removes_idle_workspaces(tmp_path: Path) -> None:
    old = SessionWorkspace("old", tenant="t1", base=tmp_path)
    fresh = SessionWorkspace("fresh", tenant="t2", base=tmp_path)
    old.prepare()
    fresh.prepare()
    (old.path / "f").write_text("x")
    an_hour_ago = time.time() - 3600
    os.utime(old.path, (an_hour_ago, an_hour_ago))
    assert prune_workspaces(tmp_path, idle_seconds=600) == [old.path]
    assert not old.path.exists()
    assert not (tmp_path / "t1").exists()
    assert fresh.path.exists()
    assert prune_workspaces(tmp_path / "missing", idle_seconds=0) == []


def test_session_workspaces_outside_a_run_gives_a_fresh_directory(tmp_path: Path) -> None:
    pick = session_workspaces(tmp_path, quota_bytes=1024)
    assert pick() is None


def test_bad_quota_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        SessionWorkspace("s", base=tmp_path, quota_bytes=0)
    assert issubclass(WorkspaceQuotaExceeded, BosunError)
