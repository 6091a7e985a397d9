"""`bosun deploy modal`: a Modal app running the drain-mode worker (bosun.deploy.modal_app).

Registered on `bosun deploy` when this module is imported (bosun.cli imports it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bosun.cli.common import AppRef, err, fail
from bosun.cli.deploy import deploy_cli
from bosun.errors import BosunError


@deploy_cli.command("modal")
def deploy_modal(
    app_ref: AppRef,
    max_seconds: Annotated[
        int, typer.Option("--max-seconds", min=31, help="Time budget of one invocation, seconds.")
    ] = 600,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Runs each CPU invocation executes at once.")
    ] = 16,
    gpu_queue: Annotated[
        list[str] | None,
        typer.Option("--gpu-queue", help="Queue served by the GPU function instead (repeatable)."),
    ] = None,
    gpu_type: Annotated[
        str, typer.Option("--gpu-type", help="GPU of the GPU function: l4, a10g, a100, h100, …")
    ] = "l4",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Python file for `modal deploy` to write.")
    ] = None,
) -> None:
    """A Modal app: scheduled functions that run the drain-mode worker every minute, with a
    GPU function for the GPU queues."""
    from bosun.deploy import app_queues
    from bosun.deploy.modal_app import ModalOptions, modal_app
    from bosun.loader import load_app

    try:
        options = ModalOptions(
            max_seconds=max_seconds,
            concurrency=concurrency,
            gpu_queues=tuple(gpu_queue or ()),
            gpu_type=gpu_type,
        )
        text = modal_app(app_ref, app_queues(load_app(app_ref)), options)
    except BosunError as exc:
        fail(str(exc), 2)
    if out_file is None:
        print(text, end="")
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text)
    err.print(f"wrote {out_file}", highlight=False)
