"""The Store protocol: every port of `bosun.store.ports` in one, as each connector is.

Connectors (`bosun.store.sqlite`, `bosun.store.postgres`) hold only SQL and driver code; nothing
above the store imports a database driver. Code that needs one concern takes that concern's
port rather than the whole `Store`.
"""

from __future__ import annotations

from typing import Protocol

from bosun.store.ports import (
    ApiKeyStore,
    EventStore,
    LifecycleStore,
    MemoryStore,
    QueueStore,
    RateLimitStore,
    RunStore,
    ScheduleStore,
    SessionStore,
    UsageStore,
    WorkerStore,
    WorkloadStore,
)


class Store(
    LifecycleStore,
    RunStore,
    EventStore,
    QueueStore,
    WorkerStore,
    ScheduleStore,
    SessionStore,
    MemoryStore,
    ApiKeyStore,
    UsageStore,
    WorkloadStore,
    RateLimitStore,
    Protocol,
):
    """Durable state of runs, journals, signals and events, and of everything around them:
    queues, workers, schedules, sessions, memories, API keys, usage and rate limits."""
