"""Where the deployment sources are: `deploy/` of a checkout, or its copy inside the wheel."""

from __future__ import annotations

from pathlib import Path

from bosun.errors import ConfigurationError

# The wheel carries the repository's deploy/ here (pyproject.toml, hatch force-include); an
# editable install or a checkout reads deploy/ itself.
_PACKAGED = Path(__file__).resolve().parent / "data"
_CHECKOUT = Path(__file__).resolve().parents[3] / "deploy"


def deploy_dir() -> Path:
    """The folder holding `helm/bosun`, `compose/` and `grafana/`.

    Raises:
        ConfigurationError: neither the wheel's copy nor a checkout's `deploy/` is there.
    """
    for candidate in (_PACKAGED, _CHECKOUT):
        if (candidate / "helm" / "bosun" / "Chart.yaml").is_file():
            return candidate
    raise ConfigurationError(
        "bosun's deployment files are missing from this installation (expected "
        f"{_PACKAGED} or {_CHECKOUT}); reinstall bosun from its wheel or a full checkout"
    )


def chart_dir() -> Path:
    """The Helm chart `deploy/helm/bosun`."""
    return deploy_dir() / "helm" / "bosun"


def compose_dir() -> Path:
    """The Compose bundle `deploy/compose`."""
    return deploy_dir() / "compose"


def dashboard_file() -> Path | None:
    """The Grafana dashboard `deploy/grafana/bosun.json`, if this installation has it."""
    path = deploy_dir() / "grafana" / "bosun.json"
    return path if path.is_file() else None
