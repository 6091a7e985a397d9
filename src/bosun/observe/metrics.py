"""Prometheus metrics of one App: what its API and workers did, and how deep its queues are.

Every App has its own `CollectorRegistry` (never the process-global default), so two Apps in
one process, or two tests, do not mix their numbers. Counters and histograms are updated in
memory where things happen (a few per step); queue depths come from the database, read at
most every `queue_stats_max_age` seconds when a scrape asks (`refresh_queues`), so scrapes
never load the database more than that. docs/metrics.md lists every metric.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bosun.errors import StoreError

if TYPE_CHECKING:
    from bosun.records import QueueStats, UnservedWork
    from bosun.store import MemoryStore, QueueStore

    class ScrapedStore(QueueStore, MemoryStore, Protocol):
        """What a scrape reads: the queues' depths and the memory search path."""


log = logging.getLogger("bosun.observe")
M = TypeVar("M", Counter, Histogram)  # a labelled metric: labels() gives one of its kind

# Seconds. Steps range from a cache lookup to a long tool run; LLM calls from a short
# completion to minutes of generation.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
LLM_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
DEFAULT_QUEUE_STATS_MAX_AGE = 5.0


class Metrics:
    """The metrics of one App, in their own registry (`registry`), served at `/metrics`.

    Args:
        queue_stats_max_age: seconds a reading of the queues' depths is served before a
            scrape reads them again (0: every scrape reads them).
    """

    def __init__(self, *, queue_stats_max_age: float = DEFAULT_QUEUE_STATS_MAX_AGE) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self._children: dict[tuple[int, tuple[str, ...]], Counter | Histogram] = {}  # series()
        self.runs_submitted = Counter(
            "bosun_runs_submitted",
            "Runs created by this process (API, app.start, events, child runs), by workflow.",
            ["workflow"],
            registry=registry,
        )
        self.runs_finished = Counter(
            "bosun_runs_finished",
            "Runs that ended (completed, failed, cancelled) or were blocked, by workflow and "
            "status.",
            ["workflow", "status"],
            registry=registry,
        )
        self.executions = Counter(
            "bosun_run_executions",
            "Executions of claimed runs by this process's workers, by how each ended: "
            "complete, fail, suspend, release, block, or abandoned.",
            ["workflow", "outcome"],
            registry=registry,
        )
        self.step_seconds = Histogram(
            "bosun_step_duration_seconds",
            "Duration of executed step attempts (replayed steps excluded), by kind (step, "
            "llm, tool), step name and status (completed, retrying, failed).",
            ["kind", "step", "status"],
            buckets=STEP_BUCKETS,
            registry=registry,
        )
        self.step_retries = Counter(
            "bosun_step_retries",
            "Step attempts that failed and will be retried, by kind and step name.",
            ["kind", "step"],
            registry=registry,
        )
        self.llm_seconds = Histogram(
            "bosun_llm_call_duration_seconds",
            "Duration of LLM calls that returned, from request to the end of the answer, by "
            "provider-side model.",
            ["model"],
            buckets=LLM_BUCKETS,
            registry=registry,
        )
        self.llm_tokens = Counter(
            "bosun_llm_tokens",
            "Tokens of LLM calls, by model, tenant and type (input, cached included; output).",
            ["model", "tenant", "type"],
            registry=registry,
        )
        self.llm_cost = Counter(
            "bosun_llm_cost_usd",
            "Price in USD of LLM calls at the model alias's rates, by model and tenant.",
            ["model", "tenant"],
            registry=registry,
        )
        self.lease_takeovers = Counter(
            "bosun_lease_takeovers",
            "Claims that took a run over from a worker whose lease had expired, by queue.",
            ["queue"],
            registry=registry,
        )
        self.sandbox_runs = Counter(
            "bosun_sandbox_runs",
            "Runs of code in bosun.sandbox, by backend and outcome (ok, error, killed, or the "
            "limit that stopped it).",
            ["backend", "outcome"],
            registry=registry,
        )
        self.queues = QueueCollector(queue_stats_max_age)
        self.slots = SlotCollector()
        registry.register(self.queues)
        registry.register(self.slots)

    def count(self, counter: Counter, *labels: str) -> None:
        """Add one to `counter`'s series for `labels`."""
        self.series(counter, *labels).inc()

    def series(self, metric: M, *labels: str) -> M:
        """`metric.labels(*labels)`, kept: a `labels()` lookup costs more than the increment
        or observation made with it, and runs make a few each."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child  # type: ignore[return-value]

    async def refresh_queues(self, store: ScrapedStore, known: Iterable[str] = ()) -> None:
        """Read the queues' depths from `store` unless the last reading is recent enough.
        Every known queue (`Store.queue_stats`; `known`: those the App declares) has its
        series, at 0 when empty, so a queue neither vanishes when it empties nor appears
        only with its first run."""
        await self.queues.refresh(store, known)

    def names(self) -> set[str]:
        """Every sample name this registry can expose (`bosun_runs_finished_total`,
        `…_bucket`, …): what dashboards and docs may refer to."""
        names = set()
        for family in self.registry.collect():
            names.add(family.name)
            if family.type == "counter":
                names.add(f"{family.name}_total")
            elif family.type == "histogram":
                names.update(f"{family.name}{s}" for s in ("_bucket", "_sum", "_count"))
        return names


class QueueCollector(Collector):
    """Per-queue depth gauges from the last `Store.queue_stats()` reading.

    Scrapes are synchronous and the store is async, so the reading is taken by the async
    scrape handler (`refresh`) and this collector only formats it.
    """

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._stats: list[QueueStats] = []
        self._unserved: list[UnservedWork] = []
        self._memory_search: str | None = None
        self._read_at = float("-inf")

    async def refresh(self, store: ScrapedStore, known: Iterable[str] = ()) -> None:
        now = time.monotonic()
        if now - self._read_at < self.max_age:
            return
        # Claim the refresh before awaiting, so scrapes arriving meanwhile serve the
        # previous reading instead of querying too.
        previous, self._read_at = self._read_at, now
        try:
            self._stats = await store.queue_stats(known=known)
            self._unserved = await store.unserved_work(time.time())
            self._memory_search = await store.memory_search_path()
        except StoreError as exc:
            self._read_at = previous
            log.warning("could not read queue depths for /metrics (serving the last): %s", exc)

    def collect(self) -> Iterator[Metric]:
        gauges = [
            ("bosun_queue_ready_runs", "Runs ready to be claimed now, by queue.", "ready"),
            ("bosun_queue_in_flight_runs", "Runs leased to a worker, by queue.", "in_flight"),
            (
                "bosun_queue_waiting_runs",
                "Runs waiting on a timer, signal or child (no worker needed), by queue.",
                "waiting",
            ),
            (
                "bosun_queue_oldest_ready_age_seconds",
                "How long the oldest ready run of the queue has waited to be claimed.",
                "oldest_ready_age",
            ),
        ]
        for name, help_text, field in gauges:
            family = GaugeMetricFamily(name, help_text, labels=["queue"])
            for stats in self._stats:
                family.add_metric([stats.queue], float(getattr(stats, field)))
            yield family
        unserved = GaugeMetricFamily(
            "bosun_queue_unserved_ready_runs",
            "Ready runs that no live worker serves (none registers their workflow for the "
            "queue), by queue and workflow, once the oldest has waited the grace period.",
            labels=["queue", "workflow"],
        )
        for work in self._unserved:
            unserved.add_metric([work.queue, work.workflow], work.ready)
        yield unserved
        memory = GaugeMetricFamily(
            "bosun_memory_search",
            "1 for how this database searches memories: pgvector (HNSW index) or exact.",
            labels=["path"],
        )
        if self._memory_search is not None:
            memory.add_metric([self._memory_search], 1)
        yield memory


class Slots(Protocol):
    """One worker's slots as the collector reads them (`bosun.observe.observer.SlotCounter`)."""

    concurrency: int
    busy: int

    def is_draining(self) -> bool: ...


class SlotCollector(Collector):
    """Busy and free execution slots of this process's workers. A draining worker's idle
    slots are not free: it takes no more work."""

    def __init__(self) -> None:
        self._workers: weakref.WeakSet[Slots] = weakref.WeakSet()

    def track(self, counter: Slots) -> None:
        self._workers.add(counter)

    def collect(self) -> Iterator[Metric]:
        busy = free = 0
        for worker in list(self._workers):
            busy += worker.busy
            if not worker.is_draining():
                free += max(worker.concurrency - worker.busy, 0)
        family = GaugeMetricFamily(
            "bosun_worker_slots",
            "Execution slots of this process's workers, by state (busy, free).",
            labels=["state"],
        )
        family.add_metric(["busy"], busy)
        family.add_metric(["free"], free)
        yield family
