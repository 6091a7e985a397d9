"""The store's ports: one small protocol per concern.

Code that needs one concern takes that port (the API key check takes an `ApiKeyStore`); the
connectors implement them all, and `bosun.store.Store` is the protocol combining them.

| Port | Concern |
|---|---|
| `LifecycleStore` | open, close, schema version |
| `RunStore` | runs and their journals: create, claim, lease, progress, signal, cancel, prune |
| `EventStore` | runs' durable events and live ones (streams) |
| `QueueStore` | queue limits and statistics, unserved work |
| `WorkerStore` | the worker registry and the leases workers hold |
| `ScheduleStore` | schedules and their ticks |
| `SessionStore` | sessions and their messages |
| `MemoryStore` | long-term memories (embeddings) |
| `ApiKeyStore` | API keys |
| `UsageStore` | LLM usage totals |
| `WorkloadStore` | the recent workload, for `bosun plan` |
| `RateLimitStore` | shared rate-limit buckets |
"""

from __future__ import annotations

from bosun.store.ports.api_keys import ApiKeyStore
from bosun.store.ports.events import EventStore
from bosun.store.ports.lifecycle import LifecycleStore
from bosun.store.ports.memories import MemoryStore
from bosun.store.ports.queues import QueueStore
from bosun.store.ports.rate_limits import RateLimitStore
from bosun.store.ports.runs import RunStore
from bosun.store.ports.schedules import ScheduleStore
from bosun.store.ports.sessions import SessionStore
from bosun.store.ports.usage import UsageStore
from bosun.store.ports.workers import WorkerStore
from bosun.store.ports.workload import WorkloadStore

__all__ = [
    "ApiKeyStore",
    "EventStore",
    "LifecycleStore",
    "MemoryStore",
    "QueueStore",
    "RateLimitStore",
    "RunStore",
    "ScheduleStore",
    "SessionStore",
    "UsageStore",
    "WorkerStore",
    "WorkloadStore",
]
