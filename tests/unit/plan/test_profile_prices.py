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
            "gpu.sheets.modal.hour_usd.h100": "4.2",
            "vm.sizes_vcpu": "[2, 4]",
        },
    )
    assert prices.aws_lambda.gb_second_usd == 0.00002
    assert prices.kubernetes.scale_to_zero is True
    assert prices.gpu.hour_usd("modal", "h100") == 4.2
    assert prices.vm.sizes_vcpu == (2, 4)
    file = tmp_path / "prices.yaml"
    file.write_text(
        "modal:\n  region_multiplier: 1\ngpu:\n  sheets:\n    aws:\n      hour_usd:\n"
        "        l4: 0.5\n"
    )
    loaded = load_prices(file)
    assert loaded.modal.region_multiplier == 1 and loaded.gpu.hour_usd("aws", "l4") == 0.5
    assert loaded.gpu.hour_usd("aws", "h100") == Prices().gpu.hour_usd("aws", "h100")


def test_bad_overrides_name_the_key() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown price or limit 'aws_lambda\.speed'"):
        with_overrides(Prices(), {"aws_lambda.speed": "1"})
    with pytest.raises(ConfigurationError, match=r"aws_lambda\.max_seconds"):
        with_overrides(Prices(), {"aws_lambda.max_seconds": "soon"})


def test_every_default_price_is_documented_with_its_value_and_source() -> None:
    docs = (REPO / "docs" / "plan.md").read_text()
    assert PRICED_ON in docs
    rows = dict(re.findall(r"^\| `(\w+\.[\w.-]+)` \| ([^|]+?) \|", docs, re.MULTILINE))
    flat = flatten(Prices())
    assert set(rows) == set(flat), "docs/plan.md's price table is out of date"
    for key, value in flat.items():
        shown = ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
        assert rows[key] == shown, key
    for section, source in SOURCES.items():
        assert section in docs and source.split(" ")[0].rstrip(";") in docs, section


def test_gpu_prices_are_named_sheets_with_sources_and_dates() -> None:
    gpu = Prices().gpu
    assert set(gpu.sheets) == {"aws", "gpu-clouds", "modal", "cloud-run"}
    for name, sheet in gpu.sheets.items():
        assert sheet.source and re.fullmatch(r"\d{4}-\d{2}", sheet.priced_on), name
    clouds = gpu.sheets["gpu-clouds"].hour_usd
    assert clouds == {"h100": 2.00, "h200": 2.60, "b200": 4.00}
    assert gpu.vm_sheet == "aws" and gpu.hour_usd("aws", "h100") == 6.88
    assert gpu.hour_usd("cloud-run", "h100") is None  # Cloud Run offers L4s only
    flat = flatten(Prices())
    assert flat["gpu.sheets.gpu-clouds.hour_usd.b200"] == 4.00
    assert "gpu.sheets.gpu-clouds.source" in flat and "gpu.sheets.aws.priced_on" in flat


@pytest.mark.parametrize("gpu_type", ["h200", "b200"])
def test_h200_and_b200_are_profile_gpu_types_priced_by_any_sheet(gpu_type: str) -> None:
    from bosun.plan import advise

    profile = parse_profile(
        {
            "arrivals": {"runs_per_hour": 20},
            "runs": {"duration_s": {"p50": 60, "p95": 120}, "cpu": 0.02, "memory_gb": 0.02},
            "gpu": {"steps": 2, "type": gpu_type},
        }
    )
    on_aws = {e.key: e for e in advise(profile, max_runs=600).ranked}
    clouds = with_overrides(Prices(), {"gpu.vm_sheet": "gpu-clouds"})
    on_clouds = {e.key: e for e in advise(profile, prices=clouds, max_runs=600).ranked}
    # The same always-on GPU nodes, priced from the GPU clouds' sheet instead of EC2's.
    kube, cheap = on_aws["kubernetes-keda"], on_clouds["kubernetes-keda"]
    assert kube.feasible and cheap.monthly_usd < kube.monthly_usd
    assert not on_aws["cloud-run"].feasible  # no H200 or B200 on Cloud Run
    assert on_aws["modal"].feasible
    # --set prices a type on a sheet, new or not.
    priced = with_overrides(Prices(), {f"gpu.sheets.gpu-clouds.hour_usd.{gpu_type}": "9"})
    assert priced.gpu.hour_usd("gpu-clouds", gpu_type) == 9.0


def test_a_sheet_that_does_not_offer_the_gpu_rules_out_what_it_prices() -> None:
    from bosun.plan import advise

    profile = parse_profile(
        {"arrivals": {"runs_per_hour": 5}, "runs": RUNS, "gpu": {"steps": 1, "type": "l4"}}
    )
    clouds = with_overrides(Prices(), {"gpu.vm_sheet": "gpu-clouds"})
    kube = next(
        e for e in advise(profile, prices=clouds, max_runs=300).ranked if e.key == "kubernetes-keda"
    )
    assert not kube.feasible and "gpu-clouds GPU price sheet offers no l4" in kube.problems[0]
    with pytest.raises(ConfigurationError, match="vm_sheet must name a sheet"):
        with_overrides(Prices(), {"gpu.vm_sheet": "nowhere"})


def test_cloud_run_tasks_allow_168_hours_and_gpu_tasks_one() -> None:
    cloud_run = Prices().cloud_run
    assert cloud_run.max_seconds == 168 * 3600
    assert cloud_run.gpu_max_seconds == 3600
