"""Stores under test. The contract suite runs against every connector."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bosun.store import Store, store_for_url

STORE_KINDS = ["sqlite", "postgresql"]


@pytest.fixture(params=STORE_KINDS)
def any_db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database of each kind, in turn."""
    fixture = "db_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def store(any_db_url: str) -> AsyncIterator[Store]:
    s = store_for_url(any_db_url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()
