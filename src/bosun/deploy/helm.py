"""Helm values for bosun's chart from an App's queues, and the chart rendered to manifests.

Rendering uses Helm's own Go engine through `helm-python-sdk` (the `deploy` extra), offline:
no cluster and no `helm` binary are needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from bosun.deploy.files import chart_dir
from bosun.errors import ConfigurationError
from bosun.version import __version__

DATABASE_SECRET = "bosun-database"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
GPU_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}

# Helm's install order for the kinds the chart renders; others (KEDA's) come last.
_KIND_ORDER = (
    "PriorityClass",
    "NetworkPolicy",
    "Secret",
    "Service",
    "Deployment",
    "Job",
    "PodDisruptionBudget",
)

HEADER = """\
# Helm values for bosun's chart (deploy/helm/bosun), for {app_ref}: one worker pool per queue.
# Written by `bosun deploy helm`. The database URL is read from the Secret {secret}:
#   kubectl create secret generic {secret} \\
#     --from-literal=database-url=postgresql://USER:PASSWORD@HOST:5432/DB
# then: helm install bosun deploy/helm/bosun -f THIS_FILE
"""


@dataclass(frozen=True)
class PoolOptions:
    """How `bosun deploy helm` sizes the worker pools.

    Attributes:
        min_replicas: warm minimum of each pool (KEDA's minReplicaCount); 0 scales to zero.
        max_replicas: most replicas of each pool.
        scale_to_zero: let idle pools scale to zero replicas.
        gpu_pools: queues whose pool gets one `nvidia.com/gpu` per replica and GPU nodes.
    """

    min_replicas: int = 1
    max_replicas: int = 10
    scale_to_zero: bool = False
    gpu_pools: tuple[str, ...] = field(default_factory=tuple)


def pool_name(queue: str) -> str:
    """A DNS label for the pool of `queue` (Kubernetes object names allow no `_`, `.`, `:`)."""
    name = re.sub(r"[^a-z0-9-]+", "-", queue.lower()).strip("-")[:40].strip("-")
    return name or "queue"


def _pools(queues: list[str], options: PoolOptions) -> list[dict[str, Any]]:
    unknown = sorted(set(options.gpu_pools) - set(queues))
    if unknown:
        raise ConfigurationError(
            f"--gpu-pool {', '.join(unknown)}: the app has no such queue; its queues are "
            f"{', '.join(queues)}"
        )
    pools: list[dict[str, Any]] = []
    taken: set[str] = set()
    for queue in queues:
        name = pool_name(queue)
        while name in taken:
            name = f"{name[:37]}-{len(taken)}"
        taken.add(name)
        pool: dict[str, Any] = {"name": name, "queues": [queue]}
        if queue in options.gpu_pools:
            # One GPU per replica serves few runs at once; the node selector and toleration
            # match NVIDIA's GPU operator labels and the usual GPU node taint.
            pool.update(
                gpu=1,
                concurrency=2,
                nodeSelector=dict(GPU_NODE_SELECTOR),
                tolerations=[dict(GPU_TOLERATION)],
            )
        pools.append(pool)
    return pools


def helm_values(app_ref: str, queues: list[str], options: PoolOptions) -> dict[str, Any]:
    """Values for the chart: the App's ref and one pool per queue sized by `options`.

    A warm minimum of 0 means scale to zero.
    """
    if options.max_replicas < options.min_replicas:
        raise ConfigurationError(
            f"--max-replicas {options.max_replicas} is below --min-replicas "
            f"{options.min_replicas}; raise --max-replicas"
        )
    scale_to_zero = options.scale_to_zero or options.min_replicas == 0
    return {
        "image": {"repository": "bosun", "tag": __version__},
        "app": {"ref": app_ref},
        "database": {"existingSecret": DATABASE_SECRET, "urlKey": "database-url"},
        "workerDefaults": {
            "minReplicas": max(options.min_replicas, 1),
            "maxReplicas": options.max_replicas,
            "scaleToZero": scale_to_zero,
        },
        "pools": _pools(queues, options),
    }


def values_yaml(app_ref: str, values: dict[str, Any]) -> str:
    """`values` as the YAML text of a values file, with a header saying how to use it."""
    body = yaml.safe_dump(values, sort_keys=False)
    return HEADER.format(app_ref=app_ref, secret=DATABASE_SECRET) + "\n" + body


def render(
    values: dict[str, Any], *, release: str = "bosun", namespace: str = "default"
) -> list[dict[str, Any]]:
    """The chart's Kubernetes objects for `values`, in Helm's install order.

    Raises:
        ConfigurationError: the `deploy` extra is missing, or the values break the chart's
            schema (the message says which value).
    """
    try:
        import helm_python
    except ImportError as exc:
        raise ConfigurationError(
            "rendering the Helm chart needs helm-python-sdk: pip install 'bosun[deploy]'"
        ) from exc
    with helm_python.Chart.load(str(chart_dir())) as chart:
        try:
            chart.validate_schema(values)
            rendered = chart.render(values, name=release, namespace=namespace)
        except helm_python.HelmError as exc:
            raise ConfigurationError(f"the chart refused these values: {exc}") from exc
    objects = [
        doc
        for path, text in sorted(rendered.items())
        if path.endswith((".yaml", ".yml"))
        for doc in yaml.safe_load_all(text)
        if doc
    ]
    return sorted(objects, key=_install_rank)


def _install_rank(obj: dict[str, Any]) -> int:
    kind = obj.get("kind", "")
    return _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)


def manifests_yaml(objects: list[dict[str, Any]]) -> str:
    """`objects` as one multi-document YAML stream, as `kubectl apply -f -` reads it."""
    return yaml.safe_dump_all(objects, sort_keys=False)
