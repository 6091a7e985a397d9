"""bosun: a durable runtime for AI agents.

Workflows are plain async Python; every step, timer and signal is journaled, so a run
survives crashes, evictions and deploys by replay.

`import bosun` stays light, so that a worker of a plain workflow starts fast (a serverless
invocation pays for every import): the agent toolkit (`Agent`, `Budget` and their errors), the
HTTP client (`Client`, `AsyncClient`) and `bosun.mcp` (tools from MCP servers, which needs the
`mcp` extra only to make a server) are imported on first use.
"""

from typing import TYPE_CHECKING, Any

from bosun.app import App
from bosun.buckets import RateLimit, Reservation
from bosun.context import Context, current_context
from bosun.errors import (
    AuthenticationFailed,
    BosunError,
    ChildFailed,
    ConfigurationError,
    DeadlineExceeded,
    DeterminismError,
    IdempotencyConflict,
    InvalidArguments,
    InvalidRequest,
    InvalidRunState,
    InvalidSchedule,
    LeaseLost,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ResultTimeout,
    RunCancelled,
    RunError,
    RunFailed,
    RunNotFound,
    ScheduleNotFound,
    SchemaTooNew,
    SerializationError,
    ServiceError,
    SessionBusy,
    SessionNotFound,
    SignalTimeout,
    StepFailed,
    StoreError,
    StoreUnavailable,
    WorkflowNotFound,
)
from bosun.handles import RunHandle
from bosun.registry import Step, Workflow
from bosun.retry import Retry
from bosun.version import __version__

if TYPE_CHECKING:
    from bosun import mcp as mcp
    from bosun.agents.agent import Agent
    from bosun.agents.budget import Budget
    from bosun.agents.errors import (
        BudgetExceeded,
        ContentFiltered,
        GuardrailTripped,
        OutputTruncated,
        Refused,
    )
    from bosun.agents.guardrails import guardrail
    from bosun.agents.handoffs import handoff
    from bosun.client import AsyncClient, Client

# Exported names whose modules are imported when first used: name -> module.
_LAZY = {
    "Agent": "bosun.agents.agent",
    "Budget": "bosun.agents.budget",
    "BudgetExceeded": "bosun.agents.errors",
    "ContentFiltered": "bosun.agents.errors",
    "GuardrailTripped": "bosun.agents.errors",
    "OutputTruncated": "bosun.agents.errors",
    "Refused": "bosun.agents.errors",
    "AsyncClient": "bosun.client",
    "Client": "bosun.client",
    "guardrail": "bosun.agents.guardrails",
    "handoff": "bosun.agents.handoffs",
}

__all__ = [
    "Agent",
    "App",
    "AsyncClient",
    "AuthenticationFailed",
    "BosunError",
    "Budget",
    "BudgetExceeded",
    "ChildFailed",
    "Client",
    "ConfigurationError",
    "ContentFiltered",
    "Context",
    "DeadlineExceeded",
    "DeterminismError",
    "GuardrailTripped",
    "IdempotencyConflict",
    "InvalidArguments",
    "InvalidRequest",
    "InvalidRunState",
    "InvalidSchedule",
    "LeaseLost",
    "OutputTruncated",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimit",
    "RateLimited",
    "Refused",
    "Reservation",
    "ResultTimeout",
    "Retry",
    "RunCancelled",
    "RunError",
    "RunFailed",
    "RunHandle",
    "RunNotFound",
    "ScheduleNotFound",
    "SchemaTooNew",
    "SerializationError",
    "ServiceError",
    "SessionBusy",
    "SessionNotFound",
    "SignalTimeout",
    "Step",
    "StepFailed",
    "StoreError",
    "StoreUnavailable",
    "Workflow",
    "WorkflowNotFound",
    "__version__",
    "current_context",
    "guardrail",
    "handoff",
]


def __getattr__(name: str) -> Any:
    """The lazy exports and `bosun.mcp` (without `import bosun.mcp`), imported when first
    used; each is then kept in the module, so later lookups do not come here."""
    import importlib

    if name == "mcp":
        return importlib.import_module("bosun.mcp")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bosun' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
