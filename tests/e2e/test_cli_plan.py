"""`bosun plan` as a subprocess: the README's commands, the table, --json, --charts files
that are valid images, --from-db on a database made by a real run, and clear errors."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
BOSUN = str(Path(sys.executable).parent / "bosun")
KEYS = {
    "compose-vm",
    "managed-containers",
    "kubernetes-keda",
    "lambda",
    "cloud-run",
    "modal",
    "temporal-cloud",
    "step-functions",
}


def bosun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOSUN_")}
    env["COLUMNS"] = "120"
    return subprocess.run(
        [BOSUN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def readme_commands() -> list[list[str]]:
    """The `bosun plan` lines of the README's "Choosing an architecture" section."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Choosing an architecture", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return [shlex.split(line)[1:] for line in block[1].splitlines() if line.strip()]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the example profiles and a bosun database holding real runs."""
    folder = tmp_path_factory.mktemp("plan")
    shutil.copytree(REPO / "examples" / "profiles", folder / "examples" / "profiles")
    example = str(REPO / "examples" / "report.py")
    done = bosun(
        "run", example, "publish_report", "--input", '{"topic": "x"}', "--worker", cwd=folder
    )
    assert done.returncode == 0, done.stderr
    return folder


@pytest.mark.timeout(120)
def test_the_readme_commands(project: Path) -> None:
    commands = readme_commands()
    assert [c[0] for c in commands] == ["plan"] * 5
    results = {}
    for args in commands:
        done = bosun(*args, cwd=project)
        assert done.returncode == 0, (args, done.stderr)
        results[" ".join(args)] = done.stdout

    table = results["plan examples/profiles/spiky-small.yaml"]
    assert "Recommendation: Modal (bosun drain mode, serverless GPUs)" in table
    assert "Set it up: bosun deploy modal app.py --max-seconds 86340 --concurrency 12" in table
    rows = re.findall(r"^\s+(\d+|no|-)\s+([a-z-]+)\s+\$[\d,]+\s", table, re.MULTILINE)
    assert {key for _, key in rows} == KEYS
    # What bosun deploys is ranked; what it cannot is marked "-" and listed after.
    assert [rank for rank, _ in rows] == ["1", "2", "3", "4", "5", "-", "-", "-"]
    assert {key for rank, key in rows if rank == "-"} == {
        "managed-containers",
        "temporal-cloud",
        "step-functions",
    }

    data = json.loads(results["plan examples/profiles/long-runs.yaml --json"])
    by_key = {e["key"]: e for e in data["ranked"]}
    assert set(by_key) == KEYS | {"lambda-plain"}
    assert not by_key["lambda-plain"]["feasible"] and by_key["lambda-plain"]["failed_per_month"]
    assert by_key["lambda"]["feasible"] and by_key["lambda"]["reruns_per_month"] > 0
    assert data["recommendation"]["key"] == data["ranked"][0]["key"]
    assert data["charts"] == [] and data["priced_on"] == "2026-01"

    charts = results["plan examples/profiles/steady-large.yaml --charts plan-charts"]
    for name in ("cost-vs-concurrency", "wait-vs-burst"):
        png = project / "plan-charts" / f"{name}.png"
        svg = project / "plan-charts" / f"{name}.svg"
        assert f"chart: {png.relative_to(project)}" in charts
        with Image.open(png) as image:
            assert image.format == "PNG" and image.size[0] > 300
            image.verify()
        root = ET.parse(svg).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert "Kubernetes with KEDA" in svg.read_text()  # the legend names each line

    measured = results["plan --from-db sqlite:///.bosun/bosun.db --days 7"]
    assert re.search(r"measured from 4 runs", measured)  # publish_report and 3 sections
    # Four runs made a moment ago (a minute or two on a busy machine): the profile says how
    # little it can be trusted.
    low = r"\(low confidence: measured over (less than a minute|\d+ minutes?)\)"
    assert re.search(low, " ".join(measured.split())), measured
    assert "Recommendation:" in measured

    gpu = results["plan examples/profiles/gpu-chain.yaml --set modal.region_multiplier=1"]
    assert "Recommendation:" in gpu and "modal" in gpu


def test_set_overrides_reach_the_cost(project: Path) -> None:
    profile = "examples/profiles/gpu-chain.yaml"

    def modal_cost(*extra: str) -> float:
        done = bosun("plan", profile, "--json", *extra, cwd=project)
        assert done.returncode == 0, done.stderr
        by_key = {e["key"]: e for e in json.loads(done.stdout)["ranked"]}
        return float(by_key["modal"]["compute_usd"] + by_key["modal"]["idle_usd"])

    default = modal_cost()
    assert modal_cost("--set", "modal.region_multiplier=1") == pytest.approx(default / 1.5, 0.01)


def test_database_option_and_environment_pick_the_measured_database(project: Path) -> None:
    done = bosun("plan", "--database", "sqlite:///.bosun/bosun.db", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["profile"]["measured"]["runs"] == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "missing.yaml"], "cannot read profile missing.yaml"),
        (["plan", "examples/profiles/spiky-small.yaml", "--set", "lambda.x=1"], "unknown price"),
        (["plan", "examples/profiles/spiky-small.yaml", "--set", "novalue"], "section.key=value"),
        (["plan", "--from-db", "sqlite:///nowhere.db"], "no bosun database at nowhere.db"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    project: Path, args: list[str], message: str
) -> None:
    done = bosun(*args, cwd=project)
    assert done.returncode == 2, done.stdout
    assert message in " ".join(done.stderr.split())


def test_list_prices_shows_every_key_with_its_source(project: Path) -> None:
    done = bosun("plan", "--list-prices", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["prices"]["aws_lambda.max_seconds"] == 900.0
    assert "aws.amazon.com/lambda/pricing" in data["sources"]["aws_lambda"]


@pytest.mark.parametrize("profile", sorted((REPO / "examples" / "profiles").glob("*.yaml")))
def test_what_the_deploy_command_sets_up_is_labelled_under_it(
    profile: Path, tmp_path: Path
) -> None:
    advice = json.loads(bosun("plan", str(profile), "--json", cwd=tmp_path).stdout)
    done = bosun("plan", str(profile), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    command, note = advice["deploy_command"], advice["deploy_note"]
    if command:
        at = lines.index(f"Set it up: {command}")
        assert lines[at + 1] == f"  what it sets up: {note}"
    else:
        assert f"Set it up: {note}" in lines
    assert note not in lines  # never a line of its own, out of context


@pytest.mark.parametrize("profile", sorted((REPO / "examples" / "profiles").glob("*.yaml")))
def test_every_deploy_command_the_advisor_prints_exists(profile: Path, tmp_path: Path) -> None:
    """Each deployable architecture's command names a `bosun deploy` target with options it
    takes (the advisor recommends only what `bosun deploy` sets up)."""
    advice = json.loads(bosun("plan", str(profile), "--json", cwd=tmp_path).stdout)
    assert advice["recommendation"]["deployable"]
    for e in advice["ranked"]:
        if not e["deployable"]:
            assert e["deploy_command"] is None, e["key"]
            continue
        words = shlex.split(e["deploy_command"])
        assert words[:2] == ["bosun", "deploy"]
        done = bosun("deploy", words[2], "--help", cwd=tmp_path)
        assert done.returncode == 0, (e["key"], done.stderr)
        for flag in (w for w in words if w.startswith("--")):
            assert flag in done.stdout, (e["key"], flag)
