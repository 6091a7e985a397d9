"""Every route of the API, and of the UI's own API, declares the caller it needs in its
signature (a `bosun.server.deps` dependency): reading needs `read`, changing something needs
`submit`, resuming a blocked run needs `admin`, and the UI's actions need what their `/v1`
routes need, after checking that a POST comes from the UI's own origin."""

from __future__ import annotations

from typing import Any, get_args

from fastapi import APIRouter
from fastapi.routing import APIRoute

from bosun.server import api, sessions_api
from bosun.server.deps import AdminCaller, ReadCaller, SubmitCaller
from bosun.server.ui import actions
from bosun.server.ui.access import require_same_origin


def _scopes_by_dependency(**aliases: Any) -> dict[Any, str]:
    return {get_args(alias)[1].dependency: scope for scope, alias in aliases.items()}


API_SCOPES = _scopes_by_dependency(read=ReadCaller, submit=SubmitCaller, admin=AdminCaller)
UI_SCOPES = _scopes_by_dependency(
    read=actions.CookieReader, submit=actions.CookieSubmitter, admin=actions.CookieAdmin
)


def _routes(*routers: APIRouter) -> list[tuple[str, str, APIRoute]]:
    return [
        (method, route.path, route)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods)
    ]


def _declared(route: APIRoute, known: dict[Any, str]) -> list[str]:
    return [known[d.call] for d in route.dependant.dependencies if d.call in known]


def _expected(method: str, path: str) -> str:
    if path.endswith("/resume"):
        return "admin"
    return "read" if method == "GET" else "submit"


def test_every_api_route_declares_its_scope() -> None:
    routes = _routes(api.router, sessions_api.router)
    assert len(routes) >= 20
    for method, path, route in routes:
        assert _declared(route, API_SCOPES) == [_expected(method, path)], (method, path)


def test_the_uis_actions_need_what_their_api_routes_need() -> None:
    routes = _routes(actions.router)
    assert {(m, p) for m, p, _ in routes} == {
        ("POST", "/ui/api/runs/{run_id}/signals"),
        ("POST", "/ui/api/runs/{run_id}/cancel"),
        ("POST", "/ui/api/runs/{run_id}/resume"),
        ("GET", "/ui/api/runs/{run_id}/events"),
        ("POST", "/ui/api/runs/{run_id}/approvals/{call_id}"),
    }
    for method, path, route in routes:
        assert _declared(route, UI_SCOPES) == [_expected(method, path)], (method, path)
        # A POST another site sent is refused before the cookie's key is looked at.
        first = route.dependant.dependencies[0].call
        assert (first is require_same_origin) == (method == "POST"), (method, path)
