"""AWS Lambda entry point: drain bosun's queues for the time the invocation has left.

Set the function's handler to `bosun.serverless.lambda_handler.handler` and its environment:

| variable | meaning |
|---|---|
| `BOSUN_APP` | the app: `package.module:app` importable in the function, or `path/to/file.py` |
| `BOSUN_DATABASE_URL` | the database, `postgresql://…` |
| `BOSUN_QUEUES` | queues to serve, comma-separated (default `default`) |
| `BOSUN_CONCURRENCY` | runs executed at once (default 16) |

Each invocation runs a drain-mode worker (`until_idle`, `max_seconds`) whose budget is the
time left once the app and database are open, less a margin (a fifth of it, at most 10 s) for
closing and returning; it stops early when nothing is ready. The event is not read: trigger
it on a schedule or from a queue-depth alarm. It returns the worker's summary as JSON, e.g.
`{"completed": 3, "handed_back": 1, …, "exit_code": 0}` (codes as `bosun worker`'s).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bosun import settings
from bosun.errors import ConfigurationError
from bosun.worker.summary import WorkerSummary
from bosun.worker.timebox import drain_grace
from bosun.worker.worker import Worker, WorkerOptions

if TYPE_CHECKING:
    from bosun.app import App

MARGIN_SHARE = 0.2  # of the time left, kept back for closing and returning
MARGIN_MAX = 10.0
MIN_BUDGET = 1.0  # seconds: less than this is a misconfigured function timeout


class LambdaContext(Protocol):
    """The part of AWS Lambda's context object the handler uses."""

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds before the platform stops this invocation."""
        ...


@dataclass(frozen=True)
class HandlerSettings:
    """The handler's configuration, from the function's environment variables."""

    app_ref: str
    database: str
    queues: tuple[str, ...] = ("default",)
    concurrency: int = 16

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HandlerSettings:
        """Read BOSUN_APP, BOSUN_DATABASE_URL, BOSUN_QUEUES and BOSUN_CONCURRENCY.

        Raises:
            ConfigurationError: BOSUN_APP is unset or BOSUN_CONCURRENCY is not a number.
        """
        app_ref = environ.get("BOSUN_APP", "")
        if not app_ref:
            raise ConfigurationError(
                "BOSUN_APP is not set: give the function the app to run, e.g. "
                "BOSUN_APP=myagents.app:app (a module in the deployment package)"
            )
        queues = tuple(q.strip() for q in environ.get("BOSUN_QUEUES", "default").split(","))
        raw = environ.get("BOSUN_CONCURRENCY", "16")
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigurationError(f"BOSUN_CONCURRENCY={raw!r}: give a whole number >= 1")
        return cls(
            app_ref=app_ref,
            database=environ.get("BOSUN_DATABASE_URL") or settings.DEFAULT_DATABASE_URL,
            queues=tuple(q for q in queues if q) or ("default",),
            concurrency=int(raw),
        )


def margin(remaining: float) -> float:
    """Seconds of the time left kept back from the worker's budget."""
    return min(MARGIN_MAX, remaining * MARGIN_SHARE)


@functools.cache
def _app(app_ref: str, database: str) -> App:
    # Imported once per container: warm invocations reuse the app (and reopen its store).
    from bosun.loader import load_app

    app = load_app(app_ref)
    app.use_database(database)
    app.observability.discard_metrics()  # nothing scrapes a function: count nothing
    return app


async def drain(app: App, config: HandlerSettings, context: LambdaContext) -> WorkerSummary:
    """Open the app, run a drain-mode worker for the time left less the margin, close."""
    async with app:
        remaining = context.get_remaining_time_in_millis() / 1000
        budget = remaining - margin(remaining)
        if budget < MIN_BUDGET:
            raise ConfigurationError(
                f"only {remaining:.1f} s left once the app was open: raise the function's "
                "timeout (minutes suit drain mode; the maximum is 15)"
            )
        options = WorkerOptions(
            queues=config.queues,
            concurrency=config.concurrency,
            lease_ttl=app.lease_ttl,
            grace=drain_grace(budget),
            until_idle=True,
            max_seconds=budget,
        )
        worker = Worker(app, options)
        await worker.run()
    return worker.summary


def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Lambda handler: drain the queues for this invocation's time; return the summary."""
    config = HandlerSettings.from_environ(os.environ)
    app = _app(config.app_ref, config.database)
    summary = asyncio.run(drain(app, config, context))
    return {"app": app.name, "queues": list(config.queues), **summary.as_dict()}
