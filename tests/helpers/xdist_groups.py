"""`--dist loadgroup` on pytest 9: send every test marked `xdist_group(NAME)` to one worker.

pytest-xdist (3.8) groups tests by a suffix, `@NAME`, it appends to each marked test's node
id on the workers, by assigning `item._nodeid`; pytest 9 keeps the node id in `item._id`
(a NodeId) and ignores `_nodeid`, so no test was grouped: the sandbox tests and the container
tests ran spread over all workers. This hook gives the node ids their suffix again (once:
a pytest-xdist that does it itself is left alone).

Import it into a conftest.py: `from tests.helpers.xdist_groups import
pytest_collection_modifyitems`. Hooks of a conftest apply to the whole session once it is
loaded, so tests/conftest.py is the place that covers every run.
"""

from __future__ import annotations

import pytest

from tests.helpers.ordering import slowest_first


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):  # set on xdist's workers only
        return
    items[:] = slowest_first(items)  # every worker sorts alike: xdist checks they agree
    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if not names:
            continue
        suffix = "@" + "_".join(sorted(names))
        if item.nodeid.endswith(suffix):
            continue
        grouped = item.nodeid + suffix
        if hasattr(item, "_id"):  # pytest 9: a NodeId, which keeps the string it is parsed from
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(grouped)
        else:
            setattr(item, "_nodeid", grouped)  # noqa: B010 (untyped: pytest 8 reads it)
