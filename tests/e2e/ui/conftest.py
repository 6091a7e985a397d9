"""Each UI test module gets its own served app (a real uvicorn with a worker) on a fresh
SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest
from tests.e2e.ui.uiworld import served_ui
from tests.helpers.serving import Served


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, ModuleType]]:
    with served_ui(tmp_path_factory.mktemp("ui") / "ui.db") as pair:
        yield pair


@pytest.fixture(scope="module")
def served(world: tuple[Served, ModuleType]) -> Served:
    return world[0]
