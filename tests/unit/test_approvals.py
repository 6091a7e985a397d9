"""Approvals without I/O: the policy a declaration makes, decisions and what they mean for a
call, pending approvals read from a journal, and edited arguments checked against a tool's
JSON schema."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import BaseModel

import bosun
from bosun.agents.approvals import (
    Approval,
    Decision,
    _verdict,
    approval_of,
    decide,
    pending_approvals,
)
from bosun.agents.schema_check import schema_errors
from bosun.agents.tools import tool_spec
from bosun.errors import ConfigurationError, InvalidRequest
from bosun.records import JournalEntry


class Line(BaseModel):
    sku: str
    quantity: int = 1


def order(customer: str, lines: list[Line], rush: bool = False, note: str | None = None) -> str:
    """Place an order."""
    return ""


SCHEMA = tool_spec(order).parameters


def test_app_tool_declares_an_approval_policy() -> None:
    app = bosun.App("t")

    @app.tool(needs_approval=True, approval_timeout=timedelta(hours=1), on_timeout="fail")
    def refund(amount: float) -> str:
        return ""

    @app.tool()
    def lookup(order_id: int) -> str:
        return ""

    assert approval_of(refund) == Approval(True, 3600.0, "fail")
    assert approval_of(lookup) is None
    with pytest.raises(ConfigurationError, match="on_timeout"):
        app.tool(needs_approval=True, on_timeout="ignore")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="positive"):
        app.tool(needs_approval=True, approval_timeout=-1)
    with pytest.raises(ConfigurationError, match="needs_approval tools only"):
        app.tool(approval_timeout=10)


def test_a_callable_policy_decides_per_call() -> None:
    policy = Approval.of(lambda args: args["amount"] > 25)
    assert policy.applies({"amount": 40}) and not policy.applies({"amount": 10})


def test_decisions_are_checked_when_made() -> None:
    with pytest.raises(InvalidRequest, match="must be 'approve'"):
        Decision("maybe")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="needs the changed arguments"):
        Decision("edit")
    with pytest.raises(InvalidRequest, match="only an 'edit'"):
        Decision("approve", arguments={})
    with pytest.raises(InvalidRequest, match="only a 'reject'"):
        Decision("approve", message="ok")
    assert Decision("reject", message="no").payload() == {"decision": "reject", "message": "no"}


def test_what_a_decision_means_for_the_call() -> None:
    proposed = '{"amount": 40}'
    assert _verdict({"decision": "approve"}, proposed).arguments == proposed
    edited = _verdict({"decision": "edit", "arguments": {"amount": 5}}, proposed)
    assert json.loads(edited.arguments or "") == {"amount": 5}
    rejected = _verdict({"decision": "reject", "message": "too much"}, proposed)
    assert rejected.arguments is None and rejected.answer.endswith(": too much")
    assert "rejected" in _verdict({"decision": "reject"}, proposed).answer
    stray = _verdict({"ok": True}, proposed)  # a hand-sent signal: the call does not run
    assert stray.arguments is None and "not a decision" in stray.answer


def test_pending_approvals_are_read_from_the_journal() -> None:
    request = {"call_id": "c1", "tool": "refund", "arguments": {"amount": 40}, "schema": {}}
    journal = [
        JournalEntry("1", "llm", "llm:default", "completed", output="{}"),
        JournalEntry(
            "2.0.1",
            "signal",
            "bosun.approval:c1",
            "waiting",
            output=json.dumps(request),
            started_at=10.0,
            wake_at=70.0,
        ),
        JournalEntry("2.1.1", "signal", "bosun.approval:c0", "completed", output="{}"),
        JournalEntry("3", "signal", "approval", "waiting"),  # a hand-written wait
    ]
    (pending,) = pending_approvals(journal)
    assert (pending.call_id, pending.tool, pending.arguments) == ("c1", "refund", {"amount": 40})
    assert (pending.requested_at, pending.expires_at, pending.seq) == (10.0, 70.0, "2.0.1")
    assert pending.on_timeout == "reject" and pending.signal == "bosun.approval:c1"


class _Journal:
    """The two store operations `decide` uses, over a fixed journal."""

    def __init__(self, entries: list[JournalEntry]) -> None:
        self.entries = entries
        self.sent: list[tuple[str, str]] = []

    async def get_journal(self, run_id: str, *, status: str | None = None) -> list[JournalEntry]:
        return [e for e in self.entries if status is None or e.status == status]

    async def send_signal(self, run_id: str, name: str, payload: str, *, waiting_at: str) -> bool:
        self.sent.append((name, payload))
        return True


async def test_a_call_that_takes_no_edit_refuses_one_and_takes_the_other_decisions() -> None:
    """An SDK's hosted tool (an adapter asks with `editable=False`) cannot run with other
    arguments: an edit is refused, sending nothing; approve and reject are taken."""
    request = {"call_id": "mcp_1", "tool": "hosted", "arguments": {}, "editable": False}
    entry = JournalEntry(
        "1.2.0.1", "signal", "bosun.approval:mcp_1", "waiting", output=json.dumps(request)
    )
    store = _Journal([entry])
    (pending,) = pending_approvals(store.entries)
    assert pending.editable is False
    with pytest.raises(InvalidRequest, match="cannot run with other arguments"):
        await decide(store, "r", "mcp_1", Decision("edit", arguments={"x": 1}))  # type: ignore[arg-type]
    assert store.sent == []
    await decide(store, "r", "mcp_1", Decision("approve"))  # type: ignore[arg-type]
    assert store.sent == [("bosun.approval:mcp_1", '{"decision": "approve"}')]


def test_arguments_that_fit_the_schema_pass() -> None:
    good = {"customer": "ann", "lines": [{"sku": "kettle", "quantity": 2}], "note": None}
    assert schema_errors(SCHEMA, good) == []
    assert schema_errors(SCHEMA, {"customer": "ann", "lines": [], "rush": True}) == []


def test_arguments_that_do_not_fit_are_named_field_by_field() -> None:
    bad = {"lines": [{"sku": 3}, {"sku": "x", "quantity": 1.5}], "rush": "yes", "colour": "red"}
    assert schema_errors(SCHEMA, bad) == [
        ("", "'customer' is a required property"),
        ("", "Additional properties are not allowed ('colour' was unexpected)"),
        ("lines[0].sku", "3 is not of type 'string'"),
        ("lines[1].quantity", "1.5 is not of type 'integer'"),
        ("rush", "'yes' is not of type 'boolean'"),
    ]
    assert schema_errors(SCHEMA, [1]) == [("", "[1] is not of type 'object'")]


def test_bounds_enums_and_unions() -> None:
    schema = {
        "type": "object",
        "properties": {
            "level": {"enum": ["low", "high"]},
            "count": {"type": "integer", "minimum": 1, "maximum": 3},
            "code": {"type": "string", "pattern": "^[A-Z]+$", "maxLength": 4},
            "either": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        },
    }
    problems = schema_errors(schema, {"level": "mid", "count": 9, "code": "abcde", "either": "x"})
    assert ("level", "'mid' is not one of ['low', 'high']") in problems
    assert ("count", "9 is greater than the maximum of 3") in problems
    assert ("code", "'abcde' is too long") in problems
    assert ("code", "'abcde' does not match '^[A-Z]+$'") in problems
    assert ("either", "'x' is not valid under any of the given schemas") in problems


def test_a_schema_that_is_not_json_schema_checks_nothing() -> None:
    assert schema_errors({"type": "no-such-type"}, {"a": 1}) == []
