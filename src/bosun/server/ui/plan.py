"""The UI's plan page: `bosun plan --from-db` for the live database, ranked architectures,
the recommendation with its reasons, and the charts.

The profile is measured from every tenant's runs, so the page needs the `admin` scope. The
simulation takes a second or two of CPU; it runs on a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from bosun.errors import ConfigurationError
from bosun.server.ui.access import PageAdmin
from bosun.server.ui.render import render
from bosun.server.ui.routing import PageRoute

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)


def _advice(profile: Any, app_ref: str) -> tuple[Any, dict[str, str], str | None]:
    """Advice and charts (as data URIs) for `profile`; charts need the `plan` extra."""
    from bosun import plan

    advice = plan.advise(profile, app_ref=app_ref)
    charts: dict[str, str] = {}
    missing = None
    try:
        svgs = plan.chart_svgs(profile)
    except ImportError:
        missing = "install the plan extra (pip install 'bosun[plan]') to draw the charts"
    else:
        for name, svg in svgs.items():
            charts[name] = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    return advice, charts, missing


@router.get("/plan")
async def plan_page(
    request: Request, caller: PageAdmin, days: Annotated[float, Query(gt=0, le=90)] = 7
) -> Response:
    from bosun import plan

    app = caller.app
    context: dict[str, Any] = {"days": days, "advice": None, "problem": None}
    try:
        profile = await plan.profile_from_store(app.store, days)
    except ConfigurationError as exc:
        context["problem"] = str(exc)
        return render(request, "plan.html", context, principal=caller.principal)
    advice, charts, missing = await asyncio.to_thread(_advice, profile, "app.py")
    context.update(advice=advice, charts=charts, charts_missing=missing)
    return render(request, "plan.html", context, principal=caller.principal)
