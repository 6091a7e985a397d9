"""The SDK's tool approvals (`function_tool(needs_approval=…)`, a run's `interruptions`)
decided through bosun's approvals (`bosun.agents.approvals`).

The SDK stops a run whose model asked for a call that needs approval, and returns the calls
as `RunResult.interruptions`. For each of them the run waits, suspended and holding no
worker, for a human's decision (a journaled signal wait, listed in the run's
`pending_approvals`); then the decisions go to the SDK's own `RunState.approve` / `reject`, and
the run resumes from that state. A replay returns the journaled decisions: nobody is asked
twice, and the model is not called again.

The SDK takes no changed arguments with an approval. An `edit` of a function tool's call is
applied by the adapter's own wrapper of that tool (it runs the tool with the human's
arguments); the calls of other tools (hosted MCP, shell, apply-patch…) refuse an edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents import FunctionTool, RunResult, RunState, ToolApprovalItem

from bosun.agents import approvals
from bosun.agents.messages import ToolCall, ToolSpec

if TYPE_CHECKING:
    from bosun.engine.context import WorkflowContext
    from bosun.integrations.openai_agents._scope import Scope


async def decided(
    ctx: WorkflowContext, scope: Scope, result: RunResult, approval: approvals.Approval
) -> RunState[Any]:
    """The state to resume `result`'s run from, its interruptions decided by humans (all
    asked at once; the run suspends until each is decided)."""
    items = list(result.interruptions)
    verdicts = await ctx.gather(*(_decide(ctx, item, approval) for item in items))
    state = result.to_state()
    for item, (call_id, proposed, verdict) in zip(items, verdicts, strict=True):
        if verdict.arguments is None:
            state.reject(item, rejection_message=verdict.answer)
            continue
        if verdict.arguments != proposed:  # an edit: the tool's wrapper runs it so
            scope.edits[call_id] = verdict.arguments
        state.approve(item)
    return state


async def _decide(
    ctx: WorkflowContext, item: ToolApprovalItem, approval: approvals.Approval
) -> tuple[str, str, approvals.Verdict]:
    raw = item.raw_item
    fields: dict[str, Any] = raw if isinstance(raw, dict) else vars(raw)
    call_id = str(fields.get("call_id") or fields.get("id") or "")
    arguments = fields.get("arguments")
    proposed = arguments if isinstance(arguments, str) else "{}"
    name = item.tool_name or str(fields.get("name") or "tool")
    tool = next(
        (t for t in item.agent.tools if isinstance(t, FunctionTool) and t.name == name), None
    )
    spec = ToolSpec(
        name=name,
        description=tool.description if tool is not None else "",
        parameters=tool.params_json_schema if tool is not None else {},
    )
    call = ToolCall(id=call_id, name=name, arguments=proposed)
    verdict = await approvals.request_decision(
        ctx, call, spec, approval, editable=tool is not None and bool(call_id)
    )
    return call_id, proposed, verdict
