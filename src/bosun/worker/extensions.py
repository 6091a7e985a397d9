"""What the App's plug-ins give the runs its worker executes, each under its typed key
(`bosun.engine.extensions`): the engine reads none of it, the plug-ins read their own.

The parts are made when a run first asks for one, and only then are the plug-ins (and their
keys) imported: a worker of plain workflows starts without the agent toolkit or the sandbox."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bosun.engine.extensions import Extensions

if TYPE_CHECKING:
    from bosun.agents.budget import Budget
    from bosun.agents.registry import Models


class PluginParts(Protocol):
    """The plug-ins' parts an App holds (`bosun.app.App` has these)."""

    @property
    def models(self) -> Models: ...  # model aliases, for ctx.llm and ctx.memory

    @property
    def tenant_budgets(self) -> Mapping[str | None, Budget]: ...  # None: every tenant's

    @property
    def workspace_roots(self) -> set[Path]: ...  # live: tool calls add the bases they use


def run_extensions(app: PluginParts) -> Extensions:
    """The extensions of every run a worker of `app` executes (made on first use)."""

    def make() -> Extensions:
        from bosun.agents.budget import TENANT_BUDGETS
        from bosun.agents.registry import MODELS
        from bosun.sandbox.workspace import WORKSPACE_ROOTS

        return (
            Extensions()
            .with_part(MODELS, app.models)
            .with_part(TENANT_BUDGETS, app.tenant_budgets)
            .with_part(WORKSPACE_ROOTS, app.workspace_roots)
        )

    return Extensions.later(make)
