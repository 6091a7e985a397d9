"""Human approval of tool calls: declared on a tool or an agent, decided from the API, the
CLI, the UI or Python, while the run waits holding no worker.

```python
@app.tool(needs_approval=True, approval_timeout=timedelta(hours=1), on_timeout="reject")
def refund(order_id: int, amount: float) -> str: ...

agent = bosun.Agent(tools=[refund, lookup_order], approve=["lookup_order"])
```

When the model proposes a call that needs approval, the agent records it (tool, arguments,
call id, the tool's JSON schema) as the request of a signal wait named
`bosun.approval:<call id>` before the tool runs, and the run suspends like any
`ctx.wait_for_signal`. `pending_approvals` reads those waits back from the journal;
`decide` answers one with a `Decision`, sent as that signal only while the wait is still
open (in one transaction with the check), so a second decision is refused (409) and a decision
sent while no worker holds the run is applied when it resumes. Replay returns the journaled
decision: a human is never asked twice, and an approved tool that completed never runs again.

- approve: the tool runs with the model's arguments.
- reject: the tool does not run; the model reads the human's message as its result.
- edit: the tool runs with the human's arguments, checked against the tool's schema by the
  API (`schema_check`) and again by the tool's own parameters when it runs. A call that
  cannot run with other arguments (`request_decision(editable=False)`: a hosted tool of an
  SDK the adapters wrap) refuses an edit (400): approve or reject it.
- no decision within the timeout: `on_timeout="reject"` tells the model the call was not
  approved in time; `"fail"` fails the run with `ApprovalTimeout`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from bosun.agents.errors import ApprovalTimeout, OutputParseError
from bosun.agents.schema_check import schema_errors
from bosun.errors import (
    ApprovalDecided,
    ApprovalNotFound,
    ConfigurationError,
    InvalidRequest,
    SignalTimeout,
)
from bosun.records import JournalEntry

if TYPE_CHECKING:
    from bosun.agents.messages import ToolCall, ToolSpec
    from bosun.engine.context import WorkflowContext
    from bosun.store.ports.runs import RunStore

__all__ = [
    "Approval",
    "Decision",
    "PendingApproval",
    "Verdict",
    "approval_of",
    "decide",
    "pending_approvals",
    "request_decision",
    "with_approval",
]

SIGNAL_PREFIX = "bosun.approval:"
REQUESTED_EVENT = "approval.requested"
DEFAULT_REJECTION = "a human reviewer rejected the call"
OnTimeout = Literal["reject", "fail"]
DecisionKind = Literal["approve", "reject", "edit"]
F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "__bosun_approval__"


@dataclass(frozen=True)
class Approval:
    """When calls of a tool need a human's approval, and what happens if none comes in time.

    Attributes:
        when: True to ask for every call, or a function of the call's arguments (a dict,
            checked against the tool's parameters) saying whether this one needs asking. It
            runs in workflow code, again on each replay: keep it a pure function.
        timeout: seconds to wait for a decision; None waits for ever.
        on_timeout: with no decision in time, `"reject"` tells the model the call was not
            approved in time; `"fail"` fails the run with `ApprovalTimeout`.
    """

    when: bool | Callable[[dict[str, Any]], bool] = True
    timeout: float | None = None
    on_timeout: OnTimeout = "reject"

    def __post_init__(self) -> None:
        if self.on_timeout not in ("reject", "fail"):
            raise ConfigurationError(
                f"on_timeout must be 'reject' or 'fail', got {self.on_timeout!r}"
            )
        if self.timeout is not None and not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ConfigurationError(
                f"approval_timeout must be a positive number of seconds, got {self.timeout!r}"
            )

    @classmethod
    def of(
        cls,
        needs_approval: bool | Callable[[dict[str, Any]], bool],
        timeout: float | timedelta | None = None,
        on_timeout: OnTimeout = "reject",
    ) -> Approval:
        """The policy `app.tool(needs_approval=…, approval_timeout=…, on_timeout=…)` means."""
        if not isinstance(needs_approval, bool) and not callable(needs_approval):
            raise ConfigurationError(
                f"needs_approval must be True, False or a function of the call's arguments "
                f"returning a bool, got {needs_approval!r}"
            )
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        return cls(needs_approval, None if seconds is None else float(seconds), on_timeout)

    def applies(self, arguments: dict[str, Any]) -> bool:
        """Whether a call with these arguments must wait for a human."""
        return self.when if isinstance(self.when, bool) else bool(self.when(arguments))


def with_approval(fn: F, approval: Approval) -> F:
    """Mark the tool `fn` as needing `approval` (what `app.tool(needs_approval=…)` does)."""
    setattr(fn, _ATTRIBUTE, approval)
    return fn


def approval_of(fn: Callable[..., Any]) -> Approval | None:
    """The approval a tool declared, if any."""
    found = getattr(fn, _ATTRIBUTE, None)
    return found if isinstance(found, Approval) else None


@dataclass(frozen=True)
class Decision:
    """A human's answer to a proposed tool call.

    Attributes:
        kind: `approve`, `reject` or `edit`.
        message: for `reject`, what the model reads instead of the tool's result.
        arguments: for `edit`, the arguments the tool runs with instead of the model's.
    """

    kind: DecisionKind
    message: str | None = None
    arguments: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("approve", "reject", "edit"):
            raise InvalidRequest(
                f"decision must be 'approve', 'reject' or 'edit', got {self.kind!r}"
            )
        if self.kind == "edit" and not isinstance(self.arguments, dict):
            raise InvalidRequest("an 'edit' decision needs the changed arguments (an object)")
        if self.kind != "edit" and self.arguments is not None:
            raise InvalidRequest("only an 'edit' decision takes arguments")
        if self.kind != "reject" and self.message is not None:
            raise InvalidRequest("only a 'reject' decision takes a message")

    def payload(self) -> dict[str, Any]:
        """The decision as the signal's JSON payload."""
        data: dict[str, Any] = {"decision": self.kind}
        if self.message is not None:
            data["message"] = self.message
        if self.arguments is not None:
            data["arguments"] = self.arguments
        return data


