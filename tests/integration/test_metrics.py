"""Prometheus metrics after a known workload, scraped over HTTP from a real server, and the
queue-depth collector on both stores."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import bosun
from bosun.agents.messages import ChatResponse, Message, Usage
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import ScriptedProvider
from bosun.observe.metrics import Metrics
from bosun.records import NewRun, Outcome, Progress
from bosun.server import ServerConfig
from bosun.store import Store
from tests.helpers.processes import SANDBOX_GROUP
from tests.helpers.serving import serve

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape by (name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def build(db_url: str) -> bosun.App:
    """Five runs of a three-step workflow (one retried, one failing) and one LLM call."""
    app = bosun.App("metrics", database=db_url)
    attempts: Counter[int] = Counter()

    @app.step(name="fetch")
    async def fetch(n: int) -> int:
        return n

    @app.step(name="flaky", retry=bosun.Retry(attempts=3, initial=0.05))
    async def flaky(n: int) -> int:
        attempts[n] += 1
        if n == 1 and attempts[n] == 1:
            raise RuntimeError("transient")
        return n

    @app.step(name="save")
    async def save(n: int) -> int:
        if n == 4:
            raise ValueError("refused")
        return n

    @app.workflow(name="three_steps")
    async def three_steps(ctx: bosun.Context, n: int) -> int:
        return await save(await flaky(await fetch(n)))

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hi")).message.content or ""

    answer = ChatResponse(
        message=Message.assistant("hello"),
        usage=Usage(prompt_tokens=120, completion_tokens=30),
        model="tiny-model",
    )
    config = ModelConfig(
        alias="default",
        provider="scripted",
        model="tiny-model",
        input_per_million=1000,
        output_per_million=2000,
    )
    app.models.register("default", ScriptedProvider(script=[answer]), config)
    return app


async def _stranded_run(db_url: str) -> str:
    """A run claimed by a worker that vanished: its lease expires in 0.2 s."""
    app = build(db_url)
    async with app:
        handle = await app.start("three_steps", 0)
        claimed = await app.store.claim_runs("ghost", ["default"], 1, 0.2, time.time())
        assert [c.run.id for c in claimed] == [handle.run_id]
    return handle.run_id


def _wait_finished(client: httpx.Client, run_ids: list[str]) -> dict[str, str]:
    statuses: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        statuses = {i: client.get(f"/v1/runs/{i}").json()["status"] for i in run_ids}
        if all(s in ("completed", "failed") for s in statuses.values()):
            return statuses
        time.sleep(0.05)
    raise AssertionError(f"runs did not finish: {statuses}")


def test_a_known_workload_gives_exact_counts_at_the_servers_metrics(db_url: str) -> None:
    stranded = asyncio.run(_stranded_run(db_url))
    app = build(db_url)
    config = ServerConfig(worker_concurrency=4, rate_limit=0)
    with serve(app, config) as served:
        key = served.key("acme", "submit", "read")
        with served.client(key) as client:
            ids = [
                client.post("/v1/runs", json={"workflow": "three_steps", "input": {"n": n}})
                .raise_for_status()
                .json()["id"]
                for n in (1, 2, 3, 4)
            ]
            ids.append(client.post("/v1/runs", json={"workflow": "ask"}).json()["id"])
            statuses = _wait_finished(client, ids)
        # The stranded run belongs to the default tenant: another key reads it.
        with served.client(served.key("default", "read")) as other:
            _wait_finished(other, [stranded])
        assert sorted(statuses.values()) == ["completed"] * 4 + ["failed"]
        with httpx.Client(base_url=served.url) as anonymous:  # Prometheus sends no key
            scraped = anonymous.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    m = parse(scraped.text)
    # Submitted through this server: 4 + 1 (the stranded run came from another process).
    assert value(m, "bosun_runs_submitted_total", workflow="three_steps") == 4
    assert value(m, "bosun_runs_submitted_total", workflow="ask") == 1
    assert value(m, "bosun_runs_finished_total", workflow="three_steps", status="completed") == 4
    assert value(m, "bosun_runs_finished_total", workflow="three_steps", status="failed") == 1
    assert value(m, "bosun_runs_finished_total", workflow="ask", status="completed") == 1

    def steps(step: str, status: str, kind: str = "step") -> float:
        name = "bosun_step_duration_seconds_count"
        return value(m, name, kind=kind, step=step, status=status)

    assert steps("fetch", "completed") == 5
    assert steps("flaky", "retrying") == 1
    assert steps("flaky", "completed") == 5
    assert steps("save", "completed") == 4
    assert steps("save", "failed") == 1
    assert steps("llm:default", "completed", kind="llm") == 1
    assert value(m, "bosun_step_retries_total", kind="step", step="flaky") == 1
    # The retry waited on a durable timer: the run was executed twice.
    assert value(m, "bosun_run_executions_total", workflow="three_steps", outcome="suspend") == 1
    assert value(m, "bosun_lease_takeovers_total", queue="default") == 1

    tokens = "bosun_llm_tokens_total"
    assert value(m, tokens, model="tiny-model", tenant="acme", type="input") == 120
    assert value(m, tokens, model="tiny-model", tenant="acme", type="output") == 30
    cost = value(m, "bosun_llm_cost_usd_total", model="tiny-model", tenant="acme")
    assert cost == pytest.approx(120 * 1000 / 1e6 + 30 * 2000 / 1e6)
    assert value(m, "bosun_llm_call_duration_seconds_count", model="tiny-model") == 1

    assert value(m, "bosun_worker_slots", state="busy") == 0
    assert value(m, "bosun_worker_slots", state="free") == 4
    assert value(m, "bosun_queue_ready_runs", queue="default") == 0
    assert value(m, "bosun_queue_in_flight_runs", queue="default") == 0


def test_a_metrics_token_is_required_when_set(db_url: str) -> None:
    app = bosun.App("metrics", database=db_url)
    with (
        serve(app, ServerConfig(metrics_token="s3cret")) as served,
        httpx.Client(base_url=served.url) as client,
    ):
        refused = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        allowed = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert refused.status_code == wrong.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert "metrics token" in refused.json()["detail"]
    assert allowed.status_code == 200
    assert "bosun_worker_slots" in allowed.text


def _new(run_id: str, queue: str) -> NewRun:
    return NewRun(id=run_id, workflow="wf", queue=queue, input="{}")


async def test_queue_depths_come_from_the_store_and_are_cached(store: Store) -> None:
    for i in range(3):
        await store.create_run(_new(f"d{i}", "default"))
    await store.create_run(_new("g0", "gpu"))
    await store.claim_runs("w", ["default"], 1, 30, time.time())
    await asyncio.sleep(0.05)  # the oldest ready run has waited a little
    metrics = Metrics(queue_stats_max_age=3600)

    async def scrape() -> Samples:
        await metrics.refresh_queues(store)
        return parse(generate_latest(metrics.registry).decode())

    m = await scrape()
    assert value(m, "bosun_queue_ready_runs", queue="default") == 2
    assert value(m, "bosun_queue_in_flight_runs", queue="default") == 1
    assert value(m, "bosun_queue_ready_runs", queue="gpu") == 1
    assert value(m, "bosun_queue_in_flight_runs", queue="gpu") == 0
    assert value(m, "bosun_queue_oldest_ready_age_seconds", queue="default") > 0
    # Within max_age a scrape serves the last reading: it does not query again.
    await store.create_run(_new("g1", "gpu"))
    assert value(await scrape(), "bosun_queue_ready_runs", queue="gpu") == 1
    metrics.queues.max_age = 0
    assert value(await scrape(), "bosun_queue_ready_runs", queue="gpu") == 2


QUEUE_GAUGES = (
    "bosun_queue_ready_runs",
    "bosun_queue_in_flight_runs",
    "bosun_queue_waiting_runs",
    "bosun_queue_oldest_ready_age_seconds",
)


def queue_series(samples: Samples, queue: str) -> dict[str, float]:
    """The queue gauges exposed for `queue` (absent ones are missing, not 0)."""
    return {
        name: samples[(name, frozenset({("queue", queue)}))]
        for name in QUEUE_GAUGES
        if (name, frozenset({("queue", queue)})) in samples
    }


async def test_a_queue_that_emptied_keeps_its_series_at_zero(store: Store) -> None:
    await store.create_run(_new("g0", "gpu"))
    metrics = Metrics(queue_stats_max_age=0)

    async def scrape() -> Samples:
        await metrics.refresh_queues(store)
        return parse(generate_latest(metrics.registry).decode())

    assert queue_series(await scrape(), "gpu")["bosun_queue_ready_runs"] == 1
    [claimed] = await store.claim_runs("w", ["gpu"], 1, 30, time.time())
    await store.save_progress(claimed.lease, Progress(outcome=Outcome("complete", result="1")), 30)
    assert queue_series(await scrape(), "gpu") == dict.fromkeys(QUEUE_GAUGES, 0.0)


def test_the_apps_unused_queues_are_exported_at_zero_from_the_start(db_url: str) -> None:
    app = bosun.App("metrics", database=db_url)

    @app.workflow(name="render", queue="gpu")
    async def render(ctx: bosun.Context) -> None:
        return None

    with (
        serve(app, ServerConfig(worker_concurrency=0)) as served,
        httpx.Client(base_url=served.url) as anonymous,  # Prometheus sends no key
    ):
        scraped = anonymous.get("/metrics")
    assert scraped.status_code == 200
    m = parse(scraped.text)
    assert queue_series(m, "gpu") == dict.fromkeys(QUEUE_GAUGES, 0.0)
    assert queue_series(m, "default") == dict.fromkeys(QUEUE_GAUGES, 0.0)  # webhook deliveries


async def test_a_claim_says_whether_it_took_over_an_expired_lease(store: Store) -> None:
    await store.create_run(_new("r1", "default"))
    now = time.time()
    first = await store.claim_runs("a", ["default"], 1, 5, now)
    assert [(c.run.id, c.took_over) for c in first] == [("r1", False)]
    assert await store.claim_runs("b", ["default"], 1, 5, now + 1) == []  # lease still held
    later = await store.claim_runs("b", ["default"], 1, 5, now + 6)
    assert [(c.run.id, c.took_over) for c in later] == [("r1", True)]


def test_every_metric_is_documented() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    names = Metrics().names()
    families = {n for n in names if not n.endswith(("_bucket", "_sum", "_count"))}
    exposed = {n for n in families if n.endswith("_total") or f"{n}_total" not in families}
    missing = sorted(name for name in exposed if f"`{name}`" not in docs)
    assert not missing, f"docs/metrics.md does not describe {missing}"


@SANDBOX_GROUP  # runs sandboxes: see tests/helpers/processes.py
async def test_sandbox_runs_are_counted_by_outcome(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bosun.sandbox

    monkeypatch.setenv("BOSUN_SANDBOX", "none")  # the outcome, not the isolation, is tested
    bosun.sandbox._forget()
    app = bosun.App("sandboxed", database=db_url)

    @app.step(name="run_code")
    async def run_code(code: str) -> int | None:
        return (await bosun.sandbox.run(python=code)).exit_code

    @app.workflow(name="codes")
    async def codes(ctx: bosun.Context) -> list[int | None]:
        return [await run_code("print(1)"), await run_code("raise SystemExit(3)")]

    try:
        async with app, app.worker(concurrency=1):
            handle = await app.start(codes)
            assert await handle.result(timeout=30) == [0, 3]
        await bosun.sandbox.run(python="print('outside a run: not counted')")
    finally:
        bosun.sandbox._forget()
    m = parse(generate_latest(app.observability.metrics.registry).decode())
    assert value(m, "bosun_sandbox_runs_total", backend="none", outcome="ok") == 1
    assert value(m, "bosun_sandbox_runs_total", backend="none", outcome="error") == 1


async def test_a_process_that_discards_its_metrics_counts_nothing_and_runs_the_same(
    db_url: str,
) -> None:
    """`bosun run` and a worker without `--metrics-port` never expose their metrics: they
    discard them, and the runs go on as before."""
    app = bosun.App("discarding", database=db_url)

    @app.step(name="bump")
    async def bump(n: int) -> int:
        return n + 1

    @app.workflow(name="go")
    async def go(ctx: bosun.Context, n: int) -> int:
        return await bump(n)

    app.observability.discard_metrics()
    async with app, app.worker(concurrency=2):
        handle = await app.start("go", 1)
        assert await handle.result(timeout=30) == 2
        # While the worker runs (a stopped one has no free slots either way).
        running = parse(generate_latest(app.observability.metrics.registry).decode())
        assert value(running, "bosun_worker_slots", state="free") == 0  # no worker registered
    scraped = parse(generate_latest(app.observability.metrics.registry).decode())
    assert value(scraped, "bosun_runs_submitted_total", workflow="go") == 0
    assert value(scraped, "bosun_run_executions_total", workflow="go", outcome="complete") == 0
