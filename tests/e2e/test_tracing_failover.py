"""One trace per run across a timer, a retry and a worker killed mid-step: the spans of both
workers (written by `OTEL_TRACES_EXPORTER=console`) share the submitter's trace id and hang
off the run's root span; replayed steps make no span. The workers' logs are JSON lines that
name the run, the step, the worker and the trace."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import pytest
from tests.helpers.processes import APPS, Env, wait_exit
from tests.helpers.wait import wait_for

import bosun
from bosun.observe.tracecontext import run_trace

APP = APPS / "traced.py"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def _submit(env: Env) -> str:
    """Submit `traced` with a W3C trace context, as an instrumented caller would."""
    submitter = bosun.App("submitter", database=env.url)

    @submitter.workflow(name="traced")
    async def traced(ctx: bosun.Context) -> list[str]:
        raise AssertionError("only workers run it")

    async def main() -> str:
        async with submitter:
            handle = await submitter.start_json(
                "traced", {}, traceparent=f"00-{TRACE_ID}-{CALLER_SPAN}-01"
            )
            return handle.run_id

    return asyncio.run(main())


def _lines(env: Env, name: str) -> list[dict[str, Any]]:
    """The worker's output, one JSON object per line: its log records and its spans."""
    return [json.loads(line) for line in env.log(name).splitlines() if line.strip()]


def _spans(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "context" in line]


def _hex(value: str | None) -> str | None:
    return None if value is None else value.removeprefix("0x")


@pytest.mark.timeout(90)
def test_a_runs_trace_survives_a_killed_worker(env: Env) -> None:
    gate = env.tmp / "gate"
    env.extra.update(
        {"OTEL_TRACES_EXPORTER": "console", "BOSUN_E2E_GATE": str(gate), "BOSUN_LOG_LEVEL": "INFO"}
    )
    run_id = _submit(env)
    worker_a = env.worker(APP, "--lease-ttl", "1", name="a")
    wait_for(lambda: "hang" in env.effect_lines(), 30, "worker A to enter the hanging step")
    worker_a.send_signal(signal.SIGKILL)
    assert worker_a.wait(10) == -signal.SIGKILL
    assert env.effect_lines() == ["first", "flaky:1", "flaky:2", "hang"]

    gate.touch()
    worker_b = env.worker(APP, "--lease-ttl", "1", name="b")
    wait_for(lambda: env.show(run_id)["status"] == "completed", 30, "worker B to finish the run")
    worker_b.send_signal(signal.SIGTERM)
    assert wait_exit(worker_b, 15, env, "b") == 0

    spans_a, logs_b = _spans(_lines(env, "a")), _lines(env, "b")
    spans_b = _spans(logs_b)
    ids = run_trace(run_id, f"00-{TRACE_ID}-{CALLER_SPAN}-01")
    assert ids.trace_id == TRACE_ID
    every = spans_a + spans_b
    assert {_hex(s["context"]["trace_id"]) for s in every} == {TRACE_ID}

    roots = [s for s in every if s["name"] == "run traced"]
    assert len(roots) == 1 and roots[0] in spans_b  # sent once, by the worker that finished
    assert _hex(roots[0]["context"]["span_id"]) == ids.root_span_id
    assert _hex(roots[0]["parent_id"]) == CALLER_SPAN
    assert roots[0]["attributes"]["bosun.run.status"] == "completed"
    for span in every:
        if span is not roots[0]:
            assert _hex(span["parent_id"]) == ids.root_span_id, span["name"]

    def steps(spans: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [
            (s["name"], s["attributes"]["bosun.step.status"])
            for s in spans
            if s["name"].startswith("step ")
        ]

    # A ran first, flaky twice (a retry), and died inside hang: that span never ended.
    assert steps(spans_a) == [
        ("step first", "completed"),
        ("step flaky", "retrying"),
        ("step flaky", "completed"),
    ]
    # B replayed first and flaky from the journal (no spans) and executed the rest.
    assert steps(spans_b) == [("step hang", "completed"), ("step last", "completed")]

    executions_a = [s for s in spans_a if s["name"] == "execute traced"]
    executions_b = [s for s in spans_b if s["name"] == "execute traced"]
    # A's two executions that ended in a suspension (the timer, the retry); its third died.
    assert [s["attributes"]["bosun.outcome"] for s in executions_a] == ["suspend", "suspend"]
    assert [s["attributes"]["bosun.outcome"] for s in executions_b] == ["complete"]
    assert executions_b[0]["attributes"]["bosun.lease.takeover"] is True
    worker_names = {s["attributes"]["bosun.worker"] for s in executions_a + executions_b}
    assert len(worker_names) == 2

    # B's log line from inside the last step carries the run, step, worker and trace.
    records = [line for line in logs_b if "context" not in line]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    finishing = [r for r in records if r["message"] == "finishing the run"]
    assert len(finishing) == 1
    line = finishing[0]
    assert line["run_id"] == run_id and line["step"] == "last" and line["level"] == "INFO"
    assert line["trace_id"] == TRACE_ID
    assert line["worker"] == executions_b[0]["attributes"]["bosun.worker"]
