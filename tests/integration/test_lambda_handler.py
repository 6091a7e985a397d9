"""The AWS Lambda entry point, called in-process as Lambda would call it: each invocation
drains the queue for the time its context says is left (less the margin) and returns a JSON
summary; a run longer than one invocation completes across several, every step once. The
Lambda context object is the only fake (its clock is real)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from bosun.errors import ConfigurationError
from bosun.loader import load_app
from bosun.serverless import lambda_handler
from bosun.serverless.lambda_handler import HandlerSettings, handler, margin

APP = Path(__file__).parent.parent / "e2e" / "apps" / "long_run.py"
STEPS = 12  # 3.6 s of steps, a sleep after the 9th: more than one 3 s invocation
INVOCATION_MS = 3000


class FakeLambdaContext:
    """Lambda's context object, as far as the handler uses it: a real deadline."""

    def __init__(self, millis: int) -> None:
        self.deadline = time.monotonic() + millis / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.deadline - time.monotonic()) * 1000), 0)


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, any_db_url: str, tmp_path: Path) -> Path:
    """The function's environment variables; returns the effects file."""
    effects = tmp_path / "effects.txt"
    monkeypatch.setenv("BOSUN_APP", str(APP))
    monkeypatch.setenv("BOSUN_DATABASE_URL", any_db_url)
    monkeypatch.setenv("BOSUN_E2E_EFFECTS", str(effects))
    lambda_handler._app.cache_clear()
    return effects


def submit(url: str) -> str:
    async def start() -> str:
        app = load_app(str(APP))
        app.use_database(url)
        async with app:
            handle = await app.start("long_run", steps=STEPS, sleep_after=9)
            return handle.run_id

    return asyncio.run(start())


def status(url: str, run_id: str) -> tuple[str, object]:
    async def get() -> tuple[str, object]:
        app = load_app(str(APP))
        app.use_database(url)
        async with app:
            run = await app.store.get_run(run_id)
            assert run is not None
            return run.status, None if run.result is None else json.loads(run.result)

    return asyncio.run(get())


@pytest.mark.timeout(90)
def test_invocations_drain_the_queue_until_the_long_run_completes(
    function_env: Path, any_db_url: str
) -> None:
    run_id = submit(any_db_url)
    summaries = []
    give_up = time.monotonic() + 60
    while status(any_db_url, run_id)[0] != "completed":
        assert time.monotonic() < give_up, summaries
        summary = handler({"source": "aws.events"}, FakeLambdaContext(INVOCATION_MS))
        assert json.loads(json.dumps(summary)) == summary  # what Lambda sends back
        assert summary["exit_code"] == 0, summary
        assert summary["app"] == "e2e-long-run" and summary["queues"] == ["default"]
        if any(summary[k] for k in ("completed", "suspended", "handed_back")):
            summaries.append(summary)
        else:  # the run sleeps (durably): idle, the invocation returned at once
            time.sleep(0.2)

    assert status(any_db_url, run_id)[1] == sum(i * i for i in range(STEPS))
    lines = function_env.read_text().splitlines()
    assert sorted(lines) == sorted(f"{run_id}:{i}" for i in range(STEPS)), "a step ran twice"
    assert len(summaries) >= 2, summaries  # the run outlived one invocation
    assert sum(s["handed_back"] for s in summaries) >= 1, summaries
    assert sum(s["completed"] for s in summaries) == 1, summaries
    # Nothing scrapes a function: its app counts nothing (prometheus_client is not imported).
    executions = lambda_handler._app(str(APP), any_db_url).observability.metrics.executions
    assert not list(executions.collect()[0].samples), "a Lambda invocation counted metrics"
    print(f"\nlambda: {len(summaries)} invocations: {[s['seconds'] for s in summaries]} s")


def test_the_margin_is_a_fifth_of_the_time_left_at_most_10_s() -> None:
    assert margin(3.0) == pytest.approx(0.6)
    assert margin(900.0) == 10.0


def test_a_function_timeout_too_short_for_drain_mode_is_refused(function_env: Path) -> None:
    with pytest.raises(ConfigurationError, match="raise the function's timeout"):
        handler({}, FakeLambdaContext(800))


def test_settings_come_from_the_environment_with_clear_errors() -> None:
    config = HandlerSettings.from_environ(
        {"BOSUN_APP": "a:app", "BOSUN_QUEUES": "gpu, default", "BOSUN_CONCURRENCY": "4"}
    )
    assert config.queues == ("gpu", "default") and config.concurrency == 4
    with pytest.raises(ConfigurationError, match="BOSUN_APP is not set"):
        HandlerSettings.from_environ({})
    with pytest.raises(ConfigurationError, match="BOSUN_CONCURRENCY"):
        HandlerSettings.from_environ({"BOSUN_APP": "a:app", "BOSUN_CONCURRENCY": "many"})
