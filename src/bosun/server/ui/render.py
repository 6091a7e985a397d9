"""Jinja2 templates for the UI, the headers every page carries, and the error page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from bosun.server.auth import Principal
from bosun.server.ui import views
from bosun.version import __version__

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

# Scripts and styles only from bosun itself, no inline code: the pages hold run data
# written by workflows, and this keeps any markup that slipped through from running.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
STATUS_CLASSES = {
    "queued": "st-queued",
    "running": "st-running",
    "suspended": "st-suspended",
    "completed": "st-completed",
    "failed": "st-failed",
    "cancelled": "st-cancelled",
    "blocked": "st-blocked",
    "waiting": "st-suspended",
    "retrying": "st-blocked",
}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,  # a misspelt variable fails loudly, in the tests
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    pretty=views.pretty,
    duration=views.duration,
    filesize=views.filesize,
    stamp=views.stamp,
    error_text=views.error_text,
    status_class=lambda status: STATUS_CLASSES.get(str(status), "st-other"),
)


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    principal: Principal | None,
    status: int = 200,
) -> HTMLResponse:
    """A page: the template with what every page shows (who is logged in, the time)."""
    state = request.app.state.bosun
    now = time.time()
    page = _env.get_template(template).render(
        {
            "app_name": state.app.name,
            "principal": principal,
            "auth": state.config.auth,
            "version": __version__,
            "path": request.url.path,
            "now": now,
            "ago": lambda ts: views.ago(ts, now),
            **context,
        }
    )
    return HTMLResponse(page, status_code=status, headers=HEADERS)


def render_error(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    context = {"status": status, "title": title, "detail": detail}
    return render(request, "error.html", context, principal=None, status=status)
