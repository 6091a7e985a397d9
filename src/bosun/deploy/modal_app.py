"""A Modal app running bosun's drain-mode worker: what `bosun deploy modal` writes.

The app is one Python file for `modal deploy`. A function on a `modal.Period` schedule runs
`bosun worker APP --until-idle --max-seconds N --grace 30 --concurrency C` for the App's
CPU queues every `schedule_s` seconds: each invocation drains until nothing is ready and
nothing runs, or until its budget ends and it hands back what it holds (docs/serverless.md).
GPU queues get a second function of the same shape with a GPU and their own concurrency, so
no CPU-only container ever serves a GPU queue. Containers are released two seconds after
their invocation (`scaledown_window=2`, Modal's least), so idle time is not billed.

The image is bosun's (deploy/Dockerfile) with the App under /app, pushed to a registry Modal
can pull (`BOSUN_IMAGE` when running `modal deploy`); the database URL comes from the Modal
secret `bosun-database-url` (key BOSUN_DATABASE_URL). bosun.plan's Modal model reads the
same settings (prices.modal; tests/unit/plan/test_artifacts.py holds them equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bosun.deploy.serverless import GRACE, MARGIN
from bosun.errors import ConfigurationError
from bosun.version import __version__

SECRET = "bosun-database-url"
MODAL_TIMEOUT_LIMIT = 86400  # a Modal function's longest timeout (24 h)
SCALEDOWN_S = 2  # Modal's least scaledown_window: a finished invocation's container goes
GPU_NAMES = {
    "l4": "L4",
    "a10g": "A10G",
    "a100": "A100",
    "h100": "H100",
    "h200": "H200",
    "b200": "B200",
}


@dataclass(frozen=True)
class ModalOptions:
    """How `bosun deploy modal` sizes the functions.

    Attributes:
        max_seconds: each invocation's budget (the function's timeout adds a margin).
        concurrency: runs the CPU function's worker executes at once.
        cpu: physical cores of the CPU function (Modal's `cpu=`).
        memory_mb: MiB of the CPU function (Modal's `memory=`).
        schedule_s: seconds between scheduled invocations.
        gpu_queues: queues served by the GPU function instead.
        gpu_type: the GPU of the GPU function (l4, a10g, a100, h100, h200, b200).
        gpu_concurrency: runs the GPU function's worker executes at once.
    """

    max_seconds: int = 600
    concurrency: int = 16
    cpu: float = 1.0
    memory_mb: int = 2048
    schedule_s: int = 60
    gpu_queues: tuple[str, ...] = field(default_factory=tuple)
    gpu_type: str = "l4"
    gpu_concurrency: int = 1


HEADER = '''\
"""bosun drain-mode workers on Modal for {app_ref}. Written by `bosun deploy modal`.

    modal secret create {secret} BOSUN_DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/DB
    BOSUN_IMAGE=REGISTRY/bosun-app:TAG modal deploy THIS_FILE

BOSUN_IMAGE is bosun's image (deploy/Dockerfile) with the app under /app.
"""
'''

BODY = '''
from __future__ import annotations

import os
import subprocess

import modal

APP_REF = {app_ref!r}
QUEUES = {queues!r}
GPU_QUEUES = {gpu_queues!r}
MAX_SECONDS = {max_seconds!r}
GRACE = {grace!r}
CONCURRENCY = {concurrency!r}
GPU_CONCURRENCY = {gpu_concurrency!r}
SCHEDULE_S = {schedule_s!r}
TIMEOUT = {timeout!r}
SCALEDOWN_S = {scaledown_s!r}

app = modal.App("bosun-workers")
image = modal.Image.from_registry(os.environ.get("BOSUN_IMAGE", {image!r})).workdir("/app")
secrets = [modal.Secret.from_name({secret!r})]


def drain(queues: list[str], concurrency: int) -> None:
    """One drain-mode invocation: claim until idle or the budget ends, then hand back."""
    args = ["bosun", "worker", APP_REF]
    for queue in queues:
        args += ["--queue", queue]
    args += ["--until-idle", "--max-seconds", str(MAX_SECONDS), "--grace", str(GRACE)]
    args += ["--concurrency", str(concurrency)]
    code = subprocess.run(args, cwd="/app", check=False).returncode
    if code != 0:
        raise RuntimeError(f"bosun worker exited {{code}} (docs/serverless.md: exit status)")
'''

CPU_FUNCTION = '''

@app.function(
    image=image,
    secrets=secrets,
    schedule=modal.Period(seconds=SCHEDULE_S),
    timeout=TIMEOUT,
    cpu={cpu!r},
    memory={memory_mb!r},
    scaledown_window=SCALEDOWN_S,
    retries=0,
)
def drain_cpu() -> None:
    """The CPU queues."""
    drain(QUEUES, CONCURRENCY)
'''

GPU_FUNCTION = '''

@app.function(
    image=image,
    secrets=secrets,
    schedule=modal.Period(seconds=SCHEDULE_S),
    timeout=TIMEOUT,
    gpu={gpu!r},
    cpu={cpu!r},
    memory={memory_mb!r},
    scaledown_window=SCALEDOWN_S,
    retries=0,
)
def drain_gpu() -> None:
    """The GPU queues, on a {gpu} GPU."""
    drain(GPU_QUEUES, GPU_CONCURRENCY)
'''


def modal_app(app_ref: str, queues: list[str], options: ModalOptions) -> str:
    """The Modal app's source for the App at `app_ref` (inside the image, under /app).

    Raises:
        ConfigurationError: a GPU queue the App does not have, an unknown GPU, or a budget
            that does not fit Modal's 24-hour timeout.
    """
    unknown = sorted(set(options.gpu_queues) - set(queues))
    if unknown:
        raise ConfigurationError(
            f"--gpu-queue {', '.join(unknown)}: the app has no such queue; its queues are "
            f"{', '.join(queues)}"
        )
    gpu = GPU_NAMES.get(options.gpu_type.lower())
    if gpu is None:
        raise ConfigurationError(
            f"--gpu-type {options.gpu_type}: give one of {', '.join(GPU_NAMES)}"
        )
    timeout = options.max_seconds + MARGIN
    if timeout > MODAL_TIMEOUT_LIMIT:
        raise ConfigurationError(
            f"--max-seconds {options.max_seconds} plus a {MARGIN} s margin exceeds Modal's "
            f"{MODAL_TIMEOUT_LIMIT} s timeout; use --max-seconds "
            f"{MODAL_TIMEOUT_LIMIT - MARGIN} or less"
        )
    if options.max_seconds <= GRACE:
        raise ConfigurationError(
            f"--max-seconds {options.max_seconds} must exceed the {GRACE} s drain grace"
        )
    cpu_queues = [q for q in queues if q not in options.gpu_queues]
    text = HEADER.format(app_ref=app_ref, secret=SECRET)
    text += BODY.format(
        app_ref=app_ref,
        queues=cpu_queues,
        gpu_queues=list(options.gpu_queues),
        max_seconds=options.max_seconds,
        grace=GRACE,
        concurrency=options.concurrency,
        gpu_concurrency=options.gpu_concurrency,
        schedule_s=options.schedule_s,
        timeout=timeout,
        scaledown_s=SCALEDOWN_S,
        image=f"bosun:{__version__}",
        secret=SECRET,
    )
    if cpu_queues:
        text += CPU_FUNCTION.format(cpu=options.cpu, memory_mb=options.memory_mb)
    if options.gpu_queues:
        text += GPU_FUNCTION.format(gpu=gpu, cpu=options.cpu, memory_mb=options.memory_mb)
    return text
