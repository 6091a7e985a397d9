"""The benchmarks the README and docs/benchmarks.md cite still run (a short smoke pass).

Only bosun's own measurements run here, and the SQLite anchor, which needs no extra package.
The other anchors need the `bench` extra. Timing is never asserted: speed is measured by the
benchmarks themselves.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers.processes import SANDBOX_GROUP

REPO = Path(__file__).resolve().parents[2]


def bench(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), "--quick", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sqlite_benchmark_prints_its_table() -> None:
    out = bench("core.py", "--only", "sqlite,bosun,ceiling")
    assert "single-row INSERT+COMMIT" in out
    assert "sequential 3-step p50" in out and "durable steps/s" in out
    assert "fsync off, 64 in flight: steps/s" in out and "; fsync off: " in out
    assert "FAILED" not in out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_postgres_benchmark_prints_its_table(pg_template: str) -> None:
    import os

    from tests.conftest import PG_URL

    out = bench(
        "pg.py",
        "--only",
        "pg1,bosun_flight,bosun_recovery",
        env={**os.environ, "BENCH_PG_URL": PG_URL},
    )
    assert "INSERT+COMMIT tx/s, 1 client" in out
    assert "3-step runs/s, 64 in flight" in out and "SIGKILL -> resumed" in out
    assert "FAILED" not in out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_timer_benchmark_prints_its_table(pg_template: str) -> None:
    import os

    from tests.conftest import PG_URL

    out = bench("timers.py", env={**os.environ, "BENCH_PG_URL": PG_URL})
    assert "| sqlite |" in out and "| postgresql |" in out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cold_start_benchmark_prints_its_table(pg_template: str) -> None:
    import os

    from tests.conftest import PG_URL

    out = bench("cold_start.py", env={**os.environ, "BENCH_PG_URL": PG_URL})
    assert "| sqlite: spawn -> first step |" in out
    assert "| postgresql: spawn -> first step |" in out
    assert "| import bosun (minus bare python) |" in out
    assert "target: sqlite spawn -> first step <= 150 ms" in out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_fanout_benchmark_prints_its_table(pg_template: str) -> None:
    """Its correctness check (every awaited handle returned its run's result) is asserted
    through its exit status."""
    import os

    from tests.conftest import PG_URL

    out = bench("fanout.py", env={**os.environ, "BENCH_PG_URL": PG_URL})
    assert "| sqlite observed |" in out and "| postgresql unobserved |" in out
    assert "| client CPU ms/run |" in out  # what the waiting costs its process
    assert "sqlite: observed / unobserved drain =" in out
    assert "postgresql: observed / unobserved drain =" in out


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_http_benchmark_prints_its_table() -> None:
    """Its correctness check (every SSE subscriber got every event exactly once, in order)
    is asserted through its exit status."""
    out = bench("http_api.py")
    assert "== (a) HTTP submits" in out and "== (b) SSE" in out
    assert "HTTP POST /v1/runs: submits/s, 32 clients" in out
    assert "in-process app.start: submits/s" in out
    assert "SSE: delivery p50 (ms)" in out and "server RSS" in out
    assert "HTTP submits/s vs in-process app.start on the same database" in out
    assert "every subscriber got every event exactly once, in order: PASS" in out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_agent_turn_benchmark_prints_its_table(pg_template: str) -> None:
    """bosun's rows only: the anchors (LangGraph, PydanticAI with DBOS, the Agents SDK with
    SQLAlchemy) need the bench extra, and each would add seconds here."""
    import os

    from tests.conftest import PG_URL

    out = bench(
        "agent_turns.py",
        "--only",
        "bosun_sqlite,bosun_scripted,bosun,bosun_session",
        env={**os.environ, "BENCH_PG_URL": PG_URL},
    )
    assert "| bosun, SQLite (" in out and "| bosun, PostgreSQL (" in out
    assert "| bosun, SQLite, ScriptedProvider (" in out
    assert "| bosun in a session, PostgreSQL (" in out and "failed" not in out


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_agent_benchmark_prints_its_table() -> None:
    """Its correctness check (every streamed token reached the SSE client once, in order) is
    asserted through its exit status."""
    out = bench("agents.py")
    assert "== (a) agent loop" in out and "== (b) SSE token streams" in out
    assert "plain Python loop: wall ms/turn, 16 in flight" in out
    assert "bosun Agent: CPU ms/turn" in out and "replay: CPU ms/turn" in out
    assert "SSE, 1 stream: token delivery p50 (ms)" in out
    assert "bosun Agent vs the plain loop, per turn, 16 in flight" in out
    assert "every streamed token arrived once, in order: PASS" in out
    assert "FAILED" not in out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_mcp_agent_benchmark_prints_its_table() -> None:
    out = bench("agents_mcp.py")
    assert "bosun Agent, MCP stdio: wall ms/turn, 16 in flight" in out
    assert "durability per turn, MCP stdio: CPU ms (bosun - plain)" in out


@SANDBOX_GROUP  # runs sandboxes: see tests/helpers/processes.py
@pytest.mark.slow
@pytest.mark.timeout(60)
def test_sandbox_benchmark_prints_its_table() -> None:
    import os

    from bosun.sandbox.bwrap import BubblewrapBackend

    ok, reason = BubblewrapBackend().available()
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(
                f"CI must run the sandbox benchmark (.ci/run installs bubblewrap): {reason}"
            )
        pytest.skip(f"bubblewrap unavailable: {reason}")
    out = bench("sandbox.py")
    assert "| true                 | plain    |" in out
    assert "| true                 | sandbox  |" in out
    assert "true: overhead p50" in out
    assert "target: overhead p50 of `true` <= 30 ms:" in out
    assert "FAILED" not in out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_restate_and_absurd_anchors_run_or_say_they_are_not_installed(pg_template: str) -> None:
    """The Restate and Absurd anchors need the `bench` extra (and Restate's server, which the
    script installs from npm): with it they measure, without it their rows say so and
    nothing fails."""
    import os

    from tests.conftest import PG_URL

    out = bench("pg.py", "--only", "restate,absurd", env={**os.environ, "BENCH_PG_URL": PG_URL})
    assert "FAILED" not in out
    for system in ("restate", "absurd"):
        rows = [
            line
            for line in out.splitlines()
            if line.startswith(f"| {system} ") and "| 3-step runs/s, 64 in flight " in line
        ]
        assert len(rows) == 1, out
        if f"- {system}: skipped, " in out:
            assert "not installed" in rows[0], rows
        else:
            assert "not installed" not in rows[0], rows
