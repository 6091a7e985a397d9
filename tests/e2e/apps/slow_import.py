"""An app whose import takes seconds (a heavy model, a slow mount): it writes
`<effects>.importing` when its import starts, then sleeps BOSUN_E2E_IMPORT_SECONDS."""

from __future__ import annotations

import os
import time
from pathlib import Path

import bosun

Path(os.environ["BOSUN_E2E_EFFECTS"] + ".importing").touch()
time.sleep(float(os.environ.get("BOSUN_E2E_IMPORT_SECONDS", "3")))

app = bosun.App("e2e-slow-import")


@app.workflow()
async def noop(ctx: bosun.Context) -> str:
    return "ok"
