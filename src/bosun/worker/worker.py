"""The worker: claims ready runs, executes them, renews leases, drains on request."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bosun.context import Context
from bosun.engine.execution import Execution, RunEnvironment
from bosun.engine.runner import execute, hand_back
from bosun.errors import BosunError, StoreError, WorkflowNotFound
from bosun.records import ClaimedRun, Lease, Outcome
from bosun.schedules import Scheduler
from bosun.store.notify import Wakeup
from bosun.worker.extensions import run_extensions
from bosun.worker.presence import Presence
from bosun.worker.summary import WorkerSummary
from bosun.worker.takeover import Takeovers
from bosun.worker.timebox import budget_end, closing_wait, drain_wait, stop_near_budget
from bosun.worker.versioning import code_version

if TYPE_CHECKING:
    from bosun.worker.host import WorkerHost

log = logging.getLogger("bosun.worker")
PRUNE_INTERVAL = 300.0  # seconds between retention passes (randomised ±50 %)
PRUNE_BATCH = 1000
# Seconds a stopped worker without a time budget waits for its runs' hand-back, for its
# background tasks to end once cancelled, and for its registry entry's removal: a task that
# swallows its cancellation (Python 3.11's wait_for can, in library code) or a write waiting
# on a full server must not keep it from returning. With a budget, timebox bounds them.
SHUTDOWN_WAIT = 10.0


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker behaves.

    Args:
        queues: queues to claim from.
        concurrency: runs whose code executes at once (a run whose code is done gives its
            slot to the next while its outcome commits).
        lease_ttl: seconds a claim stays valid without renewal.
        poll_interval: seconds between claims when idle (other processes' work).
        grace: seconds to let steps in flight finish when draining.
        until_idle: exit once nothing is ready and nothing is running.
        schedules: run a scheduler that starts the runs of due schedules (any number of
            workers may; each tick still starts one run).
        version: the deployment version this worker advertises (default: a hash of the
            App's workflow and step code). Runs stay on the version they started on.
        compatible_versions: older versions whose runs this worker may take over while
            workers of those versions still run.
        max_seconds: drain mode's time budget, counted from `run()`: stop claiming `grace`
            seconds before it ends, hand back what is still held at its end (see timebox).
        workspace_sweep_interval: seconds between sweeps removing the session workspaces
            of deleted sessions (`bosun.sandbox.workspace_sweep`); 0 disables them.
    """

    queues: tuple[str, ...] = ("default",)
    concurrency: int = 16
    lease_ttl: float = 30.0
    poll_interval: float = 0.2
    grace: float = 30.0
    until_idle: bool = False
    schedules: bool = True
    version: str | None = None
    compatible_versions: tuple[str, ...] = ()
    max_seconds: float | None = None
    workspace_sweep_interval: float = 300.0  # bosun.sandbox.workspace_sweep.SWEEP_INTERVAL


@dataclass
class _Held:
    """A run this worker executes: its task, its lease, and until when the lease surely holds."""

    task: asyncio.Task[None]
    lease: Lease
    lease_deadline: float
    settling: bool = False  # its code is done; only the write of its outcome is left


