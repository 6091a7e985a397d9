"""The route class of the UI's pages: errors become pages, not problem documents."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from bosun.errors import BosunError
from bosun.problems import problem_for
from bosun.server.ui.access import LoginRequired, login_redirect
from bosun.server.ui.render import render_error

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class PageRoute(APIRoute):
    """A route answering with HTML: a missing key sends the browser to the login form and
    any other error (another tenant's run is a 404, as in the API) becomes an error page."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return login_redirect(request)
            except BosunError as exc:
                status, body = problem_for(exc)
                if status == 401:
                    return login_redirect(request, expired=True)
                return render_error(request, status, str(body["title"]), str(body["detail"]))
            except RequestValidationError as exc:
                errors = exc.errors()
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                    for e in errors
                )
                return render_error(request, 422, "Invalid request", detail)

        return page