@dataclass(frozen=True)
class PendingApproval:
    """A tool call the model proposed that waits for a human's decision.

    Attributes:
        call_id: the model's id of the call; what a decision names.
        tool: the tool's name.
        arguments: the arguments the model proposed.
        requested_at: when the run asked (UNIX seconds).
        expires_at: when the approval times out (UNIX seconds); None: it waits for ever.
        on_timeout: what happens then (`reject` or `fail`).
        schema: the JSON schema of the tool's arguments (edits are checked against it).
        seq: the journal position of the wait.
        editable: whether an `edit` decision is taken (the tool can run with other arguments).
    """

    call_id: str
    tool: str
    arguments: Any
    requested_at: float | None
    expires_at: float | None
    on_timeout: OnTimeout
    schema: dict[str, Any]
    seq: str
    editable: bool = True

    @property
    def signal(self) -> str:
        """The name of the signal that carries the decision."""
        return SIGNAL_PREFIX + self.call_id


def pending_approvals(journal: Sequence[JournalEntry]) -> list[PendingApproval]:
    """The tool calls of a run's journal that wait for a decision, in the order asked."""
    found: list[PendingApproval] = []
    for entry in journal:
        if _is_approval(entry) and entry.status == "waiting":
            pending = _read_request(entry)
            if pending is not None:
                found.append(pending)
    return found


async def decide(store: RunStore, run_id: str, call_id: str, decision: Decision) -> PendingApproval:
    """Answer the run's pending approval of call `call_id`; return what was decided on.

    Raises:
        RunNotFound: there is no such run.
        ApprovalNotFound: no call of the run waits for approval under that id.
        ApprovalDecided: the call was decided already, or its approval timed out.
        InvalidRequest: edited arguments do not fit the tool's schema, or the call takes no
            edit.
        InvalidRunState: the run has finished.
    """
    journal = await store.get_journal(run_id)
    name = SIGNAL_PREFIX + call_id
    asked = [e for e in journal if _is_approval(e) and e.name == name]
    if not asked:
        raise ApprovalNotFound(
            f"run {run_id} has no tool call {call_id!r} awaiting approval; its pending "
            f"approvals are listed by GET /v1/runs/{run_id} (pending_approvals)"
        )
    waiting = next((e for e in asked if e.status == "waiting"), None)
    pending = None if waiting is None else _read_request(waiting)
    if pending is None:
        raise ApprovalDecided(_settled(run_id, call_id, asked[-1]))
    if decision.kind == "edit" and not pending.editable:
        raise InvalidRequest(
            f"tool call {call_id!r} ({pending.tool}) cannot run with other arguments; nothing "
            f"was sent: approve it, or reject it saying what to do instead"
        )
    if decision.kind == "edit":
        problems = schema_errors(pending.schema, decision.arguments)
        if problems:
            lines = "\n".join(f"- {path or '(arguments)'}: {what}" for path, what in problems)
            raise InvalidRequest(
                f"the edited arguments do not fit tool {pending.tool!r}; nothing was sent:\n{lines}"
            )
    sent = await store.send_signal(
        run_id, name, json.dumps(decision.payload()), waiting_at=pending.seq
    )
    if not sent:  # a decision waits for the run to apply it, or came in meanwhile
        raise ApprovalDecided(
            f"tool call {call_id!r} of run {run_id} was already decided (or its approval "
            f"timed out); the first decision stands"
        )
    return pending


