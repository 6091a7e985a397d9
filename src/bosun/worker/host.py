"""What a worker needs of the App it executes: its store and registry, the limits and
settings its runs get, its plug-ins' parts, and its observability. `bosun.app.App` is one;
the worker never imports it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from bosun.schedules import ScheduledWorkflows, ScheduleHost
from bosun.worker.extensions import PluginParts

if TYPE_CHECKING:
    from bosun.buckets import RateLimit
    from bosun.engine.definitions import WorkflowDef
    from bosun.engine.hooks import RunObserver


class WorkerRegistry(ScheduledWorkflows, Protocol):
    """The registry as a worker reads it: workflows to resolve, shared rate limits."""

    @property
    def rate_limits(self) -> Mapping[str, RateLimit]: ...

    def resolve(self, workflow: Any) -> WorkflowDef: ...


class Observing(Protocol):
    def run_observer(self, concurrency: int, is_draining: Callable[[], bool]) -> RunObserver: ...


class WorkerHost(ScheduleHost, PluginParts, Protocol):
    """The App, as its workers see it."""

    @property
    def registry(self) -> WorkerRegistry: ...

    @property
    def max_payload_bytes(self) -> int | None: ...

    @property
    def queue_limits(self) -> Mapping[str, int]: ...

    @property
    def retention(self) -> timedelta | None: ...

    @property
    def observability(self) -> Observing: ...

    def register_model_rate_limits(self) -> None: ...

    def models_in_use(self) -> bool: ...
