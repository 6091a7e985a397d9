"""The support demo as a chat: `bosun run --session` against a real `bosun dev` (and on the
local database), the session's history over HTTP, and the web UI's Sessions page."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.helpers.processes import BOSUN, wait_serving
from tests.helpers.serving import free_port

from bosun.loader import load_app

REPO = Path(__file__).resolve().parents[2]
AGENT = str(REPO / "examples" / "support_agent.py")
FIRST = "My kettle from order 7 arrived broken, refund half please"
SECOND = "thanks! and order 8?"  # "half" comes from the conversation so far


def _environ() -> dict[str, str]:
    """No BOSUN_* settings (a real model, another database) leak in from outside."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}


def _bosun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BOSUN, *args], cwd=cwd, env=_environ(), capture_output=True, text=True, timeout=90
    )


@dataclass
class Dev:
    url: str
    key: str
    cwd: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _bosun("run", "--url", self.url, "--api-key", self.key, *args, cwd=self.cwd)

    def api(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    """`bosun dev examples/support_agent.py` on a free port, as the Quickstart starts it."""
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [BOSUN, "dev", AGENT, "--port", url.rsplit(":", 1)[1]],
        cwd=tmp_path,
        env=_environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    try:
        wait_serving(process, f"{url}/healthz")
        yield Dev(url, (tmp_path / ".bosun" / "dev-key").read_text().strip(), tmp_path)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output


def _chat(history: list[dict[str, Any]]) -> list[Any]:
    """The user's messages and the agent's final answers (parsed), in order: the tool turns
    between them left out."""
    return [
        m["content"] if m["role"] == "user" else json.loads(m["content"])
        for m in history
        if m["role"] == "user" or (m["role"] == "assistant" and not m.get("tool_calls"))
    ]


@pytest.mark.timeout(180)
def test_two_messages_in_a_session_make_a_chat_the_ui_lists(dev: Dev) -> None:
    answers = []
    for message in (FIRST, SECOND):
        done = dev.run(
            "support",
            "--session",
            "chat-1",
            "--input",
            json.dumps({"message": message}),
            "--wait",
            "--json",
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["status"] == "completed", report
        answers.append(report["result"])
    assert [(a["order_id"], a["refunded"]) for a in answers] == [(7, 20.0), (8, 12.5)]
    assert "teapot" in answers[1]["reply"]

    with dev.api() as api:
        session = api.get("/v1/sessions/chat-1")
        assert session.status_code == 200, session.text
        history = api.get("/v1/sessions/chat-1/messages").json()["messages"]
        runs = api.get("/v1/runs", params={"session": "chat-1"}).json()["runs"]
    assert session.json()["messages"] == len(history)
    assert _chat(history) == [FIRST, answers[0], SECOND, answers[1]]
    assert [r["input"]["message"] for r in reversed(runs)] == [FIRST, SECOND]

    # The web UI, logged in as `bosun dev`'s link does (its key in the cookie).
    cookies = {"bosun_key": dev.key}
    with httpx.Client(base_url=dev.url, cookies=cookies, timeout=30) as browser:
        listed = browser.get("/ui/sessions")
        shown = browser.get("/ui/sessions/chat-1")
    assert listed.status_code == 200 and "chat-1" in listed.text
    assert shown.status_code == 200
    assert FIRST in shown.text and SECOND in shown.text


@pytest.mark.timeout(120)
def test_a_message_the_demo_has_no_rule_for_is_answered_over_http(dev: Dev) -> None:
    done = dev.run("support", "--input", '{"message": "hello"}', "--wait")
    assert done.returncode == 0, done.stderr
    assert "started" in done.stdout and "BOSUN_LLM_MODEL" in done.stdout


@pytest.mark.timeout(120)
def test_the_local_form_takes_a_session_too(tmp_path: Path) -> None:
    for message in (FIRST, SECOND):
        done = _bosun(
            "run",
            AGENT,
            "support",
            "--session",
            "chat-local",
            "--input",
            json.dumps({"message": message}),
            "--worker",
            "--json",
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"]["refunded"] == 12.5  # "half" from the history
    bad = _bosun(
        "run", AGENT, "support", "--session", "no spaces", "-i", '{"message": "hi"}', cwd=tmp_path
    )
    assert bad.returncode == 2 and "session 'no spaces' is not a valid name" in bad.stderr

    app = load_app(AGENT)
    app.use_database(f"sqlite:///{tmp_path / '.bosun' / 'bosun.db'}")

    async def history() -> list[dict[str, Any]]:
        async with app:
            return await app.session("chat-local").messages()

    assert [m for m in _chat(asyncio.run(history())) if isinstance(m, str)] == [FIRST, SECOND]
