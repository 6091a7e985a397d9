"""The `bosun deploy` command lines the planner recommends, built in one place.

`bosun deploy` takes a target and the app reference:

    bosun deploy compose APP_REF [--workers N] [--gpu-pool QUEUE]
    bosun deploy helm APP_REF [--min-replicas N] [--max-replicas N] [--scale-to-zero]
                              [--gpu-pool QUEUE]
    bosun deploy manifests APP_REF   (the options of helm)
    bosun deploy cloud-run APP_REF [--max-seconds N]
    bosun deploy lambda APP_REF [--max-seconds N]
    bosun deploy modal APP_REF [--max-seconds N] [--concurrency N]
                             [--gpu-queue QUEUE --gpu-type TYPE]
"""

from __future__ import annotations

import shlex
from typing import Literal

DeployTarget = Literal["compose", "helm", "manifests", "cloud-run", "lambda", "modal"]
_OPTIONS: dict[str, frozenset[str]] = {
    "compose": frozenset({"workers", "gpu_pool"}),
    "helm": frozenset({"min_replicas", "max_replicas", "scale_to_zero", "gpu_pool"}),
    "manifests": frozenset({"min_replicas", "max_replicas", "scale_to_zero", "gpu_pool"}),
    "cloud-run": frozenset({"max_seconds"}),
    "lambda": frozenset({"max_seconds"}),
    "modal": frozenset({"max_seconds", "concurrency", "gpu_queue", "gpu_type"}),
}


def deploy_command(
    target: DeployTarget,
    app_ref: str,
    *,
    workers: int | None = None,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
    scale_to_zero: bool = False,
    gpu_pool: str | None = None,
    max_seconds: int | None = None,
    concurrency: int | None = None,
    gpu_queue: str | None = None,
    gpu_type: str | None = None,
) -> str:
    """The command line, with each option only where the target takes it.

    Raises:
        ValueError: an option the target does not take.
    """
    given = {
        "workers": workers,
        "min_replicas": min_replicas,
        "max_replicas": max_replicas,
        "scale_to_zero": scale_to_zero or None,
        "gpu_pool": gpu_pool,
        "max_seconds": max_seconds,
        "concurrency": concurrency,
        "gpu_queue": gpu_queue,
        "gpu_type": gpu_type,
    }
    wrong = sorted(k for k, v in given.items() if v is not None and k not in _OPTIONS[target])
    if wrong:
        raise ValueError(f"bosun deploy {target} takes no {', '.join(wrong)}")
    words = ["bosun", "deploy", target, shlex.quote(app_ref)]
    for name, value in given.items():
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        words.append(flag if value is True else f"{flag} {shlex.quote(str(value))}")
    return " ".join(words)
