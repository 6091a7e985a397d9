"""What every request of one server shares: the App, the settings, auth and limits."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from bosun.app import App
from bosun.errors import RateLimited
from bosun.server.auth import ANONYMOUS, CACHE_SECONDS, Authenticator, Principal
from bosun.server.feeds import Feeds
from bosun.server.limits import RequestRateLimiter, StreamSlots
from bosun.webhooks import check_url

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """How `bosun server` (and `bosun dev`) serve an App.

    Args:
        auth: require API keys; without them every caller is the `default` tenant with every
            scope, which `bosun server` allows on a loopback address only.
        worker_concurrency: run a worker with this many slots in the server process (what
            `bosun dev` does); 0 for an API-only process.
        worker_queues: the queues that in-process worker serves.
        max_body_bytes: largest request body; larger ones get 413.
        rate_limit: requests per second per API key (bursts of twice that); 0: unlimited.
        max_streams: event streams one API key may hold open at once; 0: unlimited.
        key_cache_seconds: how long a verified key is trusted before it is looked up again
            (so how long a revoked key keeps working).
        metrics_token: when set, `/metrics` answers only requests with
            `Authorization: Bearer <metrics_token>`; unset, it is open, as Prometheus
            scrapes (its labels name workflows, queues and tenants).
    """

    auth: bool = True
    worker_concurrency: int = 0
    worker_queues: tuple[str, ...] = ("default",)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    rate_limit: float = 50.0
    max_streams: int = 100
    key_cache_seconds: float = CACHE_SECONDS
    metrics_token: str | None = None


class ServerState:
    def __init__(self, app: App, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        self.authenticator: Authenticator | None = None
        self.limiter = RequestRateLimiter(config.rate_limit, max(2 * config.rate_limit, 1.0))
        self.streams = StreamSlots(config.max_streams)
        self._feeds: Feeds | None = None

    @property
    def feeds(self) -> Feeds:
        """The run feeds of this server (made once the App is open)."""
        if self._feeds is None:
            self._feeds = Feeds(self.app.store)
        return self._feeds

    async def authorize(self, request: Request, scope: str) -> Principal:
        """The caller, checked for `scope` and the per-key rate limit."""
        if not self.config.auth:
            principal = ANONYMOUS
        else:
            if self.authenticator is None:
                self.authenticator = Authenticator(self.app.store, self.config.key_cache_seconds)
            header = request.headers.get("authorization")
            principal = await self.authenticator.authenticate(header)
        wait = self.limiter.check(principal.key_id)
        if wait is not None:
            raise RateLimited(
                f"API key {principal.key_id} sent more than {self.config.rate_limit:g} "
                f"requests per second; retry in {wait:.2f} s",
                retry_after=wait,
            )
        principal.require(scope)
        return principal

    @staticmethod
    def checked_webhook(url: str | None) -> str | None:
        return None if url is None else check_url(url)
