"""Budgets on real stores: a run's and a tenant's limits count every recorded LLM call of the
run, whatever steps lie between the calls (tool calls, session appends) and across replays."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

import bosun
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import Rule, ScriptedProvider
from bosun.records import RunFilter
from tests.helpers.wait import wait_until

PER_TOKEN = 0.001  # dollars, prompt and completion alike: cost = tokens / 1000


@pytest.fixture
def app(any_db_url: str) -> bosun.App:
    return bosun.App("budgets", database=any_db_url)


def _looping_agent(app: bosun.App, **prices: float) -> ScriptedProvider:
    """A model that calls the `note` tool on every turn, forever (until a budget stops it)."""
    provider = ScriptedProvider(rules=[Rule("", ScriptedProvider.tool_call("note", text="hi"))])
    config = ModelConfig(alias="default", provider="scripted", model="scripted", **prices)
    app.models.register("default", provider, config)
    return provider


def note(text: str) -> str:
    """Take a note."""
    return f"noted {text}"


async def ask_human(ctx: bosun.Context, question: str) -> str:
    """Ask a person; the run waits for their answer without holding a worker."""
    answer: str = await ctx.wait_for_signal("answer")
    return answer


async def _spent(app: bosun.App, run_id: str) -> list[tuple[int, float]]:
    """(tokens, cost) of each LLM call the run's journal records, in order."""
    async with app:
        journal = await app.store.get_journal(run_id)
    spent = []
    for entry in journal:
        if entry.kind == "llm" and entry.status == "completed":
            output = json.loads(entry.output or "{}")
            usage = output["response"]["usage"]
            spent.append((usage["prompt_tokens"] + usage["completion_tokens"], output["cost"]))
    return spent


def _crossed_on_the_last_call(amounts: list[Any], limit: float) -> None:
    """The call that crossed `limit` was the last one made: none ran after it."""
    assert len(amounts) >= 3, amounts  # calls counted across tool steps, not just the first
    assert sum(amounts[:-1]) < limit <= sum(amounts), (amounts, limit)


async def _suspended(app: bosun.App, run_id: str) -> bool:
    record = await app.store.get_run(run_id)
    return record is not None and record.status == "suspended"


async def test_a_token_budget_stops_a_tool_using_agent_across_a_replay(app: bosun.App) -> None:
    provider = _looping_agent(app)
    human = ScriptedProvider.tool_call("ask_human", question="go on?")
    provider.rules.insert(0, Rule(lambda request: len(provider.calls) == 2, human))
    limit = 600
    agent = bosun.Agent(tools=[note, ask_human], max_turns=50)

    @app.workflow(name="tinker", budget=bosun.Budget(tokens=limit))
    async def tinker(ctx: bosun.Context) -> str:
        return str(await agent.run(ctx, "work on it"))

    async with app, app.worker():
        handle = await app.start(tinker)
        await wait_until(lambda: _suspended(app, handle.run_id), 20, "the run to wait")
        await handle.signal("answer", "yes")  # the run resumes by replaying its journal
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
    error = failed.value.error
    assert error["type"] == "bosun.agents.errors.BudgetExceeded", error
    assert f"token limit {limit} reached" in error["message"]
    tokens = [t for t, _ in await _spent(app, handle.run_id)]
    _crossed_on_the_last_call(tokens, limit)
    assert len(tokens) > 3  # some calls came after the replay
    assert len(provider.calls) == len(tokens)  # no recorded call was made twice


async def test_a_cost_budget_stops_a_tool_using_agent(app: bosun.App) -> None:
    per_million = PER_TOKEN * 1e6
    provider = _looping_agent(app, input_per_million=per_million, output_per_million=per_million)
    limit = 0.6
    agent = bosun.Agent(tools=[note], max_turns=50)

    @app.workflow(name="spender", budget=bosun.Budget(cost=limit))
    async def spender(ctx: bosun.Context) -> str:
        return str(await agent.run(ctx, "work on it"))

    async with app, app.worker():
        handle = await app.start(spender)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
    error = failed.value.error
    assert error["type"] == "bosun.agents.errors.BudgetExceeded", error
    assert "cost limit $0.6000 reached" in error["message"]
    costs = [c for _, c in await _spent(app, handle.run_id)]
    _crossed_on_the_last_call(costs, limit)
    assert len(provider.calls) == len(costs)


async def test_a_tenant_budget_counts_the_calls_not_yet_written(app: bosun.App) -> None:
    """Two calls in a row leave the first one unwritten when the second is checked."""
    provider = ScriptedProvider(rules=[Rule("", "several words of answer")])
    app.models.register("default", provider)
    app.tenant_budget(bosun.Budget(tokens=1, per=timedelta(days=1)), tenant="acme")

    @app.workflow(name="chain")
    async def chain(ctx: bosun.Context) -> None:
        for _ in range(3):
            await ctx.llm.chat("and then?")

    async with app, app.worker():
        handle = await app.start(chain, tenant="acme")
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
    assert "tenant acme: token limit 1 per day reached" in failed.value.error["message"]
    assert len(provider.calls) == 1


async def test_a_tenant_budget_stops_a_tool_using_agent(app: bosun.App) -> None:
    provider = _looping_agent(app)
    limit = 600
    app.tenant_budget(bosun.Budget(tokens=limit), tenant="acme")
    agent = bosun.Agent(tools=[note], max_turns=50)

    @app.workflow(name="tinker")
    async def tinker(ctx: bosun.Context) -> str:
        return str(await agent.run(ctx, "work on it"))

    async with app, app.worker():
        handle = await app.start(tinker, tenant="acme")
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
    assert f"tenant acme: token limit {limit} reached" in failed.value.error["message"]
    tokens = [t for t, _ in await _spent(app, handle.run_id)]
    _crossed_on_the_last_call(tokens, limit)
    assert len(provider.calls) == len(tokens)


async def test_a_child_run_spends_against_its_own_budget_not_its_parents(app: bosun.App) -> None:
    """`ctx.child` starts a run of its own: its calls count against its workflow's budget, so
    a parent whose own calls are under its limit makes its next call after a costly child."""
    provider = ScriptedProvider(rules=[Rule("", "ok")])
    config = ModelConfig(alias="default", provider="scripted", model="scripted")
    app.models.register("default", provider, config)

    @app.workflow(name="once")
    async def once(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("say ok")).message.text

    @app.workflow(name="chatty")
    async def chatty(ctx: bosun.Context) -> int:
        for _ in range(5):
            await ctx.llm.chat("say ok")
        return 5

    async with app, app.worker():
        handle = await app.start(once)
        await handle.result(timeout=30)
    [(tokens, _)] = await _spent(app, handle.run_id)
    limit = 2 * tokens + 1  # the parent's own two calls fit; with the child's five they would not

    @app.workflow(name="frugal", budget=bosun.Budget(tokens=limit))
    async def frugal(ctx: bosun.Context) -> str:
        await ctx.llm.chat("say ok")
        calls: int = await ctx.child(chatty)
        answer = await ctx.llm.chat("say ok")
        return f"{calls} + {answer.message.text}"

    async with app, app.worker():
        parent = await app.start(frugal)
        assert await parent.result(timeout=30) == "5 + ok"
        runs = await app.store.list_runs(RunFilter(workflow="chatty"))
    assert [r.status for r in runs] == ["completed"]
    assert [t for t, _ in await _spent(app, runs[0].id)] == [tokens] * 5
