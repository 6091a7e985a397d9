"""Database URLs reach logs and terminals without their passwords."""

from __future__ import annotations

import pytest

from bosun.settings import redacted


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://root:s3cret@db:5432/bosun", "postgresql://root:***@db:5432/bosun"),
        ("postgresql://a:b%40c@db/bosun?pool_max=3", "postgresql://a:***@db/bosun?pool_max=3"),
        (
            "postgresql://u@db/bosun?password=x&pool_max=3",
            "postgresql://u@db/bosun?password=***&pool_max=3",
        ),
        ("postgresql://db/bosun?sslmode=require", "postgresql://db/bosun?sslmode=require"),
        ("sqlite:///./.bosun/bosun.db", "sqlite:///./.bosun/bosun.db"),
    ],
)
def test_passwords_are_hidden(url: str, shown: str) -> None:
    assert redacted(url) == shown
