"""The App the container tests deploy: a run that says which containers started and finished
it, holding a worker in between (long enough to kill that worker) until a gate file appears
in the App's folder, and a short lease so another worker takes the run over soon after."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import bosun

app = bosun.App("hold", lease_ttl=3.0)


@app.step()
async def where() -> str:
    return socket.gethostname()


@app.step()
def hold(seconds: float, gate: str | None) -> str:
    """Wait `seconds`, or, with a `gate`, until that file exists (at most `seconds`)."""
    for _ in range(int(seconds * 10)):
        if gate is not None and Path(gate).exists():
            break
        time.sleep(0.1)
    return socket.gethostname()


@app.workflow()
async def held(ctx: bosun.Context, seconds: float = 0.0, gate: str | None = None) -> dict[str, str]:
    started_on = await where()
    finished_on = await hold(seconds, gate)
    return {"started_on": started_on, "finished_on": finished_on}
