"""A discrete-event simulation of jobs through one pool of instances.

An instance (a VM's worker, a pod, a function environment, a GPU container) holds `slots`
pieces of work at once. A job is a run's work on the pool: one piece, or several run one
after another (a long run split across drain-mode invocations, a chain of GPU steps). Pools
scale in one of three ways:

- `fixed`: `min_instances` always up (Docker Compose, always-on containers);
- `per_request`: a piece with no free slot starts an instance at once, which stays warm
  `idle_s` after its last piece (Lambda, Cloud Run, Modal);
- `polling`: every `poll_s` the scaler sets instances to ceil((queued + running) / slots),
  starting new ones that are ready `start_s` later and removing idle ones after `idle_s`
  below target (KEDA, metric alarms). Kubernetes pods also need nodes: a pod beyond the
  nodes' room waits for a new node.

The result integrates instance-, busy- and node-seconds over the counted window only, so
costs scale to a month by simple proportion. Pure Python with heapq; deterministic.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, cast

Scaling = Literal["fixed", "per_request", "polling"]
_ARRIVE, _READY, _DONE, _EXPIRE, _TICK = range(5)


@dataclass(frozen=True)
class NodeSpec:
    """Kubernetes nodes under a pool of pods."""

    pods_per_node: int
    provision_s: float
    scale_down_s: float


@dataclass(frozen=True)
class PoolSpec:
    """How a pool of instances is sized and scaled."""

    slots: int
    scaling: Scaling
    min_instances: int = 0
    max_instances: int = 1_000_000
    start_s: float = 0.0
    poll_s: float = 30.0
    idle_s: float = 300.0
    initial: int = 0  # instances already up when the simulation starts
    nodes: NodeSpec | None = None


@dataclass(frozen=True)
class Job:
    """A run's work on a pool: pieces run one after another, each holding one slot."""

    run: int
    arrive: float
    pieces: tuple[float, ...]
    counted: bool


@dataclass
class PoolResult:
    """What happened in the counted window `[t0, t1)`."""

    waits: dict[int, float] = field(default_factory=dict)  # counted run → seconds waiting
    instance_s: float = 0.0  # instances up: starting, idle or busy
    busy_s: float = 0.0  # instances with at least one piece running
    slot_s: float = 0.0  # pieces running
    node_s: float = 0.0
    pieces: int = 0  # pieces started
    cold_starts: int = 0  # instances started


@dataclass(eq=False)
class _Instance:
    ready_at: float
    busy: int = 0
    idle_since: float = 0.0
    alive: bool = True


