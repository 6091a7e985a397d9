"""`RunHandle`: a reference to one run, to wait for it, inspect, signal, cancel or resume it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bosun import serde
from bosun.errors import ResultTimeout, RunCancelled, RunFailed, RunNotFound
from bosun.records import TERMINAL_STATUSES, RunRecord

if TYPE_CHECKING:
    from bosun.agents.approvals import PendingApproval
    from bosun.hosts import RunHost

R_co = TypeVar("R_co", covariant=True)


class RunHandle(Generic[R_co]):
    """A reference to a run: wait for its result, inspect, signal or cancel it."""

    def __init__(
        self,
        app: RunHost,
        run_id: str,
        *,
        workflow: str | None = None,
        fresh: bool = False,
        created: bool = False,
    ) -> None:
        self.app = app
        self.run_id = run_id
        #: True when the call that returned this handle created the run (False when an
        #: idempotency key found an existing one).
        self.created = created
        self._workflow = workflow
        self._fresh = fresh

    def __repr__(self) -> str:
        return f"RunHandle({self.run_id!r})"

    async def status(self) -> RunRecord:
        """The run's current record (status, timestamps, result or error)."""
        await self.app.open()
        record = await self.app.store.get_run(self.run_id)
        if record is None:
            raise RunNotFound(f"no run with id {self.run_id!r}")
        return record

    async def result(self, timeout: float | None = None) -> R_co:
        """Wait for the run to finish and return its result.

        Raises `RunFailed`, `RunCancelled`, or `ResultTimeout` after `timeout` seconds.
        """
        await self.app.open()
        store = self.app.store
        # One waiter list for the whole process (`bosun.store.waiters`): it hears of the
        # run's end, or reads it together with every other run waited for, so thousands of
        # waiting handles cost the database a few queries a second, not one each.
        waiter = store.results.watch(self.run_id)
        try:
            # A run this process just created cannot have finished unseen: the notifier
            # keeps the outcomes of runs finished here, so the first read is skipped.
            workflow = self._workflow
            heard = store.notifier.ended_elsewhere(self.run_id)  # before we listened
            if not self._fresh or workflow is None or heard:
                record = await self.status()
                self._workflow = workflow = record.workflow
                if record.status in TERMINAL_STATUSES:
                    return self._outcome(workflow, record.status, record.result, record.error)
            done = store.notifier.recently_finished(self.run_id)
            if done is not None:
                return self._outcome(workflow, done.status, done.result, done.error)
            await asyncio.wait((waiter,), timeout=None if timeout is None else max(timeout, 0))
            if not waiter.done():
                record = await self.status()  # what the timeout names, unless it just ended
                if record.status not in TERMINAL_STATUSES:
                    raise ResultTimeout(
                        f"run {self.run_id} is still {record.status} after {timeout} s"
                    )
                return self._outcome(workflow, record.status, record.result, record.error)
            ended = waiter.result()
            return self._outcome(workflow, ended.status, ended.result, ended.error)
        finally:
            store.results.drop(self.run_id, waiter)

    def _outcome(
        self, workflow: str, status: str, result: str | None, error: dict[str, Any] | None
    ) -> R_co:
        if status == "completed":
            definition = self.app.registry.workflows.get(workflow)
            value: R_co = serde.load(result, definition.return_hint if definition else Any)
            return value
        if status == "cancelled":
            raise RunCancelled(f"run {self.run_id} was cancelled")
        raise RunFailed(self.run_id, error)

    async def signal(self, name: str, payload: Any = None) -> None:
        """Send a signal; it is buffered until the run waits for it."""
        await self.app.open()
        where = f"signal {name!r}"
        text = serde.check_size(serde.dump(payload, Any, where), self.app.max_payload_bytes, where)
        await self.app.store.send_signal(self.run_id, name, text)

    async def cancel(self) -> list[str]:
        """Cancel the run and its unfinished children; return the ids cancelled."""
        return await self.app.cancel(self.run_id)

    async def resume(self) -> None:
        """Resume a `blocked` run after deploying fixed code."""
        await self.app.open()
        await self.app.store.resume_run(self.run_id)

    async def pending_approvals(self) -> list[PendingApproval]:
        """The tool calls that wait for a human's decision (see `bosun.agents.approvals`)."""
        from bosun.agents.approvals import pending_approvals

        await self.app.open()
        return pending_approvals(await self.app.store.get_journal(self.run_id, status="waiting"))

    async def approve(self, call_id: str) -> None:
        """Let the proposed tool call `call_id` run as the model asked.

        Raises `ApprovalNotFound` for a call that waits for no approval, `ApprovalDecided`
        for one already decided (the same for `reject` and `edit`)."""
        await self._decide(call_id, "approve")

    async def reject(self, call_id: str, *, message: str | None = None) -> None:
        """Refuse the tool call `call_id`: it does not run, and the model reads `message`."""
        await self._decide(call_id, "reject", message=message)

    async def edit(self, call_id: str, arguments: dict[str, Any]) -> None:
        """Run the tool call `call_id` with `arguments` instead of the model's (checked
        against the tool's schema: `InvalidRequest` if they do not fit)."""
        await self._decide(call_id, "edit", arguments=arguments)

    async def _decide(self, call_id: str, kind: Any, **details: Any) -> None:
        from bosun.agents.approvals import Decision, decide

        await self.app.open()
        await decide(self.app.store, self.run_id, call_id, Decision(kind, **details))
