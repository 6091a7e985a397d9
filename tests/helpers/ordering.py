"""The suite's longest tests first, so that pytest-xdist starts them while the short ones
fill the other workers, instead of one of them starting last and running alone at the end.

The list is of test files (and xdist groups, whose tests share one worker), longest first,
as the durations `pytest --durations` prints (`pyproject.toml` asks for the slowest 15)
show them on CI's 2-core machine. A file missing from it runs after them, in collection
order; a file named here that has gone changes nothing.
"""

from __future__ import annotations

import pytest

SLOWEST = (
    "tests/deploy/test_compose.py",  # the containers group: ~110 s, on one worker
    "tests/deploy/test_image.py",
    "tests/e2e/test_readme_walkthrough.py",  # ~90 s, one test
    "tests/e2e/test_fleet.py",  # the fleet group: ~65 s
    "tests/e2e/test_sandbox_escapes.py",  # the sandbox group, on one worker
    "tests/e2e/test_sandbox_fallback.py",
    "tests/e2e/test_llm_rate_limit.py",
    "tests/e2e/test_api_schemathesis.py",
    "tests/e2e/test_bench_smoke.py",
    "tests/e2e/test_readme_commands.py",
    "tests/e2e/test_openai_agents_kill.py",
    "tests/e2e/test_takeover.py",
    "tests/e2e/test_drain_mode.py",
)


def slowest_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """`items` with the tests of the `SLOWEST` files first (in that order), the rest after,
    each keeping its collection order."""
    rank = {path: i for i, path in enumerate(SLOWEST)}

    def key(item: pytest.Item) -> int:
        return rank.get(item.nodeid.split("::", 1)[0], len(SLOWEST))

    return sorted(items, key=key)
