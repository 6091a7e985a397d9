"""The engine's typed extension points: plug-ins put and read their parts by key."""

from __future__ import annotations

from pathlib import Path

from bosun.agents.budget import TENANT_BUDGETS, Budget
from bosun.agents.registry import MODELS, Models
from bosun.engine.extensions import Extension, Extensions
from bosun.sandbox.workspace import WORKSPACE_ROOTS
from bosun.worker.extensions import run_extensions


def test_a_part_comes_back_under_its_key_and_nothing_under_another() -> None:
    roots: set[Path] = set()
    extensions = Extensions().with_part(WORKSPACE_ROOTS, roots)
    assert extensions.get(WORKSPACE_ROOTS) is roots  # the live set, not a copy
    assert extensions.get(MODELS) is None


def test_keys_compare_by_identity_not_by_name() -> None:
    first: Extension[int] = Extension("same")
    second: Extension[int] = Extension("same")
    extensions = Extensions().with_part(first, 1)
    assert (extensions.get(first), extensions.get(second)) == (1, None)


def test_with_part_leaves_the_original_unchanged() -> None:
    key: Extension[str] = Extension("key")
    empty = Extensions()
    one = empty.with_part(key, "a")
    two = one.with_part(key, "b")
    assert (empty.get(key), one.get(key), two.get(key)) == (None, "a", "b")
    assert repr(two) == "Extensions(key)"


class _App:
    def __init__(self) -> None:
        self.models = Models({})
        self.tenant_budgets = {None: Budget(tokens=10)}
        self.workspace_roots: set[Path] = set()


def test_a_worker_gives_runs_the_apps_plug_in_parts() -> None:
    app = _App()
    extensions = run_extensions(app)
    assert extensions.get(MODELS) is app.models
    assert extensions.get(TENANT_BUDGETS) is app.tenant_budgets
    assert extensions.get(WORKSPACE_ROOTS) is app.workspace_roots
