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
- `scheduled`: every `poll_s` a timer starts one drain-mode invocation (an EventBridge or
  Cloud Scheduler trigger, a `modal.Period`), whatever the queue holds. It claims work
  into its `slots` until nothing is ready and nothing runs (then it exits `idle_s` later),
  or until its budget: it stops claiming `grace_s` before `budget_s` ends, and hands each
  piece it still runs back at the next step boundary (half a step, `step_s / 2`, within the
  grace), to be resumed by a later invocation after replaying `replay_s` of journal; a
  non-durable piece starts over instead. A new invocation reuses an environment that
  exited within `warm_s` (`warm_start_s`), else starts cold (`start_s`); `tail_s` of each
  exit is billed (a container kept warm).

The result integrates instance-, busy- and node-seconds over the counted window only, so
costs scale to a month by simple proportion. Pure Python with heapq; deterministic.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

Scaling = Literal["fixed", "per_request", "polling", "scheduled"]
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
    initial: int = 0  # instances already up when the simulation starts (scheduled: started
    # at the last `initial` ticks)
    nodes: NodeSpec | None = None
    # scheduled pools: each invocation's budget and how it ends (see the module docstring)
    budget_s: float | None = None
    grace_s: float = 0.0
    step_s: float = 0.0
    replay_s: float = 0.0
    durable: bool = True
    warm_s: float = 0.0
    warm_start_s: float = 0.0
    tail_s: float = 0.0
    load_s: float = 0.0  # an instance's first piece first loads this long (a GPU model)


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
    cold_starts: int = 0  # instances started cold
    invocations: int = 0  # instances started, cold or warm
    handbacks: int = 0  # counted runs' pieces handed back at an invocation's end
    failed: int = 0  # counted runs that could not finish (non-durable, longer than a budget)


@dataclass(eq=False)
class _Instance:
    ready_at: float
    busy: int = 0
    idle_since: float = 0.0
    alive: bool = True
    stop_at: float = math.inf  # scheduled: stops claiming
    loaded: bool = False  # its first piece has loaded what `load_s` loads
    cut_at: float = math.inf  # scheduled: pieces still running are handed back


