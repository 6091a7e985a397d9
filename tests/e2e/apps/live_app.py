"""A one-step workflow whose step holds until a file appears: a test watches the step run."""

from __future__ import annotations

import time
from pathlib import Path

import bosun

app = bosun.App("e2e-live", lease_ttl=5.0)


@app.step(name="hold")
def hold(release: str) -> str:
    """Leave `<release>.running`, then wait for the file `release`."""
    Path(f"{release}.running").touch()
    while not Path(release).exists():
        time.sleep(0.02)
    return "released"


@app.workflow(name="held")
async def held(ctx: bosun.Context, release: str) -> str:
    return await hold(release)
