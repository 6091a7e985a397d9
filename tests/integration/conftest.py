"""Stores under test. The contract suite runs against every connector."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bosun.store import Store, store_for_url

STORE_KINDS = ["sqlite"]


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, db_url: str) -> AsyncIterator[Store]:
    s = store_for_url(db_url)
    await s.open()
    try:
        yield s
    finally:
        await s.close()
