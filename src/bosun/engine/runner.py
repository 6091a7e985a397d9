"""Drive one claimed run to its next resting point: suspended, released, or finished."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

from bosun import events
from bosun.engine.context import WorkflowContext
from bosun.engine.control import Abandon, Release, Suspend
from bosun.engine.execution import (
    Cursor,
    Execution,
    RunEnvironment,
    current_cursor,
    current_execution,
    error_dict,
    save_progress,
)
from bosun.engine.hooks import current_observer
from bosun.errors import DeadlineExceeded, DeterminismError, LeaseLost
from bosun.records import ClaimedRun, NewRun, Outcome, Progress, RunRecord

log = logging.getLogger("bosun.engine")
WEBHOOK_WORKFLOW = "bosun.webhook"
_WEBHOOK_NAMESPACE = uuid.UUID("0b6c3d52-7a51-4f0e-8f43-5f0f6c1f2b7e")


def webhook_run(run: RunRecord) -> NewRun:
    """The run that delivers `run`'s webhook; its id is fixed, so a retried write or a
    repeated cancel creates it once."""
    return NewRun(
        id=uuid.uuid5(_WEBHOOK_NAMESPACE, run.id).hex,
        workflow=WEBHOOK_WORKFLOW,
        queue=run.queue,
        input=json.dumps({"run_id": run.id, "url": run.webhook_url}),
        tenant=run.tenant,
    )


async def execute(execution: Execution) -> Outcome | None:
    """Replay the workflow and record where it stopped; return that outcome once it is
    durable (None if the run was abandoned). Never raises for run failures."""
    current_execution.set(execution)
    current_cursor.set(Cursor())
    observer = execution.env.observer
    current_observer.set(observer)
    observer.execution_started(execution)
    outcome: Outcome | None = None
    try:
        outcome = await _settle(execution)
        return outcome
    finally:
        observer.execution_finished(execution, outcome)


async def _settle(execution: Execution) -> Outcome | None:
    run = execution.run
    try:
        outcome = await _outcome(execution)
        if outcome.kind == "suspend" and run.deadline is not None:
            wake = outcome.wake_at
            outcome = Outcome(
                "suspend", wake_at=run.deadline if wake is None else min(wake, run.deadline)
            )
        execution.pending.outcome = outcome
        if outcome.kind != "release":
            execution.pending.events.append(
                events.run_outcome(outcome.kind, outcome.wake_at, outcome.error)
            )
        if outcome.kind in ("complete", "fail") and run.webhook_url:
            execution.pending.children.append(webhook_run(run))
        execution.env.settling(run.id)
        await execution.flush()
        return outcome
    except Abandon as abandon:
        _abandoned(run.id, abandon)
        return None


async def hand_back(claimed: ClaimedRun, env: RunEnvironment, reason: Exception) -> Outcome | None:
    """Give a claimed run back to the queue without executing it, as a draining worker does,
    for a worker that cannot execute it (its workflow is unknown here: another worker may
    know it, so the run never fails for what this one lacks).

    Written and observed like any execution's outcome (`release`); returns it once durable,
    or None if the write was abandoned (the lease lapses instead). Never raises for the run.
    """
    log.error("run %s handed back: %s", claimed.run.id, reason)
    observer = env.observer
    current_observer.set(observer)
    observer.execution_started(claimed)
    outcome: Outcome | None = None
    try:
        env.settling(claimed.run.id)
        await save_progress(env, claimed.lease, Progress(outcome=Outcome("release")))
        outcome = Outcome("release")
        return outcome
    except Abandon as abandon:
        _abandoned(claimed.run.id, abandon)
        return None
    finally:
        observer.execution_finished(claimed, outcome)


def _abandoned(run_id: str, abandon: Abandon) -> None:
    if isinstance(abandon.reason, LeaseLost):
        log.warning("run %s: %s; another worker owns it now", run_id, abandon.reason)
    else:
        log.error("run %s: abandoned, it resumes when its lease lapses: %s", run_id, abandon.reason)


async def _outcome(execution: Execution) -> Outcome:
    run, wf = execution.run, execution.workflow
    try:
        if run.deadline is not None and time.time() >= run.deadline:
            raise DeadlineExceeded(f"run {run.id} passed its deadline")
        kwargs = wf.decode_input(run.input)
        ctx = (execution.env.context or WorkflowContext)(execution)
        if run.deadline is None:
            result = await wf.fn(ctx, **kwargs)
        else:
            try:
                async with asyncio.timeout(max(run.deadline - time.time(), 0)):
                    result = await wf.fn(ctx, **kwargs)
            except TimeoutError as exc:
                raise DeadlineExceeded(f"run {run.id} passed its deadline") from exc
        leftover = execution.unvisited()
        if leftover:
            first = leftover[0]
            raise DeterminismError(
                f"run {run.id} finished, but its journal holds {first.kind} {first.name!r} at "
                f"position {first.seq} that the code no longer reaches. Deploy the code the "
                f"run started with (or branch with ctx.version()), then "
                f"`bosun runs resume {run.id}`"
            )
        output = execution.dump(result, wf.return_hint, f"result of workflow {wf.name!r}")
        return Outcome("complete", result=output)
    except Suspend as suspend:
        return Outcome("suspend", wake_at=suspend.wake_at)
    except Release:
        return Outcome("release")
    except DeterminismError as exc:
        log.error("run %s blocked: %s", run.id, exc)
        return Outcome("block", error=error_dict(exc))
    except Exception as exc:
        return Outcome("fail", error=error_dict(exc))
