"""What the services below `App` need of it, as narrow protocols: handles, sessions, the
scheduler, webhook delivery and the worker take one of these, never the App itself, so
nothing below `bosun.app` imports it. `App` satisfies every one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:
    from bosun.engine.definitions import StepDef, WorkflowDef
    from bosun.retry import Retry
    from bosun.store import Store

P = ParamSpec("P")
R = TypeVar("R")


class StepDecorator(Protocol):
    """`@app.step(...)`: a function in, a journaled step (called like it) out."""

    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]: ...


class Workflows(Protocol):
    """The registered workflows and steps, by name (`bosun.registry.Registry`)."""

    @property
    def workflows(self) -> Mapping[str, WorkflowDef]: ...

    @property
    def steps(self) -> Mapping[str, StepDef]: ...

    def workflow(self, name: str) -> WorkflowDef: ...


class StoreHost(Protocol):
    """An app's store, opened on first use."""

    @property
    def store(self) -> Store: ...

    async def open(self) -> None: ...


class RunHost(StoreHost, Protocol):
    """What a `RunHandle` needs: results decoded by their workflow, signals, cancelling."""

    @property
    def registry(self) -> Workflows: ...

    @property
    def max_payload_bytes(self) -> int | None: ...

    async def cancel(self, run_id: str) -> list[str]: ...


class SessionHost(StoreHost, Protocol):
    """What a `Session` needs: its rows, and where sandbox workspaces live."""

    @property
    def workspace_roots(self) -> set[Path]: ...


class DeliveryHost(StoreHost, Protocol):
    """What registering webhook delivery needs: the secret, the allow-list, decorators."""

    @property
    def webhook_secret(self) -> str | None: ...

    @property
    def webhook_allow(self) -> tuple[str, ...]: ...

    def step(
        self, *, retry: Retry | None = None, timeout: float | None = None, name: str | None = None
    ) -> StepDecorator: ...

    def workflow(self, *, name: str | None = None) -> Any: ...
