"""Serverless deployments of the drain-mode worker: a Cloud Run job and an AWS SAM template.

Each invocation drains for a time budget: it claims work until the budget is near, finishes or
hands back what it holds, and exits. A scheduler starts invocations (Cloud Scheduler, an
EventBridge schedule), so a long run proceeds across many of them. On Cloud Run the job runs
`bosun worker APP --until-idle --max-seconds N`, with a task timeout a margin above N; on
Lambda the handler (`bosun.serverless.lambda_handler`) budgets the time the invocation has
left, so the function's timeout is N plus the handler's margin.
"""

from __future__ import annotations

from typing import Any

import yaml

from bosun.errors import ConfigurationError
from bosun.version import __version__

GRACE = 30
# Past --max-seconds, time for the process to exit before the platform kills it.
MARGIN = 30
LAMBDA_TIMEOUT_LIMIT = 900
LAMBDA_HANDLER = "bosun.serverless.lambda_handler.handler"
# The handler keeps back at most this much of the invocation for closing and returning
# (bosun.serverless.lambda_handler.MARGIN_MAX).
LAMBDA_HANDLER_MARGIN = 10
# The Secrets Manager secret whose SecretString is the database URL (Lambda), by default.
DATABASE_SECRET = "bosun-database-url"
# CloudFormation resolves it when it deploys the stack: the URL never appears in the template,
# its parameters or the stack's events.
DATABASE_URL_REFERENCE = {"Fn::Sub": "{{resolve:secretsmanager:${DatabaseSecret}:SecretString}}"}


# The queue GPU steps use (bosun.deploy.compose.GPU_QUEUE): no serverless target here has
# GPUs, so none serves it.
GPU_QUEUE = "gpu"


def cpu_queues(queues: list[str], target: str) -> list[str]:
    """The queues a CPU-only target serves: all but `gpu`.

    Raises:
        ConfigurationError: the App has no other queue.
    """
    served = [q for q in queues if q != GPU_QUEUE]
    if not served:
        raise ConfigurationError(
            f"the app's only queue is {GPU_QUEUE!r}, and {target} has no GPUs: deploy a GPU "
            "pool instead (bosun deploy compose --gpu-pool gpu, helm --gpu-pool gpu, or "
            "modal --gpu-queue gpu)"
        )
    return served


def drain_args(app_ref: str, queues: list[str], max_seconds: int) -> list[str]:
    """`bosun worker` arguments of one drain-mode invocation."""
    args = ["worker", app_ref]
    for queue in queues:
        args += ["--queue", queue]
    return [
        *args,
        "--until-idle",
        "--max-seconds",
        str(max_seconds),
        "--grace",
        str(GRACE),
    ]


def cloud_run_job(app_ref: str, queues: list[str], max_seconds: int) -> dict[str, Any]:
    """A Cloud Run job (`gcloud run jobs replace job.yaml`) running the drain-mode worker,
    serving every queue but `gpu` (`cpu_queues`).

    The database URL comes from the Secret Manager secret `bosun-database-url`.
    """
    queues = cpu_queues(queues, "this Cloud Run job")
    container = {
        "name": "worker",
        "image": f"bosun:{__version__}",
        "args": drain_args(app_ref, queues, max_seconds),
        "env": [
            {
                "name": "BOSUN_DATABASE_URL",
                "valueFrom": {"secretKeyRef": {"name": "bosun-database-url", "key": "latest"}},
            },
            {"name": "BOSUN_VERSION", "value": __version__},
        ],
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    }
    return {
        "apiVersion": "run.googleapis.com/v1",
        "kind": "Job",
        "metadata": {"name": "bosun-worker", "labels": {"app": "bosun"}},
        "spec": {
            "template": {
                "spec": {
                    "parallelism": 1,
                    "taskCount": 1,
                    "template": {
                        "spec": {
                            "containers": [container],
                            # A failed invocation's runs are handed back or their leases lapse;
                            # the next scheduled invocation takes them, so no task retry.
                            "maxRetries": 0,
                            "timeoutSeconds": max_seconds + MARGIN,
                        }
                    },
                }
            }
        },
    }


def lambda_template(app_ref: str, queues: list[str], max_seconds: int) -> dict[str, Any]:
    """An AWS SAM template: the drain-mode worker as a container-image Lambda function.

    EventBridge starts it every minute; its handler (`bosun.serverless.lambda_handler`)
    reads BOSUN_APP, BOSUN_QUEUES and BOSUN_DATABASE_URL, and drains for the time the
    invocation has left: the function's timeout is `max_seconds` plus the handler's margin.
    The database URL comes from a Secrets Manager secret (parameter `DatabaseSecret`, by
    default `bosun-database-url`) through a dynamic reference, resolved at deploy time.

    Every queue but `gpu` is served (`cpu_queues`).

    Raises:
        ConfigurationError: the budget does not fit Lambda's 15-minute limit, or the App has
            only the `gpu` queue.
    """
    queues = cpu_queues(queues, "Lambda")
    timeout = max_seconds + LAMBDA_HANDLER_MARGIN
    if timeout > LAMBDA_TIMEOUT_LIMIT:
        most = LAMBDA_TIMEOUT_LIMIT - LAMBDA_HANDLER_MARGIN
        raise ConfigurationError(
            f"--max-seconds {max_seconds} plus the handler's {LAMBDA_HANDLER_MARGIN} s margin "
            f"exceeds Lambda's {LAMBDA_TIMEOUT_LIMIT} s limit; use --max-seconds {most} or less"
        )
    function = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "PackageType": "Image",
            "ImageUri": {"Ref": "ImageUri"},
            "ImageConfig": {
                "EntryPoint": ["python", "-m", "awslambdaric"],
                "Command": [LAMBDA_HANDLER],
            },
            "Timeout": timeout,
            "MemorySize": 1024,
            "Environment": {
                "Variables": {
                    "BOSUN_APP": app_ref,
                    "BOSUN_QUEUES": ",".join(queues),
                    "BOSUN_VERSION": __version__,
                    "BOSUN_DATABASE_URL": dict(DATABASE_URL_REFERENCE),
                }
            },
            "Events": {"Drain": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}},
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"bosun drain-mode worker for {app_ref}",
        "Parameters": {
            "ImageUri": {
                "Type": "String",
                "Description": "ECR image of bosun with the app and awslambdaric installed",
            },
            "DatabaseSecret": {
                "Type": "String",
                "Default": DATABASE_SECRET,
                "Description": "Name or ARN of the Secrets Manager secret whose SecretString "
                "is the database URL (postgresql://USER:PASSWORD@HOST:5432/DB)",
            },
        },
        "Resources": {"Worker": function},
    }


def to_yaml(document: dict[str, Any]) -> str:
    """A generated document as YAML text."""
    return yaml.safe_dump(document, sort_keys=False)
