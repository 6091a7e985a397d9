"""Webhook delivery as a durable run: retried with back-off on durable timers, so a receiver
that is down for hours still gets the call once it is back.

A run submitted with `webhook=URL` gets a `bosun.webhook` run when it finishes, created in
the same transaction as its outcome (see `bosun.engine.runner`). Every App registers the
workflow, so whichever worker serves the run's queue delivers it.

The delivery run's id is the `Bosun-Delivery` header of every attempt. A final answer (a 3xx
or a 4xx other than 408 and 429) or a refused receiver stops the retries at once; the
delivery run then ends `failed`, its error saying why. A 429 or 503 with `Retry-After` gets
its next attempt no sooner than the receiver asked (at most an hour later).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from bosun.context import current_context
from bosun.engine.runner import WEBHOOK_WORKFLOW
from bosun.errors import InvalidRequest, WebhookRejected
from bosun.retry import Retry
from bosun.wire import run_view

if TYPE_CHECKING:
    from bosun.context import Context
    from bosun.hosts import DeliveryHost

# About a day of attempts: 1 s, 2 s, 4 s, … capped at an hour between tries.
DELIVERY_RETRY = Retry(
    attempts=30,
    initial=1.0,
    backoff=2.0,
    max_interval=3600.0,
    non_retryable=(InvalidRequest, WebhookRejected),
)


def register_delivery(app: DeliveryHost) -> None:
    """Register the `bosun.webhook` workflow and its step on `app`."""

    @app.step(name="bosun.webhook.post", retry=DELIVERY_RETRY, timeout=30)
    async def post(run_id: str, url: str) -> int:
        from bosun.webhooks import deliver  # with hmac and the egress guard: when one is sent

        record = await app.store.get_run(run_id)
        if record is None:
            return 0  # pruned before delivery: nothing left to report
        body = {"type": f"run.{record.status}", "run": run_view(record)}
        payload = json.dumps(body, separators=(",", ":")).encode()
        return await deliver(
            url,
            payload,
            secret=app.webhook_secret,
            allow=app.webhook_allow,
            delivery_id=current_context().run_id,  # this delivery run's: alike on every attempt
        )

    async def webhook(ctx: Context, run_id: str, url: str) -> int:
        return await post(run_id, url)

    app.workflow(name=WEBHOOK_WORKFLOW)(webhook)
