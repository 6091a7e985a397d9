"""Who is using the UI: the API key held in a cookie, checked exactly as the API checks it.

The login form takes an API key and stores the key itself in an `HttpOnly`,
`SameSite=Strict` cookie scoped to `/ui`. The key is already the credential the user holds,
so the cookie grants nothing more; keeping the key (not a server-signed session) means any
number of API servers accept the cookie without sharing a secret, and revoking the key logs
its UI sessions out within the key cache time. Every request is authenticated by the API's
own `ServerState.authorize`: same tenant, scopes and rate limit. Pages and the UI's API
declare the scope they need as the API's routes do, with a dependency (`PageReader`,
`cookie_caller`) that gives them the same `bosun.server.deps.Caller`.

Requests that change something (POST) must also come from the UI's own origin: the
`Origin` header (else `Referer`) must name the host the request was sent to. `SameSite=Strict`
already keeps the cookie off cross-site requests; the origin check also stops a sibling
site on the same registrable domain.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from bosun.errors import AuthenticationFailed, PermissionDenied
from bosun.server.deps import Caller, Dependency, server_state
from bosun.server.ui.render import render

COOKIE = "bosun_key"
COOKIE_PATH = "/ui"
COOKIE_MAX_AGE = 12 * 3600  # a UI login lasts a working day; the key itself does not expire
HOME = "/ui/runs"
MAX_LOGIN_BODY = 4096
EXPIRED = "the API key is unknown or revoked: log in again"

router = APIRouter(prefix="/ui", include_in_schema=False)


class LoginRequired(AuthenticationFailed):
    """The request has no key cookie: a page sends the browser to the login form."""


def login_link(base_url: str, key: str) -> str:
    """A link that logs a browser in to the UI with `key` (what `bosun dev` prints).

    The key rides in the URL's fragment, which browsers never send to the server, so it
    stays out of access logs and proxies; the login page posts it and drops it from history.
    """
    return f"{base_url.rstrip('/')}/ui/login#key={key}"


def _with_key(request: Request, key: str | None) -> Request:
    """The request as the API sees one: the cookie's key as its bearer token (any
    Authorization header the browser sent is dropped: the UI authenticates by cookie only)."""
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"authorization"]
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    return Request({**request.scope, "headers": headers}, request.receive)


def keyed(request: Request) -> Request:
    """The request with the UI cookie's key as its `Authorization`, for the `/v1` handlers."""
    return _with_key(request, request.cookies.get(COOKIE))


def cookie_caller(scope: str, *, page: bool) -> Dependency:
    """A dependency: the UI user, by the key cookie, checked for `scope` like an API caller.

    Raises:
        LoginRequired: on a page (`page`), there is no key cookie (and the server requires
            keys); elsewhere a missing cookie is refused as the API refuses a missing key.
        AuthenticationFailed, PermissionDenied, RateLimited: as the API would.
    """

    async def caller(request: Request) -> Caller:
        state = server_state(request)
        if page and state.config.auth and not request.cookies.get(COOKIE):
            raise LoginRequired("log in to the bosun UI with an API key")
        return Caller(state, await state.authorize(keyed(request), scope))

    return caller


PageReader = Annotated[Caller, Depends(cookie_caller("read", page=True))]
PageAdmin = Annotated[Caller, Depends(cookie_caller("admin", page=True))]


def require_same_origin(request: Request) -> None:
    """Refuse a state-changing request that another site could have sent (CSRF).

    Raises:
        PermissionDenied: the request's `Origin` (or `Referer`) is missing or names another
            host than the one the request was sent to.
    """
    source = request.headers.get("origin") or request.headers.get("referer")
    host = request.headers.get("host", "")
    if not source or source == "null":
        raise PermissionDenied(
            "this request changes something, so it must come from the bosun UI page itself; "
            "it carried neither an Origin nor a Referer header"
        )
    if urlsplit(source).netloc.lower() != host.lower():
        raise PermissionDenied(
            f"this request came from {source!r}, not from the bosun UI at {host!r}; "
            f"a proxy in front of bosun must pass the original Host header on"
        )


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a UI path of this server, never another site."""
    if not target or not target.startswith("/ui/") or target.startswith(("/ui//", "/ui/log")):
        return HOME
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return HOME
    return target


def login_redirect(request: Request, expired: bool = False) -> RedirectResponse:
    """Send the browser to the login form, back to this page afterwards; `expired` says the
    key it had was refused (the form shows a fixed message: a link cannot make it say
    anything else)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = f"/ui/login?next={quote(here, safe='')}"
    if expired:
        target += "&expired=1"
    response = RedirectResponse(target, status_code=303)
    if request.cookies.get(COOKIE):
        forget(response)
    return response


def forget(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")


@router.get("/login")
async def login_form(request: Request, next: str | None = None, expired: bool = False) -> Response:
    state = server_state(request)
    if not state.config.auth:
        return RedirectResponse(safe_next(next), status_code=303)
    context = {"next": safe_next(next), "error": EXPIRED if expired else ""}
    return render(request, "login.html", context, principal=None)


@router.post("/login")
async def login(request: Request) -> Response:
    require_same_origin(request)
    body = await request.body()
    fields = parse_qs(body[:MAX_LOGIN_BODY].decode(errors="replace"))
    key = (fields.get("key") or [""])[0].strip()
    target = safe_next((fields.get("next") or [""])[0])
    state = server_state(request)
    try:
        if not key:
            raise AuthenticationFailed("paste an API key (bsn_…) to log in")
        await state.authorize(_with_key(request, key), "read")
    except (AuthenticationFailed, PermissionDenied) as exc:
        context = {"next": target, "error": str(exc)}
        return render(request, "login.html", context, principal=None, status=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        key,
        max_age=COOKIE_MAX_AGE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    require_same_origin(request)
    response = RedirectResponse("/ui/login", status_code=303)
    forget(response)
    return response
