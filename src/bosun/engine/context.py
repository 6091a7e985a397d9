"""`WorkflowContext`: what workflow code uses to do anything that must survive a crash.

This is the engine's part of `bosun.Context`; the context a workflow is given comes from the
run environment (`RunEnvironment.context`), so the engine never imports what builds on it.
"""

from __future__ import annotations

import math
import random as _random
import time
import uuid as _uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

from bosun import ratelimit as _ratelimit
from bosun.buckets import Reservation
from bosun.engine import gather as _gather
from bosun.engine.execution import Execution, current_step
from bosun.errors import BosunError, ConfigurationError

Duration = float | int | timedelta


def _seconds(duration: Duration) -> float:
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    if not math.isfinite(seconds) or seconds < 0:  # a NaN wake time would never come due
        raise ConfigurationError(f"duration must be finite and not negative, got {duration!r}")
    return seconds


class WorkflowContext:
    """The engine's part of the context handed to every workflow (`bosun.Context` adds the
    plug-ins' parts: `ctx.llm`, `ctx.memory`).

    Everything on it is journaled: on replay it returns what it returned the first time, so
    workflow code stays deterministic. Waiting (`sleep`, `wait_for_signal`, `child`) suspends
    the run: the worker forgets it until it is due.
    """

    def __init__(self, execution: Execution) -> None:
        self._execution = execution

    @property
    def run_id(self) -> str:
        """The id of this run."""
        return self._execution.run.id

    @property
    def workflow(self) -> str:
        """The name of the running workflow."""
        return self._execution.workflow.name

    @property
    def idempotency_key(self) -> str:
        """Stable key of the step being executed (`<run id>:<position>`).

        The same on every retry and after a crash: pass it to external systems so a step
        that runs twice has its effect once. Only available inside a step.
        """
        scope = current_step.get()
        if scope is None:
            raise BosunError("ctx.idempotency_key is only available while a step runs")
        return f"{scope.run_id}:{scope.seq}"

    @property
    def attempt(self) -> int:
        """The attempt number (1-based) of the step being executed."""
        scope = current_step.get()
        if scope is None:
            raise BosunError("ctx.attempt is only available while a step runs")
        return scope.attempt

    async def sleep(self, duration: Duration) -> None:
        """Durable timer: the run suspends and holds no worker until it is due."""
        await self._execution.sleep_until(time.time() + _seconds(duration))

    async def sleep_until(self, when: datetime) -> None:
        """Durable timer until an aware datetime (naive ones are taken as UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        await self._execution.sleep_until(when.timestamp())

    async def wait_for_signal(self, name: str, *, timeout: Duration | None = None) -> Any:
        """Wait for the next signal called `name` and return its JSON payload.

        Signals sent before the wait are buffered. Raises `SignalTimeout` after `timeout`.
        """
        return await self._execution.wait_for_signal(
            name, None if timeout is None else _seconds(timeout)
        )

    def now(self) -> datetime:
        """The current time, recorded on first execution and replayed after."""
        stamp = self._execution.recorded_value("now", time.time)
        return datetime.fromtimestamp(float(stamp), tz=UTC)

    def uuid(self) -> _uuid.UUID:
        """A random UUID, recorded on first execution and replayed after."""
        return _uuid.UUID(self._execution.recorded_value("uuid", lambda: _uuid.uuid4().hex))

    def random(self) -> float:
        """A random float in [0, 1), recorded on first execution and replayed after."""
        return float(self._execution.recorded_value("random", _random.random))

    async def gather(
        self, *awaitables: Awaitable[Any], return_exceptions: bool = False
    ) -> list[Any]:
        """Run steps, children, timers or signal waits concurrently; results in order.

        Pass coroutines (`ctx.gather(step_a(x), ctx.child(wf, y))`), not started tasks.
        """
        return await _gather.gather(awaitables, return_exceptions)

    async def child(self, workflow: Any, *args: Any, **kwargs: Any) -> Any:
        """Start `workflow` as a child run and wait for its result.

        The child is a run of its own (its own queue, retries and journal); cancelling this
        run cancels it too. Raises `ChildFailed` if it fails or is cancelled.
        """
        return await self._execution.child(workflow, args, kwargs)

    def version(self, change_id: str, *, latest: int = 1) -> int:
        """Branch on code changes made under live runs.

        Returns 0 for runs that passed this point before the change was deployed and `latest`
        for the others; the answer is recorded, so it never changes for a run.
        """
        return self._execution.version(change_id, latest)

    def emit(self, event_type: str, data: Any = None) -> None:
        """Record a durable event for this run's stream (once, even across replays)."""
        self._execution.emit(event_type, data)

    async def reserve(self, name: str, *, tokens: int = 0) -> Reservation:
        """Take one request and `tokens` (an estimate) from the rate limit `name`.

        Shared by every worker on the database. While the limit allows too little the run
        suspends, holding no worker, and tries again when it would fit. The grant is
        journaled: replay never reserves twice. Settle it with the real usage afterwards.
        """
        if current_step.get() is not None:
            raise BosunError("ctx.reserve() belongs in workflow code, not inside a step")
        return await _ratelimit.reserve(self._execution, name, tokens)

    async def settle(self, reservation: Reservation, *, tokens: int) -> None:
        """Record the real usage of a reservation: the rest of the estimate goes back to the
        limit, or the excess is taken (a debt the refill pays off). Journaled, once."""
        if current_step.get() is not None:
            raise BosunError("ctx.settle() belongs in workflow code, not inside a step")
        await _ratelimit.settle(self._execution, reservation, tokens)
