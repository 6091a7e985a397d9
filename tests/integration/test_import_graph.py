"""What a worker imports: a drain-mode worker of a plain workflow (the shape of a serverless
invocation, which pays for every import) runs without the server, the agent toolkit, httpx
or the sandbox; an app that uses them gets them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import bosun

# Never imported by a worker of plain workflows (module names, and their submodules).
HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "rich",  # the CLI's tables and help; a worker prints neither
    "pydantic",  # plain JSON in and out needs no model (bosun/serde.py)
    "prometheus_client",  # without --metrics-port nobody reads the worker's metrics
    "typer._adapters",  # Typer 0.29's per-option pydantic adapters (pyproject.toml's pin)
    "opentelemetry",  # tracing only when OTEL_* asks for it, a caller's span only if imported
    "bosun.server",
    "bosun.agents",
    "bosun.sandbox",
    "cronsim",  # parsing a cron expression: only for an app that has schedules
    "email",  # Retry-After as an HTTP date: only when a server sends one
    "bosun.webhooks",  # signing and the egress guard: only for a run with a webhook
    "hmac",
)

PLAIN_APP = """
import bosun

app = bosun.App("plain")


@app.step(name="bump")
async def bump(x: int) -> int:
    return x + 1


@app.workflow(name="go")
async def go(ctx: bosun.Context, x: int) -> int:
    return await bump(x)
"""

# `bosun ARGS…` in a process that lists the modules it loaded as it exits.
RUN_BOSUN = """
import atexit, json, sys

listing = sys.argv[1]

def dump() -> None:
    with open(listing, "w") as out:
        json.dump(sorted(sys.modules), out)

atexit.register(dump)
sys.argv = ["bosun", *sys.argv[2:]]
from bosun.cli import main
main()
"""


def bosun_modules(listing: Path, *args: str) -> set[str]:
    """The modules `bosun ARGS…` loaded; it must succeed."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_BOSUN, str(listing), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=plain_environment(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    modules: set[str] = set(json.loads(listing.read_text()))
    return modules


def plain_environment() -> dict[str, str]:
    """This environment without the settings that define models (a plain worker's)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name != "BOSUN_MODELS"
        and not name.startswith("BOSUN_LLM_")
        and not name.endswith("_API_KEY")
    }


async def worker_modules(tmp_path: Path, app_source: str) -> set[str]:
    """The modules a drain-mode worker of `app_source` has loaded once it ran a run."""
    app_file = tmp_path / "app.py"
    app_file.write_text(textwrap.dedent(app_source))
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    submitter = bosun.App("plain", database=url)

    @submitter.workflow(name="go")
    async def go(ctx: bosun.Context, x: int) -> int:
        raise AssertionError("runs in the worker")

    async with submitter:
        handle = await submitter.start("go", 1)
    args = ("worker", str(app_file), "--until-idle", "--database", url)
    modules = await asyncio.to_thread(bosun_modules, tmp_path / "modules.json", *args)
    async with submitter:
        assert (await submitter.get_handle(handle.run_id).status()).status == "completed"
    return modules


def loaded(modules: set[str], name: str) -> list[str]:
    return sorted(m for m in modules if m == name or m.startswith(name + "."))


async def test_a_plain_workers_import_graph_leaves_out_server_agents_httpx_and_sandbox(
    tmp_path: Path,
) -> None:
    modules = await worker_modules(tmp_path, PLAIN_APP)
    assert "bosun.worker.worker" in modules and "bosun.cli.worker" in modules
    assert {name: loaded(modules, name) for name in HEAVY} == {name: [] for name in HEAVY}
    assert loaded(modules, "bosun.cli.commands") == []  # the other commands: not built


@pytest.mark.parametrize(
    ("uses", "expected"),
    [
        ("from bosun import Agent", ["bosun.agents", "httpx"]),
        ("from bosun import sandbox", ["bosun.sandbox"]),
        ("from bosun.server import create_server", ["bosun.server", "fastapi", "starlette"]),
    ],
)
async def test_an_app_that_uses_them_gets_them(
    tmp_path: Path, uses: str, expected: list[str]
) -> None:
    modules = await worker_modules(tmp_path, uses + "\n" + PLAIN_APP)
    assert [name for name in expected if not loaded(modules, name)] == []


async def test_showing_a_run_as_json_leaves_out_jsonschema_pydantic_and_rich(
    tmp_path: Path,
) -> None:
    """`bosun runs show --json` lists the run's pending approvals but checks no schema and
    parses no model: jsonschema (~70 ms of imports) waits until an edited call is checked,
    pydantic (~50 ms) until a model's arguments are parsed, rich (~20 ms) for text output."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    app = bosun.App("plain", database=url)

    @app.workflow(name="go")
    async def go(ctx: bosun.Context, x: int) -> int:
        return x

    async with app:
        handle = await app.start("go", 1)
    args = ("runs", "show", handle.run_id, "--database", url, "--json")
    modules = await asyncio.to_thread(bosun_modules, tmp_path / "modules.json", *args)
    assert "bosun.agents.approvals" in modules
    assert {name: loaded(modules, name) for name in ("jsonschema", "pydantic", "rich")} == {
        "jsonschema": [],
        "pydantic": [],
        "rich": [],
    }
    # `bosun run … --json` submits, and prints its id, without them too.
    app_file = tmp_path / "app.py"
    app_file.write_text(textwrap.dedent(PLAIN_APP))
    args = ("run", str(app_file), "go", "--input", '{"x": 1}', "--database", url, "--json")
    modules = await asyncio.to_thread(bosun_modules, tmp_path / "run-modules.json", *args)
    assert [
        name for name in ("pydantic", "rich", "prometheus_client") if loaded(modules, name)
    ] == []
