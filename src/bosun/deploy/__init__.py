"""Deployment files for an App: Compose, Helm values, Kubernetes manifests, serverless.

`bosun deploy` (in `bosun.cli.deploy`) prints or writes them. The sources they start from,
the Compose bundle and the Helm chart, live in the repository's `deploy/` folder and ship
inside the wheel (`bosun.deploy.files`).

- `bosun.deploy.app_queues`: the queues an App's workflows use, one worker pool each.
- `bosun.deploy.compose`: the Compose bundle for an App.
- `bosun.deploy.helm`: Helm values for the chart, and the chart rendered to manifests.
- `bosun.deploy.serverless`: a Cloud Run job and an AWS SAM template for the drain-mode worker.
- `bosun.deploy.healthcheck`: the container image's HEALTHCHECK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bosun.app import App


def app_queues(app: App) -> list[str]:
    """The queues the App's own workflows run on, sorted; `["default"]` when it has none.

    bosun's built-in workflows (named `bosun.…`) run on the queue of the run they serve, so
    they add no queue of their own.
    """
    queues = {
        d.queue for name, d in app.registry.workflows.items() if not name.startswith("bosun.")
    }
    return sorted(queues) or ["default"]
