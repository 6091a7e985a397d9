"""Fixtures of the container tests (tests/helpers/containers.py): podman, configured for this
machine, and the images, built once per session in the one xdist process that runs them all."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import containers
from tests.helpers.containers import Podman

# `xdist_group` works again (pytest 9 ignores how pytest-xdist marks groups): the container
# tests must share one process, which builds the images once. Belongs in tests/conftest.py.


@pytest.fixture(scope="session")
def podman() -> Podman:
    containers.require_podman()
    return Podman.configured()


@dataclass
class Builds:
    """The images, built at once in the background: each fixture waits for its own."""

    bosun: Future[str]
    postgres: Future[str] | None


@pytest.fixture(scope="session")
def builds(
    podman: Podman, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Builds]:
    """Start every image the session's tests need, side by side (mmdebstrap spends much of
    its time downloading): bosun's on the Python base, and the PostgreSQL one. Images made
    ahead by `python -m tests.helpers.containers` are found and used."""
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="image")
    wheels = tmp_path_factory.mktemp("wheels")
    needs_postgres = any("postgres_image" in item.fixturenames for item in request.session.items)
    started = Builds(
        bosun=pool.submit(containers.bosun_image, podman, wheels),
        postgres=pool.submit(containers.postgres_image, podman) if needs_postgres else None,
    )
    yield started
    pool.shutdown(wait=True)
    if started.bosun.exception() is None:  # each image is a full copy on vfs: keep none
        podman("rmi", "--force", started.bosun.result(), check=False)


@pytest.fixture(scope="session")
def bosun_image(builds: Builds) -> str:
    """bosun's image, built from deploy/Dockerfile on a Debian base made here, offline."""
    return builds.bosun.result()


@pytest.fixture(scope="session")
def postgres_image(podman: Podman, builds: Builds) -> str:
    """PostgreSQL from Debian's packages, with the official image's interface."""
    if builds.postgres is None:  # not foreseen: a test asked for it by name at run time
        return containers.postgres_image(podman)
    return builds.postgres.result()


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A folder holding the test App, that the container's user (10001) can write to."""
    folder = tmp_path / "app"
    folder.mkdir()
    folder.chmod(0o777)
    return folder