# -- in the workflow --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What the agent does with a call once a human decided (or the time ran out).

    Attributes:
        arguments: the JSON text of the arguments to run the tool with (the model's, or the
            human's edit); None when the tool must not run.
        answer: what the model reads instead of a result when the tool does not run.
    """

    arguments: str | None
    answer: str = ""


async def request_decision(
    ctx: WorkflowContext,
    call: ToolCall,
    spec: ToolSpec,
    approval: Approval,
    *,
    editable: bool = True,
) -> Verdict:
    """Wait, suspended, for a human's decision on `call` (journaled: replay returns it).

    `editable=False` marks a call that cannot run with other arguments: an `edit` of it is
    refused (`decide` raises `InvalidRequest`).

    Raises:
        ApprovalTimeout: no decision came in time and the approval says `on_timeout="fail"`.
    """
    call_id = call.id or f"{call.name}-{ctx.uuid().hex[:12]}"
    request = {
        "call_id": call_id,
        "tool": call.name,
        "arguments": _proposed(call.arguments),
        "schema": spec.parameters,
        "on_timeout": approval.on_timeout,
    }
    if not editable:
        request["editable"] = False
    shown = {k: v for k, v in request.items() if k != "schema"}
    ctx.emit(REQUESTED_EVENT, {**shown, "timeout": approval.timeout})  # once, not on replay
    name = SIGNAL_PREFIX + call_id
    try:
        payload = await ctx._execution.wait_for_signal(name, approval.timeout, json.dumps(request))
    except SignalTimeout:
        if approval.on_timeout == "fail":
            raise ApprovalTimeout(
                f"nobody approved tool call {call.name!r} ({call_id}) within "
                f"{approval.timeout:g} s, and the tool says on_timeout='fail'; decide pending "
                f"calls in time (bosun runs approve), or allow longer (approval_timeout=)"
            ) from None
        return Verdict(
            None,
            f"error: the call was not approved in time (no decision within "
            f"{approval.timeout:g} s); it did not run",
        )
    return _verdict(payload, call.arguments)


def _verdict(payload: Any, proposed: str) -> Verdict:
    """What a decision's payload means for the call; a payload that is no decision (a hand-
    sent signal) rejects the call, saying why."""
    data = payload if isinstance(payload, Mapping) else {}
    kind = data.get("decision")
    if kind == "approve":
        return Verdict(proposed)
    if kind == "edit" and isinstance(data.get("arguments"), dict):
        return Verdict(json.dumps(data["arguments"]))
    if kind == "reject":
        message = data.get("message")
        text = message if isinstance(message, str) and message.strip() else DEFAULT_REJECTION
        return Verdict(None, f"the call was rejected and did not run: {text}")
    return Verdict(None, f"error: the call did not run: {payload!r} is not a decision")


def _proposed(arguments: str) -> Any:
    # Here, not at the top: listing a run's pending approvals (`bosun runs show`, the API)
    # needs no pydantic, which the agent toolkit's messages and parser import.
    from bosun.agents.structured import extract_json

    try:
        return extract_json(arguments) if arguments.strip() else {}
    except OutputParseError:
        return arguments  # shown as the model wrote it; an edit can fix it


def _is_approval(entry: JournalEntry) -> bool:
    return entry.kind == "signal" and entry.name.startswith(SIGNAL_PREFIX)


def _read_request(entry: JournalEntry) -> PendingApproval | None:
    try:
        data = json.loads(entry.output or "")
        return PendingApproval(
            call_id=str(data["call_id"]),
            tool=str(data["tool"]),
            arguments=data.get("arguments"),
            requested_at=entry.started_at,
            expires_at=entry.wake_at,
            on_timeout="fail" if data.get("on_timeout") == "fail" else "reject",
            schema=data.get("schema") if isinstance(data.get("schema"), dict) else {},
            seq=entry.seq,
            editable=data.get("editable") is not False,
        )
    except (ValueError, KeyError, TypeError):
        return None  # a wait of that name some workflow made by hand: not ours to show


def _settled(run_id: str, call_id: str, entry: JournalEntry) -> str:
    if entry.status == "failed":
        return (
            f"the approval of tool call {call_id!r} of run {run_id} timed out; the run went "
            f"on without it"
        )
    try:
        decided = json.loads(entry.output or "null").get("decision", "decided")
    except (ValueError, AttributeError):
        decided = "decided"
    return (
        f"tool call {call_id!r} of run {run_id} was already decided ({decided}); a decision "
        f"cannot be changed"
    )