class _Pool:
    def __init__(self, spec: PoolSpec, t0: float, t1: float, begin: float) -> None:
        self.spec, self.t0, self.t1 = spec, t0, t1
        # (when, order of pushing, kind, payload): the payload's type follows the kind.
        self.events: list[tuple[float, int, int, Any]] = []
        self.seq = 0
        self.queue: deque[tuple[Job, int, float, float]] = deque()  # job, piece, since, left
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
        self.warm: list[float] = []  # scheduled: when environments that may be reused exited

    # -- bookkeeping ---------------------------------------------------------------------

    def push(self, at: float, kind: int, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, payload))

    def advance(self, now: float) -> None:
        last, t0, t1 = self.last, self.t0, self.t1
        lo = last if last > t0 else t0
        hi = now if now < t1 else t1
        if hi > lo:
            span = hi - lo
            r = self.result
            r.instance_s += len(self.instances) * span
            r.busy_s += self.busy_instances * span
            r.slot_s += self.running * span
            r.node_s += self.nodes * span
        self.last = now

    def start_instance(self, now: float) -> None:
        spec = self.spec
        delay, cold = spec.start_s, True
        nodes = spec.nodes
        if nodes is not None and len(self.instances) + 1 > self.nodes * nodes.pods_per_node:
            self.nodes += 1
            delay += nodes.provision_s
        self.warm = [t for t in self.warm if now - t <= spec.warm_s]
        if self.warm:
            self.warm.pop()
            delay, cold = spec.warm_start_s, False
        inst = _Instance(ready_at=now + delay)
        self.instances.append(inst)
        self.starting += 1
        if self.t0 <= now < self.t1:
            self.result.cold_starts += cold
            self.result.invocations += 1
        self.push(now + delay, _READY, inst)

    def add_ready(self, inst: _Instance, now: float, idle_s: float | None = None) -> None:
        spec = self.spec
        inst.idle_since = now
        if spec.budget_s is not None:
            inst.stop_at = now + max(0.0, spec.budget_s - spec.grace_s)
            inst.cut_at = min(now + spec.budget_s, inst.stop_at + spec.step_s / 2)
        self.free.extend([inst] * spec.slots)
        if spec.scaling in ("per_request", "scheduled"):
            self.push(now + (spec.idle_s if idle_s is None else idle_s), _EXPIRE, (inst, now))

    def remove(self, inst: _Instance) -> None:
        inst.alive = False
        self.instances.remove(inst)
        if self.spec.scaling == "scheduled":
            self.warm.append(self.last)
            if self.t0 <= self.last < self.t1:
                self.result.instance_s += self.spec.tail_s

    # -- work ----------------------------------------------------------------------------

    def dispatch(self, now: float) -> None:
        while self.queue:
            inst = self._take_slot(now)
            if inst is None:
                break
            job, piece, since, left = self.queue.popleft()
            self._run_piece(inst, job, piece, since, left, now)
        if self.spec.scaling == "per_request" and self.queue:
            wanted = math.ceil(len(self.queue) / self.spec.slots) - self.starting
            room = self.spec.max_instances - len(self.instances)
            for _ in range(max(0, min(wanted, room))):
                self.start_instance(now)

    def _take_slot(self, now: float) -> _Instance | None:
        while self.free:
            inst = self.free.pop()
            if inst.alive and now < inst.stop_at:
                return inst
        return None

    def _run_piece(
        self, inst: _Instance, job: Job, piece: int, since: float, left: float, now: float
    ) -> None:
        load = 0.0
        if not inst.loaded:
            inst.loaded, load = True, self.spec.load_s
        if job.counted:
            waited = now - since + load  # loading the model delays the run like a queue
            self.pending_waits[job.run] = self.pending_waits.get(job.run, 0.0) + waited
        if inst.busy == 0:
            self.busy_instances += 1
        inst.busy += 1
        self.running += 1
        if self.t0 <= now < self.t1:
            self.result.pieces += 1
        end = now + load + left
        rest = 0.0
        if end > inst.cut_at:  # the invocation hands it back at its end
            end, rest = max(now, inst.cut_at), left - max(0.0, inst.cut_at - now - load)
        self.push(end, _DONE, (inst, job, piece, rest))

    def finish_piece(self, inst: _Instance, job: Job, piece: int, rest: float, now: float) -> None:
        inst.busy -= 1
        self.running -= 1
        if inst.busy == 0:
            self.busy_instances -= 1
            inst.idle_since = now
            if self.spec.scaling in ("per_request", "scheduled"):
                self.push(now + self.spec.idle_s, _EXPIRE, (inst, now))
        self.free.append(inst)
        if rest > 0:
            self._hand_back(job, piece, rest, now)
        elif piece + 1 < len(job.pieces):
            self.queue.append((job, piece + 1, now, job.pieces[piece + 1]))
        else:
            self._close(job)

    def _hand_back(self, job: Job, piece: int, rest: float, now: float) -> None:
        """A piece cut at an invocation's end: resumed later, or (not durable) started over
        if it can ever fit in one invocation."""
        spec = self.spec
        if job.counted and self.t0 <= now < self.t1:
            self.result.handbacks += 1
        if spec.durable:
            self.queue.append((job, piece, now, rest + spec.replay_s))
            return
        whole = job.pieces[piece]
        if spec.budget_s is not None and whole > spec.budget_s - spec.grace_s:
            self.result.failed += job.counted
            self._close(job)
            return
        self.queue.append((job, piece, now, whole))

    def _close(self, job: Job) -> None:
        if job.counted:
            self.open_jobs -= 1
            self.result.waits[job.run] = self.pending_waits.pop(job.run, 0.0)

    def expire(self, inst: _Instance, since: float) -> None:
        if not inst.alive or inst.busy or inst.idle_since != since:
            return
        if self.spec.scaling == "scheduled":
            if self.queue and self.last < inst.stop_at:
                return  # work arrived as it was about to exit: it claims it (dispatch)
            self.remove(inst)
        elif len(self.instances) > self.spec.min_instances:
            self.remove(inst)

    # -- polling scaler ------------------------------------------------------------------

    def next_tick(self, now: float) -> float:
        """When the scaler next polls. While the pool is at rest (nothing queued, running or
        starting, no scale-in or node surplus pending) every poll before the next event
        changes nothing, so skip to the first poll at or after it, on the same poll grid:
        the results are those of polling every `poll_s`, without a month of idle polls."""
        step = self.spec.poll_s
        if self.spec.scaling == "scheduled":
            return now + step  # every tick starts an invocation, work or not
        busy = self.queue or self.running or self.starting
        pending = self.below_since is not None or self.nodes_surplus_since is not None
        if busy or pending:
            return now + step
        upcoming = self.events[0][0] if self.events else self.t1
        return now + step * max(1, math.ceil((upcoming - now) / step))

    def tick(self, now: float) -> None:
        spec = self.spec
        if spec.scaling == "scheduled":
            if len(self.instances) < spec.max_instances:
                self.start_instance(now)
            return
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
    if spec.scaling == "scheduled" and spec.budget_s is not None:
        up = min(up, int(spec.budget_s // spec.poll_s))
    for k in range(up):
        inst = _Instance(ready_at=begin, loaded=True)  # up and loaded before the window
        pool.instances.append(inst)
        # Scheduled invocations already running have work coming: they stay a tick at least.
        pool.add_ready(inst, begin, spec.poll_s if spec.scaling == "scheduled" else None)
        if spec.scaling == "scheduled":
            # Invocations of the last ticks, already running: their budgets end in turn.
            inst.stop_at -= k * spec.poll_s
            inst.cut_at -= k * spec.poll_s
    if spec.nodes is not None:
        pool.nodes = math.ceil(up / spec.nodes.pods_per_node)
    for job in jobs:
        pool.push(job.arrive, _ARRIVE, job)
        pool.open_jobs += job.counted
    if spec.scaling in ("polling", "scheduled"):
        pool.push(begin, _TICK, None)
    _loop(pool)
    return pool.result


def _loop(pool: _Pool) -> None:
    # The hot loop of `bosun plan` (hundreds of thousands of events a setup): names bound
    # once, and the commonest events (a piece done, a run arriving) tested first.
    events, queue = pool.events, pool.queue
    pop, advance, dispatch = heapq.heappop, pool.advance, pool.dispatch
    scheduled = pool.spec.scaling == "scheduled"
    while events:
        now, _, kind, payload = pop(events)
        advance(now)
        if kind == _DONE:
            inst, job, piece, rest = payload
            pool.finish_piece(inst, job, piece, rest, now)
        elif kind == _ARRIVE:
            queue.append((payload, 0, now, payload.pieces[0]))
        elif kind == _READY:
            pool.starting -= 1
            if not payload.alive:
                continue
            pool.add_ready(payload, now)
        elif kind == _EXPIRE:
            inst, since = payload
            pool.expire(inst, since)
            if not scheduled:
                continue
        else:
            pool.tick(now)
            if now < pool.t1 or pool.open_jobs > 0:
                pool.push(pool.next_tick(now), _TICK, None)
        dispatch(now)
    pool.advance(max(pool.last, pool.t1))
