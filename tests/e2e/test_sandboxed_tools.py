"""`@app.tool(sandbox=True)`: an agent's tool whose code runs in the sandbox."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.processes import SANDBOX_GROUP

import bosun
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import ScriptedProvider

pytestmark = SANDBOX_GROUP

if shutil.which("bwrap") is None and os.environ.get("CI") != "true":
    pytest.skip("bubblewrap is not installed (CI installs it)", allow_module_level=True)

app = bosun.App("sandboxed-tools")


@app.tool(sandbox=True)
def inspect_here(label: str) -> dict[str, Any]:
    """Report where this code runs.

    Args:
        label: echoed back.
    """
    import os
    import socket

    try:
        socket.create_connection(("127.0.0.1", 22), timeout=1)
        network = True
    except OSError:
        network = False
    return {
        "label": label,
        "uid": os.getuid(),
        "secret": os.environ.get("WORKER_SECRET"),
        "network": network,
    }


@app.tool(sandbox=True)
def explode(size: int) -> int:
    """Fail on purpose."""
    raise RuntimeError(f"boom {size}")


async def test_a_sandboxed_tool_runs_contained_and_its_failures_reach_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKER_SECRET", "hunter2")
    app.use_database(f"sqlite:///{tmp_path / 'tools.db'}")
    model = ScriptedProvider(
        script=[
            ScriptedProvider.tool_calls(("inspect_here", {"label": "x"}), ("explode", {"size": 3})),
            "done",
        ]
    )
    app.models.register(
        "default", model, ModelConfig(alias="default", provider="scripted", model="s")
    )
    agent = bosun.Agent(tools=[inspect_here, explode])

    @app.workflow(name="probe")
    async def probe(ctx: bosun.Context) -> str:
        return await agent.run(ctx, "look around")

    async with app, app.worker():
        handle = await app.start(probe)
        assert await handle.result(timeout=60) == "done"
        journal = await app.store.get_journal(handle.run_id)
    answers = [m.content or "" for m in model.calls[1].messages if m.role == "tool"]
    report = json.loads(answers[0])
    assert report["label"] == "x"
    assert report["secret"] is None  # the worker's environment stays outside
    assert report["network"] is False
    assert report["uid"] != os.getuid()  # not the worker's identity
    assert answers[1].startswith("error: ") and "boom 3" in answers[1]
    assert sorted(e.name for e in journal if e.kind == "tool") == [
        "tool:explode",
        "tool:inspect_here",
    ]


def test_the_tool_schema_is_the_functions() -> None:
    from bosun.agents.tools import tool_spec

    spec = tool_spec(inspect_here)
    assert spec.name == "inspect_here"
    assert spec.parameters["properties"]["label"]["type"] == "string"
    assert "Report where this code runs." in spec.description
