"""bosun: a durable runtime for AI agents.

Workflows are plain async Python; every step, timer and signal is journaled, so a run
survives crashes, evictions and deploys by replay.
"""

from bosun.agents.agent import Agent
from bosun.agents.budget import Budget
from bosun.agents.errors import BudgetExceeded
from bosun.app import App, Step, Workflow
from bosun.buckets import RateLimit, Reservation
from bosun.client import AsyncClient, Client
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
from bosun.retry import Retry

__version__ = "0.1.0"

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
    "Context",
    "DeadlineExceeded",
    "DeterminismError",
    "IdempotencyConflict",
    "InvalidArguments",
    "InvalidRequest",
    "InvalidRunState",
    "InvalidSchedule",
    "LeaseLost",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimit",
    "RateLimited",
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
]
