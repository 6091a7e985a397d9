"""Runs left behind by a worker that stopped: say in the log that they wait and until when,
end the leases of a worker whose process is gone so that they move on at once, and say
when they are taken over.

A worker killed with `kill -9` leaves its runs leased until the leases expire (the lease
TTL, 30 s by default); another worker takes them over only then. While a worker has a free
slot and nothing else to claim, it looks at the registry every few seconds (`interval`),
and once when it starts:

- a worker on this machine, in this PID namespace, whose process no longer runs
  (`bosun.worker.liveness`) is dead for sure: its leases end now, through the store, which
  voids their tokens (a late write under them fails as after a takeover), and its runs are
  claimed at once;
- for a worker elsewhere that stopped heartbeating (its registry row is late), each run of
  this worker's queues and workflows it holds is logged once per lease, with the time its
  lease expires and it is taken over.

A look costs one read of the (small) workers table; only a late worker adds a read of the
running runs, and only a dead one a write. The claim loop never waits for any of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from bosun.records import ClaimedRun, HeldLease, WorkerRecord
from bosun.store import WorkerStore
from bosun.worker.liveness import is_gone

log = logging.getLogger("bosun.worker")
INTERVAL_MIN = 0.5  # seconds between looks, at least…
INTERVAL_MAX = 5.0  # …and at most (a sixth of the lease TTL in between)
NAMED_PER_LOOK = 50  # runs named one by one per look; the rest are named by later looks


class _Noted(NamedTuple):
    """What the watch logged of a run left behind, until the run is claimed."""

    owner: str  # the worker that held it
    token: str | None  # the lease logged (None: ended by the watch itself)
    until: float  # when that lease ends (or ended)
    why: str  # how the takeover is described when it comes


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def stalled(worker: WorkerRecord, now: float) -> bool:
    """Whether `worker` stopped heartbeating: it refreshes its row every third of its TTL,
    so half a TTL without one means it missed a refresh."""
    ttl = max(worker.expires_at - worker.last_seen, 0.0)
    return now - worker.last_seen > ttl / 2


def may_hold_leases(worker: WorkerRecord, now: float) -> bool:
    """Whether a worker that stopped heartbeating may still hold unexpired leases: they were
    renewed with its row, so none outlives its row's expiry by more than a TTL."""
    ttl = max(worker.expires_at - worker.last_seen, 0.0)
    return now < worker.expires_at + ttl


class Takeovers:
    """The takeover watch of one worker (see the module's doc).

    Args:
        store: the store.
        owner: this worker's id (its own row is skipped).
        queues, workflows: what this worker claims: only such runs are logged as waiting.
        lease_ttl: this worker's lease TTL, which sets the interval between looks.
        here: this process's PID namespace (`liveness.pid_namespace()`; None: never finds a
            worker dead, only stalled).
        wake: called when runs became claimable (wakes the claim loop).
    """

    def __init__(
        self,
        store: WorkerStore,
        *,
        owner: str,
        queues: Sequence[str],
        workflows: Sequence[str],
        lease_ttl: float,
        here: str | None,
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._owner = owner
        self._queues = list(queues)
        self._workflows = list(workflows)
        self._here = here
        self._wake = wake
        self.interval = min(INTERVAL_MAX, max(INTERVAL_MIN, lease_ttl / 6))
        self._gone: set[str] = set()  # workers found dead (their leases ended once)
        # Runs logged as waiting, or whose leases this worker ended: run id -> (worker id,
        # lease token, lease expiry, why the worker let go), to log their takeover.
        self._noted: dict[str, _Noted] = {}

    async def look(self) -> None:
        """One look at the registry (errors are the caller's: StoreError)."""
        now = time.time()
        workers = await self._store.list_workers()
        self._gone &= {w.id for w in workers}
        late: dict[str, WorkerRecord] = {}
        for worker in workers:
            if worker.id == self._owner or worker.id in self._gone:
                continue
            if is_gone(worker, self._here):
                await self._end_leases(worker, now)
            elif stalled(worker, now) and may_hold_leases(worker, now):
                late[worker.id] = worker
        if late and self._workflows:
            held = await self._store.leases_held_by(
                list(late), self._queues, self._workflows, now, NAMED_PER_LOOK
            )
            for lease in held:
                self._waiting(lease, late[lease.owner], now)
        # Forget what was noted of leases long past (their runs went elsewhere).
        for run_id, noted in list(self._noted.items()):
            if noted.until < now - 600:
                del self._noted[run_id]

    async def _end_leases(self, worker: WorkerRecord, now: float) -> None:
        self._gone.add(worker.id)
        if not may_hold_leases(worker, now):
            return  # long dead: its leases expired on their own
        expired = await self._store.expire_worker(worker.id, now)
        if not expired:
            return
        log.warning(
            "worker %s (pid %d on this machine) is gone: its process no longer runs; ended "
            "its leases on %d run(s), which are taken over now",
            worker.id,
            worker.pid,
            len(expired),
        )
        for run_id in expired:
            self._noted[run_id] = _Noted(worker.id, None, now, "whose process is gone")
        self._wake()

    def _waiting(self, lease: HeldLease, worker: WorkerRecord, now: float) -> None:
        noted = self._noted.get(lease.run_id)
        if noted is not None and (noted.owner, noted.token) == (lease.owner, lease.token):
            return  # logged once for this lease
        self._noted[lease.run_id] = _Noted(
            lease.owner,
            lease.token,
            lease.expires_at,
            "which stopped heartbeating",
        )
        log.warning(
            "run %s: lease held by worker %s (stopped heartbeating %.0f s ago) until %s, "
            "taking over then",
            lease.run_id,
            lease.owner,
            now - worker.last_seen,
            _clock(lease.expires_at),
        )

    def claimed(self, claimed: list[ClaimedRun]) -> None:
        """Log the takeovers among runs just claimed."""
        for item in claimed:
            if not item.took_over:
                continue
            noted = self._noted.pop(item.run.id, None)
            if noted is None:
                log.info("run %s: taken over, its previous lease expired", item.run.id)
            else:
                log.info(
                    "run %s: taken over from worker %s, %s", item.run.id, noted.owner, noted.why
                )
