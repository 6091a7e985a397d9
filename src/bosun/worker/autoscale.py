"""Local autoscaler: `bosun worker APP --autoscale MIN:MAX` supervises worker processes.

The supervisor runs no runs itself. It starts `bosun worker` child processes with the same
app, queues, options and database, polls the store's queue stats every `interval` seconds,
and resizes the pool as `scaling` decides, on the runs that can execute now (`runnable`: in
flight, or ready and admitted by the queue's limit and the runs' concurrency keys): up at
once, down after the cooldown. A child is removed by draining it (SIGTERM: its steps in
flight finish within the grace period, its runs are handed back), with SIGKILL only if it
outlives the grace period. A child that dies
on its own is restarted, with a backoff if it keeps dying. SIGTERM or SIGINT to the
supervisor drains every child, then the supervisor exits.

With `status_file`, the supervisor rewrites a JSON snapshot after every poll: its pid, polls
so far, target size, the pids of its workers (and of those draining), the load it saw, the
restarts, and its last scaling events (poll, from, to, load, seconds below target first).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bosun.errors import ConfigurationError, StoreError
from bosun.worker.scaling import (
    Load,
    ScalePolicy,
    ScaleState,
    desired_workers,
    next_state,
    restart_delay,
)

if TYPE_CHECKING:
    from types import TracebackType

    from bosun.store import QueueStore
    from bosun.worker.worker import WorkerOptions

log = logging.getLogger("bosun.autoscale")
TICK = 0.1  # seconds between checks on the children (exits, kill deadlines)
KILL_MARGIN = 5.0  # seconds past its grace period a draining child gets before SIGKILL
STABLE_SECONDS = 10.0  # a child that lived this long before dying was not crash-looping
EVENTS_KEPT = 50
PR_SET_PDEATHSIG = 1


def worker_command(
    app_ref: str, options: WorkerOptions, extra_args: Sequence[str] = ()
) -> list[str]:
    """The `bosun worker` command line of one child serving like `options` say, plus
    `extra_args` (options of the process rather than of the worker, e.g. `--log-format`)."""
    command = [sys.executable, "-m", "bosun", "worker", app_ref, *extra_args]
    for queue in options.queues:
        command += ["--queue", queue]
    command += [
        f"--concurrency={options.concurrency}",
        f"--grace={options.grace}",
        f"--lease-ttl={options.lease_ttl}",
        f"--poll-interval={options.poll_interval}",
        "--schedules" if options.schedules else "--no-schedules",
    ]
    if options.version is not None:
        command.append(f"--version={options.version}")
    for version in options.compatible_versions:
        command.append(f"--compatible-with={version}")
    return command


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook that drains a child if the supervisor dies (Linux), so a killed
    supervisor leaves no stray workers. libc is loaded here, before any fork."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


@dataclass
class _Child:
    proc: subprocess.Popen[bytes]
    started: float
    kill_at: float | None = None  # set when draining: SIGKILL past this moment


class Supervisor:
    """Keeps between `policy.minimum` and `policy.maximum` worker processes running.

    Args:
        store: an open store, read for queue stats.
        command: the child's command line (see `worker_command`).
        env: the child's environment (with the database URL).
        queues: the queues the children serve (the load counted).
        policy: the scaling policy.
        interval: seconds between polls of the queue stats.
        grace: the children's grace period (how long a drain may take).
        status_file: where to write the JSON snapshot, if anywhere.
    """

    def __init__(
        self,
        store: QueueStore,
        *,
        command: list[str],
        env: dict[str, str],
        queues: tuple[str, ...],
        policy: ScalePolicy,
        interval: float,
        grace: float,
        status_file: Path | None = None,
    ) -> None:
        self.store = store
        self.command = command
        self.env = env
        self.queues = queues
        self.policy = policy
        self.interval = interval
        self.grace = grace
        self.status_file = status_file
        self.state = ScaleState(policy.minimum)
        self.polls = 0
        self.restarts = 0
        self._children: list[_Child] = []
        self._crashes = 0
        self._restart_at = 0.0
        self._load: Load | None = None
        self._events: list[dict[str, Any]] = []
        self._stopping = asyncio.Event()
        self._pre_exec = _die_with_parent()

    def request_stop(self) -> None:
        """Drain every child, then return from `run()`."""
        if not self._stopping.is_set():
            log.info("supervisor stopping: draining %d worker(s)", len(self._active()))
        self._stopping.set()

    async def run(self) -> None:
        """Supervise until `request_stop()`, then drain the children."""
        log.info(
            "autoscaling %d-%d worker(s) of concurrency %d on %s (poll %g s, cooldown %g s)",
            self.policy.minimum,
            self.policy.maximum,
            self.policy.concurrency,
            ",".join(self.queues),
            self.interval,
            self.policy.cooldown,
        )
        next_poll = time.monotonic()
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                self._reap(now)
                if now >= next_poll:
                    await self._poll(now)
                    next_poll = now + self.interval
                self._resize(time.monotonic())
                with contextlib.suppress(TimeoutError):  # not wait_for: see Presence
                    async with asyncio.timeout(TICK):
                        await self._stopping.wait()
        finally:
            await self._drain_all()

    def _active(self) -> list[_Child]:
        return [c for c in self._children if c.kill_at is None]

    async def _poll(self, now: float) -> None:
        try:
            stats = await self.store.queue_stats()
        except StoreError as exc:
            log.warning("cannot read queue stats, keeping %d worker(s): %s", self.state.target, exc)
            return
        self.polls += 1
        load = self._load = Load.of(stats, self.queues)
        desired = desired_workers(self.policy, load, self.state.target)
        state = next_state(self.policy, self.state, desired, now)
        if state.target != self.state.target:
            log.info(
                "scaled to %d worker(s) from %d (runnable %d: ready %d, in flight %d; "
                "oldest ready %.1f s)",
                state.target,
                self.state.target,
                load.demand,
                load.ready,
                load.in_flight,
                load.oldest_ready_age,
            )
            below = None if self.state.below_since is None else now - self.state.below_since
            self._event(self.state.target, state.target, load, below)
        self.state = state
        self._write_status()

    def _resize(self, now: float) -> None:
        active = self._active()
        missing = self.state.target - len(active)
        for _ in range(missing):
            if now < self._restart_at:
                break
            self._spawn(now)
        if missing < 0:
            for child in reversed(active[self.state.target :]):  # the oldest are the warmest
                self._drain(child, now)

    def _spawn(self, now: float) -> None:
        try:
            proc = subprocess.Popen(
                self.command, env=self.env, start_new_session=True, preexec_fn=self._pre_exec
            )
        except OSError as exc:  # out of processes or memory: back off as after a crash
            self._crashes += 1
            self._restart_at = now + restart_delay(self._crashes)
            log.error("cannot start a worker (retrying later): %s", exc)
            return
        self._children.append(_Child(proc, now))
        log.info("worker pid %d started", proc.pid)
        self._write_status()

    def _drain(self, child: _Child, now: float) -> None:
        child.kill_at = now + self.grace + KILL_MARGIN
        with contextlib.suppress(ProcessLookupError):
            child.proc.send_signal(signal.SIGTERM)
        log.info("worker pid %d draining", child.proc.pid)
        self._write_status()

    def _reap(self, now: float) -> None:
        """Forget children that exited (restarting those that were not asked to), and kill
        draining children past their deadline."""
        changed = False
        for child in list(self._children):
            code = child.proc.poll()
            if code is None:
                if child.kill_at is not None and now >= child.kill_at:
                    log.warning("worker pid %d outlived its grace period: killed", child.proc.pid)
                    child.proc.kill()
                    child.kill_at = float("inf")  # killed once; reaped on a later pass
                continue
            self._children.remove(child)
            changed = True
            if child.kill_at is not None:
                log.info("worker pid %d drained (exit %d)", child.proc.pid, code)
            else:
                self._crashed(child, code, now)
        if changed:
            self._write_status()

    def _crashed(self, child: _Child, code: int, now: float) -> None:
        self._crashes = 1 if now - child.started >= STABLE_SECONDS else self._crashes + 1
        delay = restart_delay(self._crashes)
        self._restart_at = now + delay
        self.restarts += 1
        log.warning(
            "worker pid %d exited with code %d; restarting in %.1f s", child.proc.pid, code, delay
        )

    async def _drain_all(self) -> None:
        now = time.monotonic()
        for child in self._active():
            self._drain(child, now)
        while self._children:
            self._reap(time.monotonic())
            await asyncio.sleep(TICK)
        self._write_status()

    # -- status -----------------------------------------------------------------------------

    def _event(self, before: int, after: int, load: Load, below: float | None) -> None:
        self._events.append(
            {
                "poll": self.polls,
                "at": time.time(),
                "from": before,
                "to": after,
                "ready": load.ready,
                "in_flight": load.in_flight,
                "runnable": load.demand,
                "oldest_ready_age": round(load.oldest_ready_age, 3),
                "seconds_below": None if below is None else round(below, 3),
            }
        )
        del self._events[:-EVENTS_KEPT]

    def status(self) -> dict[str, Any]:
        """The snapshot written to the status file."""
        load = self._load
        return {
            "pid": os.getpid(),
            "polls": self.polls,
            "target": self.state.target,
            "workers": [c.proc.pid for c in self._active()],
            "draining": [c.proc.pid for c in self._children if c.kill_at is not None],
            "load": None if load is None else dataclasses.asdict(load),
            "restarts": self.restarts,
            "events": self._events,
            "stopping": self._stopping.is_set(),
            "updated_at": time.time(),
        }

    def _write_status(self) -> None:
        if self.status_file is None:
            return
        snapshot = self.status()
        partial = self.status_file.with_name(self.status_file.name + ".tmp")
        partial.write_text(json.dumps(snapshot, indent=2))
        os.replace(partial, self.status_file)  # readers never see half a file


class SupervisedApp(Protocol):
    """What the supervisor needs of the App (`bosun.app.App` is one; this module never
    imports it): the database its children use, and, opened, the store it polls."""

    @property
    def database(self) -> str: ...

    @property
    def store(self) -> QueueStore: ...

    async def __aenter__(self) -> object: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...


async def supervise_app(
    app_ref: str,
    app: SupervisedApp,
    options: WorkerOptions,
    autoscale: str,
    *,
    interval: float = 5.0,
    cooldown: float = 60.0,
    scale_up_age: float = 30.0,
    status_file: Path | None = None,
    extra_args: Sequence[str] = (),
) -> None:
    """Supervise workers of `app` (loaded from `app_ref`) until SIGTERM or SIGINT.

    Args:
        app_ref: how the children load the app (`path/to/file.py` or `module:app`).
        app: the app, not yet open: its database is the one the children use.
        options: how each child works (queues, concurrency, grace, …).
        autoscale: `MIN:MAX` worker processes.
        interval: seconds between polls of the queue stats.
        cooldown: seconds of lower load before scaling down.
        scale_up_age: seconds the oldest ready run may wait before one more worker starts.
        status_file: where to write the supervisor's JSON snapshot, if anywhere.
        extra_args: more arguments for each child's command line.

    Raises:
        ConfigurationError: a bad MIN:MAX, or options a supervisor cannot honour.
    """
    if options.until_idle or options.max_seconds is not None:
        raise ConfigurationError(
            "--autoscale keeps workers running: it cannot be combined with --until-idle or "
            "--max-seconds (run drain mode without --autoscale)"
        )
    minimum, maximum = ScalePolicy.parse_range(autoscale)
    policy = ScalePolicy(
        minimum,
        maximum,
        concurrency=options.concurrency,
        cooldown=cooldown,
        scale_up_age=scale_up_age,
    )
    env = {**os.environ, "BOSUN_DATABASE_URL": app.database}  # not argv: ps shows argv
    async with app:
        supervisor = Supervisor(
            app.store,
            command=worker_command(app_ref, options, extra_args),
            env=env,
            queues=options.queues,
            policy=policy,
            interval=interval,
            grace=options.grace,
            status_file=status_file,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, supervisor.request_stop)
        await supervisor.run()
