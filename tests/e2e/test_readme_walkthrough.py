"""The README, top to bottom, as a newcomer follows it (see tests/e2e/readme_walk.py): one fresh
directory, one shell, `bosun dev` left running from the Quickstart to the end, every `bash`
block run in order, every run it starts finished before the terminals of its section close."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
from tests.e2e.readme_walk import Walk, commands, read_blocks
from tests.helpers.events import assert_stream_in_order

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"

# What a command's output must show, beyond its exit code 0: (pattern of the command, text).
EXPECT = [
    (r"support .*--follow", '"refunded": 20.0'),
    (r"and order 8\?.*--wait", '"refunded": 12.5'),
    (r"curl -N .*/events", '"refunded": 12.5'),
    (r"report\.py publish_report .*--worker", "auto-approval after timeout"),
    (r"python examples/refund\.py", "refunded $180.00"),
    (r"refund --input .*A-17.* --wait", "refunded $42.00"),
    (r"^bosun queues", "gpu"),
    (r"^bosun workers", "v43"),
    (r"curl -s .*/metrics", "bosun_runs_submitted_total"),
]


def _check_output(command: str, stdout: str) -> None:
    for pattern, text in EXPECT:
        if re.search(pattern, command):
            assert text in stdout, f"{command!r} should print {text!r}:\n{stdout[-3000:]}"
    if re.search(r"curl -N .*/events", command):
        events = [json.loads(line[5:]) for line in stdout.splitlines() if line.startswith("data:")]
        assert events[-1]["type"] == "run.completed", stdout[-2000:]
        assert_stream_in_order(events)


def test_readme_blocks_are_walked_or_say_why_not() -> None:
    """Every block is either run by the walk below, a verbatim part of a shipped example, or
    marked with the reason it is not run."""
    examples = "\n".join(p.read_text() for p in (REPO / "examples").glob("*.py"))
    for block in read_blocks(README):
        where = f"README.md:{block.line} ({block.section})"
        if block.lang == "python" and not block.skip:
            assert block.code in examples, f"{where}: not in examples/ and not marked skip"
        assert block.lang in ("bash", "python", "sql", ""), f"{where}: unknown language"


@pytest.mark.timeout(600)
def test_the_readme_top_to_bottom(tmp_path: Path, pg_url: str) -> None:
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    venv_bin = str(Path(sys.prefix) / "bin")
    path = [p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOSUN_", "OTEL_", "VIRTUAL_ENV", "COLUMNS"))
    }
    env["PATH"] = os.pathsep.join(path)
    walk = Walk(tmp_path, env, pg_url=pg_url)
    walked = 0
    try:
        for block in read_blocks(README):
            if block.skip or block.lang not in ("bash", "sql"):
                continue
            where = f"README.md:{block.line} ({block.section})"
            if block.lang == "sql":
                url = walk.env.get("BOSUN_DATABASE_URL", "")
                assert url.startswith("postgresql://"), f"{where}: no PostgreSQL to query"
                with psycopg.connect(url) as conn:
                    assert conn.execute(block.code).fetchall(), where
                continue
            terminals, runs = len(walk.background), len(walk.runs)
            for written in commands(block.code):
                command = walk.adapt(written)
                if walk.serves(command):
                    walk.start(command)
                    continue
                done = walk.run(command)
                assert done.returncode == 0, (
                    f"{where}: {command}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
                )
                _check_output(command, done.stdout)
                walked += 1
            for run_id in walk.runs[runs:]:
                walk.until_completed(run_id)
            # The terminals this section opened close with Ctrl-C; `bosun dev` from the
            # Quickstart stays up to the end.
            kept = max(terminals, 1)
            for command, code in walk.stop_all(keep=kept).items():
                assert code == 0, f"{where}: {command!r} exited {code} on Ctrl-C"
        # The chat is one session of two turns, which the UI's Sessions page lists.
        base = f"http://127.0.0.1:{walk.ports[8000]}"
        auth = {"Authorization": f"Bearer {(tmp_path / '.bosun' / 'dev-key').read_text().strip()}"}
        said = httpx.get(f"{base}/v1/sessions/chat-1/messages", headers=auth).json()
        asked = [m["content"] for m in said["messages"] if m["role"] == "user"]
        assert len(asked) == 2 and "order 8" in asked[1], said
        assert said["messages"][-1]["role"] == "assistant", said
    finally:
        stopped = walk.stop_all()
    assert list(stopped.values()) == [0], stopped
    assert walked >= 30, f"only {walked} commands ran: the walk lost the README"
    # What the Quickstart's first terminal showed the newcomer.
    dev_log = (tmp_path / ".walk-logs" / "0.log").read_text()
    assert f"http://127.0.0.1:{walk.ports[8000]}" in dev_log and "API key" in dev_log
    # The runs the README started, in order: the chat's two refunds, the approved one, curl's,
    # the report demo, the report approved by hand (all on the Quickstart's SQLite file), and
    # the refund on PostgreSQL.
    assert len(walk.runs) == 7, walk.runs

    def result(run_id: str, database: str = "sqlite:///.bosun/bosun.db") -> object:
        shown = walk.run(f".venv/bin/bosun runs show {run_id} --database {database} --json")
        return json.loads(shown.stdout)["result"]

    approved = result(walk.runs[2])
    assert isinstance(approved, dict) and "approved by alice" in approved["reply"]
    report = result(walk.runs[5])
    assert isinstance(report, dict) and report["approved_by"] == "alice"
    assert result(walk.runs[6], pg_url) == "refunded $42.00"
