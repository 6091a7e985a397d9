"""A workflow declared with a schedule and one for schedules added with the CLI."""

from __future__ import annotations

from datetime import datetime

import bosun

app = bosun.App("e2e-scheduled")


@app.workflow(schedule="0 6 * * MON", timezone="Europe/Paris")
async def weekly_digest(ctx: bosun.Context, scheduled_at: datetime) -> str:
    return scheduled_at.isoformat()


@app.workflow()
async def count_up(ctx: bosun.Context, count: int, label: str = "n") -> str:
    return f"{label}={count * 2}"
