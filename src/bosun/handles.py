"""`RunHandle`: a reference to one run, to wait for it, inspect, signal, cancel or resume it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bosun import serde
from bosun.errors import ResultTimeout, RunCancelled, RunFailed, RunNotFound
from bosun.store.records import TERMINAL_STATUSES, RunRecord

if TYPE_CHECKING:
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
        loop = asyncio.get_running_loop()
        give_up = None if timeout is None else loop.time() + timeout
        poll = 0.02
        notifier = self.app.store.notifier
        # A run this process just created cannot have finished unseen: the notifier keeps
        # the outcomes of runs finished here, so the first read of the database is skipped.
        read = not self._fresh
        status = "queued"
        while True:
            waiter = notifier.finished_future(self.run_id)
            try:
                done = notifier.recently_finished(self.run_id)
                if done is not None and self._workflow is not None:
                    return self._outcome(self._workflow, done.status, done.result, done.error)
                if read:
                    record = await self.status()
                    self._workflow, status = record.workflow, record.status
                    if status in TERMINAL_STATUSES:
                        return self._outcome(
                            record.workflow, record.status, record.result, record.error
                        )
                read = True
                wait = poll if give_up is None else min(poll, give_up - loop.time())
                if wait <= 0:
                    raise ResultTimeout(f"run {self.run_id} is still {status} after {timeout} s")
                await asyncio.wait((waiter,), timeout=wait)
                if not waiter.done():
                    poll = min(poll * 2, 1.0)
                    continue
                done = waiter.result()
                if done is None or self._workflow is None:
                    continue  # finished in another process: read the outcome
                return self._outcome(self._workflow, done.status, done.result, done.error)
            finally:
                notifier.drop_finished_future(self.run_id, waiter)

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
