"""Human approval of tool calls on real stores: the run suspends before the tool runs, with the
proposed call visible; approve, reject (the model reads the message), edit (checked against
the tool's schema), timeouts that reject or fail, decisions refused twice or for unknown calls,
and a decision sent while no worker holds the run."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest

import bosun
from bosun.agents.approvals import PendingApproval
from bosun.agents.messages import ToolSpec
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import ScriptedProvider
from bosun.agents.tools import SourcedTool
from bosun.errors import ApprovalDecided, ApprovalNotFound, InvalidRequest
from tests.helpers.wait import wait_until

CALL = "call_1_0"  # the scripted provider's id of its first answer's first call


@pytest.fixture
def app(any_db_url: str) -> bosun.App:
    return bosun.App("approvals", database=any_db_url)


def _scripted(app: bosun.App, *replies: Any) -> ScriptedProvider:
    provider = ScriptedProvider(script=list(replies))
    config = ModelConfig(alias="default", provider="scripted", model="scripted")
    app.models.register("default", provider, config)
    return provider


def _agent_workflow(app: bosun.App, agent: bosun.Agent) -> Any:
    @app.workflow(name="agent")
    async def agent_workflow(ctx: bosun.Context, message: str) -> str:
        return str(await agent.run(ctx, message))

    return agent_workflow


def _refund_tool(app: bosun.App, refunds: list[tuple[int, float]], **declared: Any) -> Any:
    @app.tool(**declared)
    def refund(order_id: int, amount: float) -> str:
        """Refund part of an order.

        Args:
            order_id: the order.
            amount: dollars to refund.
        """
        refunds.append((order_id, amount))
        return f"refunded ${amount:.2f} on order {order_id}"

    return refund


async def _pending(handle: bosun.RunHandle[Any]) -> list[PendingApproval]:
    async def found() -> list[PendingApproval]:
        record = await handle.status()
        return await handle.pending_approvals() if record.status == "suspended" else []

    return await wait_until(found, 30, f"a pending approval of run {handle.run_id}")


def _tool_answers(provider: ScriptedProvider, turn: int) -> list[str]:
    return [m.content or "" for m in provider.calls[turn].messages if m.role == "tool"]


async def test_an_approved_call_runs_once_after_the_decision(app: bosun.App) -> None:
    refunds: list[tuple[int, float]] = []
    provider = _scripted(app, ScriptedProvider.tool_call("refund", order_id=7, amount=40), "done")
    refund = _refund_tool(app, refunds, needs_approval=True)
    workflow = _agent_workflow(app, bosun.Agent(tools=[refund]))

    async with app, app.worker():
        handle = await app.start(workflow, "refund order 7")
        (pending,) = await _pending(handle)
        assert (pending.call_id, pending.tool) == (CALL, "refund")
        assert pending.arguments == {"order_id": 7, "amount": 40}
        assert pending.requested_at is not None and pending.expires_at is None
        assert refunds == [] and len(provider.calls) == 1  # suspended before the tool ran
        await handle.approve(CALL)
        assert await handle.result(timeout=30) == "done"
        with pytest.raises(ApprovalDecided, match="already decided"):
            await handle.approve(CALL)
        events = [e.type for e in await app.store.list_events(handle.run_id)]
    assert refunds == [(7, 40.0)]
    assert len(provider.calls) == 2  # the replay after the decision asked the model nothing
    assert _tool_answers(provider, 1) == ["refunded $40.00 on order 7"]
    assert events.count("approval.requested") == 1  # asked once, replays included


async def test_a_rejected_call_does_not_run_and_the_model_reads_the_message(
    app: bosun.App,
) -> None:
    refunds: list[tuple[int, float]] = []
    provider = _scripted(app, ScriptedProvider.tool_call("refund", order_id=7, amount=40), "ok")
    refund = _refund_tool(app, refunds, needs_approval=True)
    workflow = _agent_workflow(app, bosun.Agent(tools=[refund]))

    async with app, app.worker():
        handle = await app.start(workflow, "refund order 7")
        await _pending(handle)
        await handle.reject(CALL, message="refunds over $25 need a manager")
        assert await handle.result(timeout=30) == "ok"
    assert refunds == []
    (answer,) = _tool_answers(provider, 1)
    assert "rejected" in answer and "refunds over $25 need a manager" in answer


async def test_an_edited_call_runs_with_the_new_arguments_once_they_fit(app: bosun.App) -> None:
    refunds: list[tuple[int, float]] = []
    provider = _scripted(app, ScriptedProvider.tool_call("refund", order_id=7, amount=40), "ok")
    refund = _refund_tool(app, refunds, needs_approval=True)
    workflow = _agent_workflow(app, bosun.Agent(tools=[refund]))

    async with app, app.worker():
        handle = await app.start(workflow, "refund order 7")
        await _pending(handle)
        with pytest.raises(InvalidRequest) as bad:
            await handle.edit(CALL, {"order_id": "seven", "amount": 20, "note": "x"})
        assert "order_id" in str(bad.value) and "note" in str(bad.value)
        assert [p.call_id for p in await handle.pending_approvals()] == [CALL]  # nothing lost
        await handle.edit(CALL, {"order_id": 7, "amount": 20})
        assert await handle.result(timeout=30) == "ok"
    assert refunds == [(7, 20.0)]
    assert _tool_answers(provider, 1) == ["refunded $20.00 on order 7"]


@pytest.mark.parametrize("on_timeout", ["reject", "fail"])
async def test_an_approval_that_times_out_follows_its_policy(
    app: bosun.App, on_timeout: str
) -> None:
    refunds: list[tuple[int, float]] = []
    provider = _scripted(app, ScriptedProvider.tool_call("refund", order_id=7, amount=40), "ok")
    refund = _refund_tool(
        app,
        refunds,
        needs_approval=True,
        approval_timeout=timedelta(milliseconds=300),
        on_timeout=on_timeout,
    )
    workflow = _agent_workflow(app, bosun.Agent(tools=[refund]))

    async with app, app.worker():
        handle = await app.start(workflow, "refund order 7")
        if on_timeout == "reject":
            assert await handle.result(timeout=30) == "ok"
            (answer,) = _tool_answers(provider, 1)
            assert "not approved in time" in answer
        else:
            with pytest.raises(bosun.RunFailed) as failed:
                await handle.result(timeout=30)
            assert failed.value.error["type"].endswith("ApprovalTimeout")
            assert "on_timeout='fail'" in failed.value.error["message"]
            assert len(provider.calls) == 1
    assert refunds == []


async def test_a_decision_after_the_deadline_is_refused_though_no_worker_saw_it_pass(
    app: bosun.App,
) -> None:
    """Past its deadline an approval has timed out, whether or not a worker has recorded it:
    a decision then is refused (409), never accepted and then dropped by a worker that
    records the timeout meanwhile."""
    refunds: list[tuple[int, float]] = []
    provider = _scripted(app, ScriptedProvider.tool_call("refund", order_id=7, amount=40), "ok")
    refund = _refund_tool(
        app, refunds, needs_approval=True, approval_timeout=timedelta(milliseconds=500)
    )
    workflow = _agent_workflow(app, bosun.Agent(tools=[refund]))

    async with app:
        async with app.worker():
            handle = await app.start(workflow, "refund order 7")
            (pending,) = await _pending(handle)
        assert pending.expires_at is not None
        await wait_until(lambda: time.time() > pending.expires_at, 30, "the deadline to pass")
        with pytest.raises(ApprovalDecided, match="timed out"):
            await handle.approve(CALL)  # no worker has recorded the timeout yet
        async with app.worker():
            assert await handle.result(timeout=30) == "ok"
    (answer,) = _tool_answers(provider, 1)
    assert "not approved in time" in answer
    assert refunds == []


async def test_decisions_for_unknown_calls_or_twice_are_refused(app: bosun.App) -> None:
    refunds: list[tuple[int, float]] = []
    _scripted(app, ScriptedProvider.tool_call("refund", order_id=7, amount=40), "ok")
    refund = _refund_tool(app, refunds, needs_approval=True)
    workflow = _agent_workflow(app, bosun.Agent(tools=[refund]))

    async with app:
        async with app.worker():
            handle = await app.start(workflow, "refund order 7")
            await _pending(handle)
        # No worker holds the run now: the decision waits in the database.
        with pytest.raises(ApprovalNotFound, match="no tool call 'call_9'"):
            await handle.approve("call_9")
        await handle.reject(CALL, message="no")
        with pytest.raises(ApprovalDecided):
            await handle.approve(CALL)  # the first decision is not consumed yet, and stands
        async with app.worker():
            assert await handle.result(timeout=30) == "ok"
    assert refunds == []


async def test_needs_approval_may_depend_on_the_arguments(app: bosun.App) -> None:
    refunds: list[tuple[int, float]] = []
    provider = _scripted(
        app,
        ScriptedProvider.tool_calls(
            ("refund", {"order_id": 7, "amount": 10}),
            ("refund", {"order_id": 8, "amount": 90}),
        ),
        "ok",
    )
    refund = _refund_tool(app, refunds, needs_approval=lambda args: args["amount"] > 25)
    workflow = _agent_workflow(app, bosun.Agent(tools=[refund]))

    async with app, app.worker():
        handle = await app.start(workflow, "refund orders 7 and 8")
        (pending,) = await _pending(handle)
        assert pending.call_id == "call_1_1" and pending.arguments["amount"] == 90
        assert refunds == [(7, 10.0)]  # the small one ran without asking
        await handle.approve("call_1_1")
        assert await handle.result(timeout=30) == "ok"
    assert sorted(refunds) == [(7, 10.0), (8, 90.0)]
    assert len(provider.calls) == 2


async def test_an_agent_can_require_approval_of_any_of_its_tools(app: bosun.App) -> None:
    looked_up: list[int] = []

    def lookup_order(order_id: int) -> str:
        """Look an order up."""
        looked_up.append(order_id)
        return json.dumps({"order_id": order_id, "item": "kettle"})

    provider = _scripted(app, ScriptedProvider.tool_call("lookup_order", order_id=7), "ok")
    agent = bosun.Agent(tools=[lookup_order], approve=["lookup_order"])
    workflow = _agent_workflow(app, agent)

    async with app, app.worker():
        handle = await app.start(workflow, "where is order 7?")
        (pending,) = await _pending(handle)
        assert pending.tool == "lookup_order" and looked_up == []
        await handle.approve(pending.call_id)
        assert await handle.result(timeout=30) == "ok"
    assert looked_up == [7]
    assert len(provider.calls) == 2


def test_approve_must_name_tools_the_agent_has() -> None:
    def lookup_order(order_id: int) -> str:
        """Look an order up."""
        return ""

    with pytest.raises(bosun.ConfigurationError, match="refund"):
        bosun.Agent(tools=[lookup_order], approve=["refund"])


class _Inventory:
    """A tool source offering one tool, `restock`, found at run time (as an MCP server's)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def discover(self, ctx: bosun.Context) -> list[SourcedTool]:
        spec = ToolSpec(
            name="restock",
            parameters={
                "type": "object",
                "properties": {"sku": {"type": "string"}},
                "required": ["sku"],
            },
        )
        return [SourcedTool(spec, self._call)]

    async def _call(self, ctx: Any, arguments: str) -> str:
        self.calls.append(arguments)
        return "restocked " + json.loads(arguments)["sku"]


async def test_a_sourced_tool_named_in_approve_waits_and_runs_edited(app: bosun.App) -> None:
    source = _Inventory()
    provider = _scripted(app, ScriptedProvider.tool_call("restock", sku="kettle"), "ok")
    workflow = _agent_workflow(app, bosun.Agent(tools=[source], approve=["restock"]))

    async with app, app.worker():
        handle = await app.start(workflow, "restock the kettle")
        (pending,) = await _pending(handle)
        assert pending.arguments == {"sku": "kettle"} and source.calls == []
        with pytest.raises(InvalidRequest, match="sku"):
            await handle.edit(pending.call_id, {"sku": 7})
        await handle.edit(pending.call_id, {"sku": "teapot"})
        assert await handle.result(timeout=30) == "ok"
    assert [json.loads(c) for c in source.calls] == [{"sku": "teapot"}]
    assert _tool_answers(provider, 1) == ["restocked teapot"]
