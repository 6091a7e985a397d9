"""Workload profiles and prices: validation with useful errors, overrides, documentation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bosun.errors import ConfigurationError
from bosun.plan import Prices, load_prices, load_profile, parse_profile, with_overrides
from bosun.plan.prices import PRICED_ON, SOURCES, flatten

REPO = Path(__file__).resolve().parents[3]
RUNS = {"duration_s": {"p50": 60, "p95": 120}}


@pytest.mark.parametrize("path", sorted((REPO / "examples" / "profiles").glob("*.yaml")))
def test_example_profiles_load(path: Path) -> None:
    profile = load_profile(path)
    assert profile.name == path.stem
    assert profile.rate_per_hour > 0 and profile.peak_concurrency >= 1


def test_rate_is_given_once_and_concurrency_follows_littles_law() -> None:
    p = parse_profile({"concurrency": 10, "runs": {"duration_s": {"p50": 60, "p95": 60}}})
    assert p.rate_per_hour == pytest.approx(600)  # 10 at once, 60 s each
    assert p.mean_concurrency == pytest.approx(10)
    bursty = parse_profile(
        {"arrivals": {"pattern": "bursty", "burst_size": 12, "bursts_per_day": 2}, "runs": RUNS}
    )
    assert bursty.rate_per_hour == pytest.approx(1.0)  # the bursts are all its traffic
    assert bursty.scaled(burst_size=48).arrivals.burst_size == 48
    assert p.scaled(concurrency=40).mean_concurrency == pytest.approx(40)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"concurrency": 5, "arrivals": {"runs_per_hour": 3}, "runs": RUNS}, "not both"),
        ({"runs": RUNS}, "give arrivals.runs_per_hour or concurrency"),
        ({"concurrency": 5, "runs": {"duration_s": {"p50": 60, "p95": 30}}}, "p95 must be"),
        ({"concurrency": 5, "runs": RUNS, "gpu": {"type": "tpu"}}, "gpu.type must be one of"),
        ({"concurrency": 5, "runs": RUNS, "colour": "red"}, "colour: Extra inputs"),
        (
            {
                "arrivals": {"pattern": "bursty", "runs_per_hour": 1, "burst_size": 50},
                "runs": RUNS,
            },
            "bursts bring more runs",
        ),
        ([1, 2], "must be a mapping"),
    ],
)
def test_bad_profiles_say_what_to_fix(data: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_profile(data)


def test_profile_files_that_are_missing_or_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read profile"):
        load_profile(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("runs: [unclosed")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_profile(bad)


def test_overrides_by_key_from_text_and_from_a_file(tmp_path: Path) -> None:
    prices = with_overrides(
        Prices(),
        {
            "aws_lambda.gb_second_usd": "0.00002",
            "kubernetes.scale_to_zero": "true",
            "gpu.modal_second_usd.h100": "0.002",
            "vm.sizes_vcpu": "[2, 4]",
        },
    )
    assert prices.aws_lambda.gb_second_usd == 0.00002
    assert prices.kubernetes.scale_to_zero is True
    assert prices.gpu.modal_second_usd["h100"] == 0.002
    assert prices.vm.sizes_vcpu == (2, 4)
    file = tmp_path / "prices.yaml"
    file.write_text("modal:\n  region_multiplier: 1\ngpu:\n  vm_hour_usd:\n    l4: 0.5\n")
    loaded = load_prices(file)
    assert loaded.modal.region_multiplier == 1 and loaded.gpu.vm_hour_usd["l4"] == 0.5
    assert loaded.gpu.vm_hour_usd["h100"] == Prices().gpu.vm_hour_usd["h100"]


def test_bad_overrides_name_the_key() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown price or limit 'aws_lambda\.speed'"):
        with_overrides(Prices(), {"aws_lambda.speed": "1"})
    with pytest.raises(ConfigurationError, match=r"aws_lambda\.max_seconds"):
        with_overrides(Prices(), {"aws_lambda.max_seconds": "soon"})


def test_every_default_price_is_documented_with_its_value_and_source() -> None:
    docs = (REPO / "docs" / "plan.md").read_text()
    assert PRICED_ON in docs
    rows = dict(re.findall(r"^\| `(\w+\.[\w.]+)` \| ([^|]+?) \|", docs, re.MULTILINE))
    flat = flatten(Prices())
    assert set(rows) == set(flat), "docs/plan.md's price table is out of date"
    for key, value in flat.items():
        shown = ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
        assert rows[key] == shown, key
    for section, source in SOURCES.items():
        assert section in docs and source.split(" ")[0].rstrip(";") in docs, section