class Worker:
    """Executes runs of one App from one store. Start with `run()`, stop with `stop()`."""

    def __init__(self, app: WorkerHost, options: WorkerOptions) -> None:
        if options.concurrency < 1:
            raise BosunError("concurrency must be >= 1")
        self.app = app
        self.options = options
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._active: dict[str, _Held] = {}
        self._draining = False
        self._pool = ThreadPoolExecutor(
            max_workers=max(4, options.concurrency), thread_name_prefix="bosun-step"
        )
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._wake = Wakeup()
        self._reserved = 0
        self._threads_busy = 0
        self._threads_lock = threading.Lock()
        self._backlog = True  # the last claim got all it asked for: more may be ready
        self._claim_chunk = max(1, (options.concurrency + 1) // 2)
        self.summary = WorkerSummary()
        self.version = options.version or code_version(app.registry.workflows, app.registry.steps)
        # Claims take runs of these versions (or unpinned ones), and pin them to the first.
        self._versions = (self.version, *options.compatible_versions)
        # Claims take runs of these workflows only: a run of a workflow this app lacks waits
        # for a worker that has it (another app on the same database, a newer deploy).
        self._workflows = tuple(sorted(app.registry.workflows))
        self._presence: Presence | None = None
        self._takeovers: Takeovers | None = None
        self._budget_end: float | None = None  # loop time; set by run() with max_seconds
        self._stop_requested = asyncio.Event()

    @property
    def lease_ttl(self) -> float:
        return self.options.lease_ttl

    @property
    def draining(self) -> bool:
        return self._draining

    def request_stop(self) -> None:
        """Begin a graceful drain: claim nothing more, finish steps in flight, hand runs back."""
        if not self._draining:
            log.info("worker %s draining", self.owner)
        self._draining = True
        self._wake.set()
        self._stop_requested.set()
        if self._presence is not None:
            self._presence.changed()  # runs pinned to this version may move on at once

    async def run(self) -> None:
        """Claim and execute until stopped (or idle, with `until_idle`), then drain."""
        self._budget_end = budget_end(self.options.max_seconds)
        store = self.app.store
        store.notifier.add_work_event(self._wake)
        if self.app.models_in_use():  # else only the offline scripted `default` exists
            self.app.register_model_rate_limits()  # from the model aliases' settings
            # A model that cannot be served (its key unset, its SDK missing) fails here, not
            # at its first call.
            log.info("worker %s: models %s", self.owner, "; ".join(self.app.models.check()))
        self._environment = RunEnvironment(
            store=store,
            resolve_workflow=self.app.registry.resolve,
            lease_ttl=self.options.lease_ttl,
            is_draining=lambda: self._draining,
            executor=self._run_in_thread,
            rate_limits=self.app.registry.rate_limits,
            max_payload_bytes=self.app.max_payload_bytes,
            lease_deadline=self._lease_deadline,
            settling=self._settling,
            extensions=run_extensions(self.app),
            context=Context,
            observer=self.app.observability.run_observer(
                self.options.concurrency, lambda: self._draining
            ),
        )
        for queue, max_running in self.app.queue_limits.items():
            if queue in self.options.queues:
                await store.set_queue_limit(queue, max_running)
        self._presence = Presence(
            store,
            worker_id=self.owner,
            queues=self.options.queues,
            concurrency=self.options.concurrency,
            version=self.version,
            compatible=self.options.compatible_versions,
            workflows=self._workflows,
            ttl=self.options.lease_ttl,
            busy=lambda: len(self._active),
            draining=lambda: self._draining,
        )
        await self._presence.announce()
        presence = asyncio.create_task(self._presence.keep_fresh(), name="bosun-presence")
        log.info("worker %s: memory search on %s", self.owner, await store.memory_search_path())
        self._takeovers = Takeovers(
            store,
            owner=self.owner,
            queues=self.options.queues,
            workflows=self._workflows,
            lease_ttl=self.options.lease_ttl,
            here=self._presence.process.namespace,
            wake=self._wake.set,
        )
        # Once before the first claim: runs of a worker that died on this machine are
        # claimable by then (an `until_idle` worker would otherwise exit without them).
        await self._look_for_takeovers()
        takeovers = asyncio.create_task(self._watch_takeovers(), name="bosun-takeovers")
        heartbeat = asyncio.create_task(self._heartbeat(), name="bosun-heartbeat")
        pruner = asyncio.create_task(self._prune_periodically(), name="bosun-pruner")
        sweeper = asyncio.create_task(self._sweep_workspaces(), name="bosun-sweeper")
        scheduler: asyncio.Task[None] | None = None
        budget = stop_near_budget(self._budget_end, self.options.grace, self.request_stop)
        try:
            scheduler = await self._start_scheduler()
            await self._claim_loop()
        finally:
            if budget is not None:
                budget.cancel()
            if scheduler is not None:
                scheduler.cancel()
            self._draining = True
            await self._drain()
            self.summary.stop()
            log.info("worker %s stopped: %s", self.owner, self.summary.line())
            self._log_runs_due_later()
            await _cancel_all(
                (heartbeat, pruner, presence, sweeper, takeovers), self.owner, self._closing_wait()
            )
            wait = self._closing_wait()
            try:
                async with asyncio.timeout(wait):
                    await self._presence.retire()
            except TimeoutError:
                log.warning(
                    "worker %s: its registry entry was not removed within %.1f s (it expires)",
                    self.owner,
                    wait,
                )
            if scheduler is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await scheduler
            store.notifier.drop_work_event(self._wake)
            for handle in self._timers.values():
                handle.cancel()
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def _sweep_workspaces(self) -> None:
        """Sweep the workspaces of deleted sessions once a tool call has used a base: the
        sandbox is imported only then (a worker of plain workflows never needs it)."""
        interval = self.options.workspace_sweep_interval
        roots = self.app.workspace_roots
        if interval <= 0:
            return
        while not roots:  # noqa: ASYNC110 (tool calls add to the set and tell nobody)
            await asyncio.sleep(interval)
        from bosun.sandbox.workspace_sweep import sweep_workspaces_periodically

        await sweep_workspaces_periodically(self.app.store, roots, interval)

    async def _claim_loop(self) -> None:
        opts = self.options
        backoff = opts.poll_interval
        while not self._draining:
            # Claim at most half the slots at a time: the next claim's round trip then
            # overlaps the execution and the progress writes of the runs just claimed,
            # instead of a full worker waiting for its whole batch to commit first.
            free = min(self._free_slots(), self._claim_chunk)
            # Idle means nothing was running when the claim began: a run that finished while
            # the claim was in flight may have woken another (a parent whose child ended),
            # which that claim could not see yet.
            idle_before = not self._active
            claimed: list[ClaimedRun] = []
            if free > 0:
                try:
                    # Past the budget's end (the stop came mid-claim, the database is slow
                    # to answer) the claim is given up; a run it took resumes once its lease
                    # expires.
                    async with asyncio.timeout(self._claim_wait()):
                        claimed = await self.app.store.claim_runs(
                            self.owner,
                            list(opts.queues),
                            free,
                            opts.lease_ttl,
                            time.time(),
                            versions=self._versions,
                            workflows=self._workflows,
                        )
                except StoreError as exc:
                    log.warning("claim failed, retrying in %.1f s: %s", backoff, exc)
                    with contextlib.suppress(TimeoutError):  # a stop ends the wait
                        await asyncio.wait_for(self._stop_requested.wait(), backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                except TimeoutError:
                    log.warning("worker %s: a claim was in flight past its budget", self.owner)
                    return
                backoff = opts.poll_interval
                for item in claimed:
                    self._start(item)
                if claimed and self._takeovers is not None:
                    self._takeovers.claimed(claimed)
                self._backlog = len(claimed) == free
                if self._backlog:
                    continue
                if opts.until_idle and idle_before and not self._active:
                    return
            await self._wake.wait(opts.poll_interval)

    def _claim_wait(self) -> float | None:
        """A claim's bound: none without a budget; with one, the exit's (see timebox)."""
        return None if self._budget_end is None else self._closing_wait()

    def _closing_wait(self) -> float:
        """How long the next step of the exit may take (see timebox.closing_wait)."""
        return closing_wait(self._budget_end, SHUTDOWN_WAIT)

    def _free_slots(self) -> int:
        """Slots for more runs: a run whose outcome is being written holds none (its code is
        done; the next run's claim overlaps that write's commit)."""
        running = sum(not held.settling for held in self._active.values())
        return self.options.concurrency - running - self._reserved

    def _settling(self, run_id: str) -> None:
        held = self._active.get(run_id)
        if held is not None:
            held.settling = True
            if self._backlog:
                self._wake.set()

    def reserve_slot(self, queue: str) -> bool:
        """Hold a free slot for a run this process is about to create (direct dispatch)."""
        if self._draining or queue not in self.options.queues:
            return False
        if self._free_slots() <= 0:
            return False
        self._reserved += 1
        return True

    def adopt(self, claimed: ClaimedRun | None) -> None:
        """Fill a reserved slot with a run created already leased to this worker (or give
        the slot back when None)."""
        self._reserved -= 1
        if claimed is not None:
            self._start(claimed)
        else:
            self._wake.set()

    def _lease_deadline(self, run_id: str) -> float | None:
        held = self._active.get(run_id)
        return None if held is None else held.lease_deadline

    def _start(self, claimed: ClaimedRun) -> None:
        run_id = claimed.run.id
        timer = self._timers.pop(run_id, None)
        if timer:
            timer.cancel()
        task = asyncio.create_task(self._execute(claimed), name=f"bosun-run-{run_id}")
        deadline = claimed.run.lease_expires_at or time.time()
        self._active[run_id] = _Held(task, claimed.lease, deadline)
        self.app.store.notifier.executing(run_id)
        task.add_done_callback(lambda _t: self._finished(run_id, task))
        if self._presence is not None:
            self._presence.busy_changed()

    def _finished(self, run_id: str, task: asyncio.Task[None]) -> None:
        self.app.store.notifier.executed(run_id)
        current = self._active.get(run_id)
        if current is not None and current.task is task:
            del self._active[run_id]
            if self._presence is not None:
                self._presence.busy_changed()
        # A freed slot is worth a claim only if work is waiting (or to notice idleness).
        if self._backlog or self._draining or (self.options.until_idle and not self._active):
            self._wake.set()

    async def _execute(self, claimed: ClaimedRun) -> None:
        try:
            workflow = self.app.registry.workflow(claimed.run.workflow)
        except WorkflowNotFound as exc:  # claims filter by workflow: only a store bug gets here
            self.summary.record(await hand_back(claimed, self._environment, exc))
            return
        execution = Execution(claimed, workflow, self._environment)
        outcome = await execute(execution)
        self.summary.record(outcome)
        if outcome is not None:
            self._schedule_local_wake(claimed.run.id, outcome)

    def _schedule_local_wake(self, run_id: str, outcome: Outcome) -> None:
        """A short timer of a run we just suspended wakes this worker without polling."""
        if outcome.kind != "suspend" or outcome.wake_at is None or self._draining:
            return
        delay = outcome.wake_at - time.time()
        if delay > 3600:
            return
        loop = asyncio.get_running_loop()
        self._timers[run_id] = loop.call_later(
            max(delay, 0), self._timer_fired, run_id, outcome.wake_at
        )

    def _log_runs_due_later(self) -> None:
        """Say which of the runs this worker suspended (a step waiting to retry, a short
        sleep) it leaves behind: an `until_idle` worker exits while they wait, and "0 failed"
        after a step failure reads like a lie without it."""
        if not self._timers:
            return
        loop = asyncio.get_running_loop()
        soonest = min(handle.when() for handle in self._timers.values()) - loop.time()
        log.info(
            "worker %s left %d suspended run(s) due again within the hour, the first in "
            "%.1f s (a step waiting to retry, a timer): a worker running then takes them",
            self.owner,
            len(self._timers),
            max(soonest, 0.0),
        )

    def _timer_fired(self, run_id: str, wake_at: float) -> None:
        early = wake_at - time.time()
        if early > 0:
            # uvloop rounds a timer's delay to whole milliseconds, so it can fire just before
            # the run is due; a claim then would find the run not yet ready and leave it to
            # the next poll (up to poll_interval late). Wait out the rest.
            loop = asyncio.get_running_loop()
            self._timers[run_id] = loop.call_later(early, self._timer_fired, run_id, wake_at)
            return
        self._timers.pop(run_id, None)
        self._wake.set()

    async def _run_in_thread(self, fn: Callable[[], Any]) -> Any:
        # Count on the thread's own future: cancelling the awaiting task does not stop it.
        with self._threads_lock:
            self._threads_busy += 1
        future = self._pool.submit(fn)
        future.add_done_callback(self._thread_done)
        return await asyncio.wrap_future(future)

    def _thread_done(self, _future: object) -> None:
        with self._threads_lock:
            self._threads_busy -= 1

    @property
    def abandoned_threads(self) -> int:
        """Sync steps still running on threads after the drain gave up on them.

        A thread cannot be stopped; a process that must exit now (the CLI) should exit hard
        once this is non-zero, since the runs were already handed to other workers."""
        return self._threads_busy

    async def _heartbeat(self) -> None:
        interval = self.options.lease_ttl / 3
        while True:
            await asyncio.sleep(interval)
            held = list(self._active.values())
            if not held:
                continue
            asked_at = time.time()
            try:
                lost = await self.app.store.renew_leases(
                    self.owner, [h.lease for h in held], self.options.lease_ttl
                )
            except StoreError as exc:
                log.warning("lease renewal failed: %s", exc)
                continue
            for entry in held:
                if entry.lease not in lost:
                    entry.lease_deadline = asked_at + self.options.lease_ttl
                elif not (entry.settling or entry.task.done()):
                    # A run whose outcome is being written ends its own lease with that
                    # write: not renewing it then is no loss (and the write is fenced).
                    log.warning("run %s: lease lost (cancelled or taken over)", entry.lease.run_id)
                    entry.task.cancel()

    async def _look_for_takeovers(self) -> None:
        """One look of the takeover watch; it only ever speeds takeovers up and explains
        waits, so nothing it meets may stop the worker."""
        if self._takeovers is None:
            return
        try:
            await self._takeovers.look()
        except StoreError as exc:
            log.debug("could not look for runs to take over: %s", exc)
        except Exception:
            log.warning("looking for runs to take over failed", exc_info=True)

    async def _watch_takeovers(self) -> None:
        """Look for runs left by stopped workers while idle (a free slot, nothing ready)."""
        if self._takeovers is None:
            return
        while True:
            await asyncio.sleep(self._takeovers.interval)
            if not self._draining and not self._backlog and self._free_slots() > 0:
                await self._look_for_takeovers()

    async def _prune_periodically(self) -> None:
        """Delete runs finished longer ago than the app's retention, a batch at a time.

        Every worker does this now and then; batches skip each other's rows, so a fleet
        shares the work without coordination."""
        retention = self.app.retention
        if retention is None:
            return
        while True:
            await asyncio.sleep(PRUNE_INTERVAL * random.uniform(0.5, 1.5))
            cutoff = time.time() - retention.total_seconds()
            try:
                pruned = PRUNE_BATCH
                while pruned == PRUNE_BATCH:  # a full batch: there may be more
                    pruned = await self.app.store.prune_runs(cutoff, PRUNE_BATCH)
            except StoreError as exc:
                log.warning("pruning old runs failed, will retry: %s", exc)

    async def _drain(self) -> None:
        """Let runs reach their next step boundary within the grace period, then hand back."""
        tasks = [held.task for held in self._active.values()]
        held = list(self._active)
        settled = self.summary.settled
        if tasks:
            grace = drain_wait(self._budget_end, self.options.grace)
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
            self.summary.abandoned += len(pending)
        try:
            async with asyncio.timeout(self._closing_wait()):
                released = await self.app.store.release_leases(self.owner, held) if held else 0
        except (StoreError, TimeoutError) as exc:
            reason = exc if isinstance(exc, StoreError) else "no answer in time"
            log.warning("could not release leases (they will expire): %s", reason)
            self.summary.kept += len(held) - (self.summary.settled - settled)
            return
        self.summary.handed_back += released
        if released:
            log.info("worker %s handed %d run(s) back", self.owner, released)

    # -- schedules ---

    async def _start_scheduler(self) -> asyncio.Task[None] | None:
        """Declare the App's schedules and fire the due ones once (so an `until_idle` worker
        sees their runs), then keep firing in the background."""
        if not self.options.schedules:
            return None
        scheduler = Scheduler(self.app)
        await scheduler.tick()
        return asyncio.create_task(scheduler.run(), name="bosun-scheduler")


async def _cancel_all(tasks: tuple[asyncio.Task[None], ...], owner: str, wait: float) -> None:
    """Cancel a stopped worker's background tasks and wait `wait` seconds for them to end;
    log (with its stack) each that did not, and leave it."""
    for task in tasks:
        task.cancel()
    _, stuck = await asyncio.wait(tasks, timeout=wait)
    for task in stuck:
        where = io.StringIO()
        task.print_stack(file=where)
        log.warning(
            "worker %s: task %s did not end within %.1f s of being cancelled; left behind:\n%s",
            owner,
            task.get_name(),
            wait,
            where.getvalue(),
        )
