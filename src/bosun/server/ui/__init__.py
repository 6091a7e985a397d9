"""The web UI at `/ui`: server-rendered pages of runs, sessions, queues, workers and the
architecture plan, with a
little JavaScript for live updates. See docs/ui.md."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

from bosun.server.ui import access, actions, pages, plan, workers
from bosun.server.ui.render import STATIC_DIR

__all__ = ["mount_ui"]


def mount_ui(api: FastAPI) -> None:
    """Add the UI's routes and static files to the server, and send `/` to it."""
    api.include_router(access.router)
    api.include_router(actions.router)
    api.include_router(pages.router)
    api.include_router(workers.router)
    api.include_router(plan.router)
    api.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")

    @api.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui/runs", status_code=307)