class _Pool:
    def __init__(self, spec: PoolSpec, t0: float, t1: float, begin: float) -> None:
        self.spec, self.t0, self.t1 = spec, t0, t1
        self.events: list[tuple[float, int, int, object]] = []
        self.seq = 0
        self.queue: deque[tuple[Job, int, float]] = deque()
        self.free: list[_Instance] = []  # one entry per free slot of a ready instance
        self.instances: list[_Instance] = []
        self.result = PoolResult()
        self.last = begin
        self.running = 0
        self.busy_instances = 0
        self.starting = 0
        self.nodes = 0
        self.below_since: float | None = None
        self.nodes_surplus_since: float | None = None
        self.open_jobs = 0
        self.pending_waits: dict[int, float] = {}

    # -- bookkeeping ---------------------------------------------------------------------

    def push(self, at: float, kind: int, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, payload))

    def advance(self, now: float) -> None:
        lo, hi = max(self.last, self.t0), min(now, self.t1)
        if hi > lo:
            span = hi - lo
            r = self.result
            r.instance_s += len(self.instances) * span
            r.busy_s += self.busy_instances * span
            r.slot_s += self.running * span
            r.node_s += self.nodes * span
        self.last = now

    def start_instance(self, now: float) -> None:
        delay = self.spec.start_s
        nodes = self.spec.nodes
        if nodes is not None and len(self.instances) + 1 > self.nodes * nodes.pods_per_node:
            self.nodes += 1
            delay += nodes.provision_s
        inst = _Instance(ready_at=now + delay)
        self.instances.append(inst)
        self.starting += 1
        if self.t0 <= now < self.t1:
            self.result.cold_starts += 1
        self.push(now + delay, _READY, inst)

    def add_ready(self, inst: _Instance, now: float) -> None:
        inst.idle_since = now
        self.free.extend([inst] * self.spec.slots)
        if self.spec.scaling == "per_request":
            self.push(now + self.spec.idle_s, _EXPIRE, (inst, now))

    def remove(self, inst: _Instance) -> None:
        inst.alive = False
        self.instances.remove(inst)

    # -- work ----------------------------------------------------------------------------

    def dispatch(self, now: float) -> None:
        while self.queue:
            inst = self._take_slot()
            if inst is None:
                break
            job, piece, since = self.queue.popleft()
            self._run_piece(inst, job, piece, since, now)
        if self.spec.scaling == "per_request" and self.queue:
            wanted = math.ceil(len(self.queue) / self.spec.slots) - self.starting
            room = self.spec.max_instances - len(self.instances)
            for _ in range(max(0, min(wanted, room))):
                self.start_instance(now)

    def _take_slot(self) -> _Instance | None:
        while self.free:
            inst = self.free.pop()
            if inst.alive:
                return inst
        return None

    def _run_piece(self, inst: _Instance, job: Job, piece: int, since: float, now: float) -> None:
        if job.counted:
            self.pending_waits[job.run] = self.pending_waits.get(job.run, 0.0) + now - since
        if inst.busy == 0:
            self.busy_instances += 1
        inst.busy += 1
        self.running += 1
        if self.t0 <= now < self.t1:
            self.result.pieces += 1
        self.push(now + job.pieces[piece], _DONE, (inst, job, piece))

    def finish_piece(self, inst: _Instance, job: Job, piece: int, now: float) -> None:
        inst.busy -= 1
        self.running -= 1
        if inst.busy == 0:
            self.busy_instances -= 1
            inst.idle_since = now
            if self.spec.scaling == "per_request":
                self.push(now + self.spec.idle_s, _EXPIRE, (inst, now))
        self.free.append(inst)
        if piece + 1 < len(job.pieces):
            self.queue.append((job, piece + 1, now))
        elif job.counted:
            self.open_jobs -= 1
            self.result.waits[job.run] = self.pending_waits.pop(job.run, 0.0)

    def expire(self, inst: _Instance, since: float) -> None:
        if not inst.alive or inst.busy or inst.idle_since != since:
            return
        if len(self.instances) > self.spec.min_instances:
            self.remove(inst)

    # -- polling scaler ------------------------------------------------------------------

    def next_tick(self, now: float) -> float:
        """When the scaler next polls. While the pool is at rest (nothing queued, running or
        starting, no scale-in or node surplus pending) every poll before the next event
        changes nothing, so skip to the first poll at or after it, on the same poll grid:
        the results are those of polling every `poll_s`, without a month of idle polls."""
        step = self.spec.poll_s
        busy = self.queue or self.running or self.starting
        pending = self.below_since is not None or self.nodes_surplus_since is not None
        if busy or pending:
            return now + step
        upcoming = self.events[0][0] if self.events else self.t1
        return now + step * max(1, math.ceil((upcoming - now) / step))

    def tick(self, now: float) -> None:
        spec = self.spec
        demand = len(self.queue) + self.running
        desired = min(spec.max_instances, max(spec.min_instances, math.ceil(demand / spec.slots)))
        current = len(self.instances)
        if desired > current:
            self.below_since = None
            for _ in range(desired - current):
                self.start_instance(now)
        elif desired < current:
            if self.below_since is None:
                self.below_since = now
            elif now - self.below_since >= spec.idle_s:
                self._scale_in(desired)
        else:
            self.below_since = None
        self._nodes_tick(now)

    def _scale_in(self, desired: int) -> None:
        for inst in [i for i in self.instances if i.busy == 0 and i.ready_at <= self.last]:
            if len(self.instances) <= desired:
                break
            self.remove(inst)

    def _nodes_tick(self, now: float) -> None:
        nodes = self.spec.nodes
        if nodes is None:
            return
        needed = math.ceil(len(self.instances) / nodes.pods_per_node)
        if needed >= self.nodes:
            self.nodes_surplus_since = None
        elif self.nodes_surplus_since is None:
            self.nodes_surplus_since = now
        elif now - self.nodes_surplus_since >= nodes.scale_down_s:
            self.nodes = needed
            self.nodes_surplus_since = None


def simulate_pool(spec: PoolSpec, jobs: list[Job], t0: float, t1: float) -> PoolResult:
    """Run `jobs` through a pool; count what happens in `[t0, t1)`.

    Jobs arriving before `t0` are the warm-up: they load the pool but are not counted.
    """
    begin = min([t0, *(j.arrive for j in jobs)])
    pool = _Pool(spec, t0, t1, begin)
    up = spec.min_instances if spec.scaling == "fixed" else max(spec.initial, spec.min_instances)
    for _ in range(up):
        inst = _Instance(ready_at=begin)
        pool.instances.append(inst)
        pool.add_ready(inst, begin)
    if spec.nodes is not None:
        pool.nodes = math.ceil(up / spec.nodes.pods_per_node)
    for job in jobs:
        pool.push(job.arrive, _ARRIVE, job)
        pool.open_jobs += job.counted
    if spec.scaling == "polling":
        pool.push(begin, _TICK, None)
    _loop(pool)
    return pool.result


def _loop(pool: _Pool) -> None:
    events = pool.events
    while events:
        now, _, kind, payload = heapq.heappop(events)
        pool.advance(now)
        if kind == _ARRIVE:
            assert isinstance(payload, Job)
            pool.queue.append((payload, 0, now))
        elif kind == _READY:
            assert isinstance(payload, _Instance)
            pool.starting -= 1
            if not payload.alive:
                continue
            pool.add_ready(payload, now)
        elif kind == _DONE:
            inst, job, piece = cast(tuple[_Instance, Job, int], payload)
            pool.finish_piece(inst, job, piece, now)
        elif kind == _EXPIRE:
            inst, since = cast(tuple[_Instance, float], payload)
            pool.expire(inst, since)
            continue
        else:
            pool.tick(now)
            if now < pool.t1 or pool.open_jobs > 0:
                pool.push(pool.next_tick(now), _TICK, None)
        pool.dispatch(now)
    pool.advance(max(pool.last, pool.t1))
