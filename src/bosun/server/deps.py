"""Who is calling, as FastAPI dependencies: a route names the scope it needs in its signature
(`caller: ReadCaller`) and receives a `Caller`, already authenticated by its API key, checked
for that scope and counted against the key's rate limit. Refusals raise `bosun.errors`
(`AuthenticationFailed`, `PermissionDenied`, `RateLimited`), which the server answers with
problem documents (401, 403, 429) before the route runs.

The UI authenticates the same way from its key cookie (`bosun.server.ui.access`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from bosun.app import App
from bosun.server.auth import Principal
from bosun.server.state import ServerState

Dependency = Callable[[Request], Awaitable["Caller"]]


@dataclass(frozen=True)
class Caller:
    """The authorized caller of one request, and the server state it reaches."""

    state: ServerState
    principal: Principal

    @property
    def app(self) -> App:
        return self.state.app

    @property
    def tenant(self) -> str:
        """The caller's tenant: every query of the request is scoped to it."""
        return self.principal.tenant


def server_state(request: Request) -> ServerState:
    """What every request of this server shares (set by `create_server`)."""
    state: ServerState = request.app.state.bosun
    return state


def requires(scope: str) -> Dependency:
    """A dependency: the caller of the request by its `Authorization` header, with `scope`."""

    async def caller(request: Request) -> Caller:
        state = server_state(request)
        return Caller(state, await state.authorize(request, scope))

    return caller


ReadCaller = Annotated[Caller, Depends(requires("read"))]
SubmitCaller = Annotated[Caller, Depends(requires("submit"))]
AdminCaller = Annotated[Caller, Depends(requires("admin"))]
