"""The Grafana dashboard charts bosun's metrics and nothing that does not exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bosun.observe.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "bosun.json"
METRIC = re.compile(r"\bbosun_[a-z0-9_]+\b")
SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def _queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(variable["definition"])
    return exprs


def _family(sample: str) -> str:
    for suffix in SUFFIXES:
        if sample.endswith(suffix):
            return sample.removesuffix(suffix)
    return sample


def test_every_query_names_only_metrics_the_registry_defines() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = _queries(dashboard)
    assert queries
    defined = Metrics().names()
    used = {name for query in queries for name in METRIC.findall(query)}
    assert used, "no bosun metric in the dashboard's queries"
    assert used <= defined, f"not defined by bosun: {sorted(used - defined)}"
    docs = (REPO / "docs" / "metrics.md").read_text()
    for name in used:
        documented = name if name.endswith("_total") else _family(name)
        assert f"`{documented}`" in docs, f"{name} is charted but not in docs/metrics.md"
    for query in queries:  # a typo that unbalances a query breaks its panel
        assert query.count("(") == query.count(")"), query
        assert query.count("{") == query.count("}"), query


def test_every_metric_family_is_charted() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used = {_family(n) for q in _queries(dashboard) for n in METRIC.findall(q)}
    families = {_family(n) for n in Metrics().names()}
    assert families - used == set(), f"metrics no panel shows: {sorted(families - used)}"


def test_panels_have_unique_ids_a_data_source_and_a_place() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"] and all(t["refId"] for t in panel["targets"])
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names[0] == "datasource"
