"""Request bodies parsed under bosun's JSON policy (`bosun.serde.loads`), not Starlette's
lenient `json.loads`: `NaN`, `Infinity` and numbers too large for a float are refused with a
`400` naming their path, before any handler sees (or stores) the body.

Routers that take JSON bodies use `StrictJsonRoute` as their `route_class`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from bosun import serde
from bosun.errors import NonFiniteNumber

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class StrictJsonRequest(Request):
    """A request whose `json()` follows `bosun.serde.loads`. FastAPI answers the
    `JSONDecodeError` it raises with a `400` whose detail is the message."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = serde.loads(body, "the request body")
            except NonFiniteNumber as exc:
                raise json.JSONDecodeError(exc.reason, body.decode(errors="replace"), 0) from None
            except RecursionError:
                raise json.JSONDecodeError(
                    "it is nested too deeply", body.decode(errors="replace"), 0
                ) from None
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is parsed by `StrictJsonRequest`."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict
