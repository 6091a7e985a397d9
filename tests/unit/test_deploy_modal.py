"""`bosun deploy modal`: the Modal app that runs the drain-mode worker, rendered, compiled
and, where the `modal` package is installed, imported with it to read what Modal would
deploy (schedule, resources, GPU, timeout)."""

from __future__ import annotations

import ast
import runpy
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bosun.deploy.modal_app import ModalOptions, modal_app
from bosun.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[2]
APP = "tests/deploy/apps/depth_app.py"  # queues default, gpu, vision
QUEUES = ["default", "gpu", "vision"]


def _render(tmp_path: Path, **options: object) -> Path:
    source = modal_app("app.py", QUEUES, ModalOptions(**options))  # type: ignore[arg-type]
    path = tmp_path / "modal_app.py"
    path.write_text(source)
    return path


def _names(source: str) -> dict[str, object]:
    tree = ast.parse(source)
    return {
        n.targets[0].id: ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign)
        and isinstance(n.targets[0], ast.Name)
        and n.targets[0].id.isupper()
    }


def test_the_gpu_queue_gets_its_own_gpu_function_and_never_the_cpu_one(tmp_path: Path) -> None:
    path = _render(tmp_path, max_seconds=840, gpu_queues=("gpu",), gpu_type="h200")
    source = path.read_text()
    compile(source, str(path), "exec")
    names = _names(source)
    assert names["QUEUES"] == ["default", "vision"] and names["GPU_QUEUES"] == ["gpu"]
    assert (names["MAX_SECONDS"], names["GRACE"], names["TIMEOUT"]) == (840, 30, 870)
    assert "def drain_cpu()" in source and "def drain_gpu()" in source
    assert "gpu='H200'" in source
    cpu_only = _render(tmp_path, max_seconds=840).read_text()
    assert "def drain_gpu()" not in cpu_only and _names(cpu_only)["QUEUES"] == QUEUES


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gpu_queues": ("tpu",)}, "--gpu-queue tpu: the app has no such queue"),
        ({"gpu_queues": ("gpu",), "gpu_type": "mi300x"}, "--gpu-type mi300x"),
        ({"max_seconds": 86390}, "exceeds Modal's 86400 s timeout"),
        ({"max_seconds": 20}, "must exceed the 30 s drain grace"),
    ],
)
def test_bad_options_say_what_to_change(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        modal_app("app.py", QUEUES, ModalOptions(**options))  # type: ignore[arg-type]


def test_modal_imports_the_app_with_the_schedule_resources_and_gpu(tmp_path: Path) -> None:
    pytest.importorskip("modal", reason="the modal package is not installed (pip install modal)")
    path = _render(tmp_path, max_seconds=600, concurrency=8, gpu_queues=("gpu",), gpu_type="l4")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = runpy.run_path(str(path))
    cpu, gpu = module["drain_cpu"].info(), module["drain_gpu"].info()
    for info in (cpu, gpu):
        assert info.schedule == "Period(seconds=60.0)"
        assert info.timeout == 630 and info.max_retries == 0
        assert (info.cpu, info.memory_mib) == (1.0, 2048)
    assert cpu.gpus == [] and gpu.gpus == [("L4", 1)]
    assert module["app"].name == "bosun-workers"


def test_the_command_writes_the_app_for_the_apps_queues(tmp_path: Path) -> None:
    import bosun.cli.deploy_modal  # noqa: F401  (registers `bosun deploy modal`)
    from bosun.cli import cli

    out = tmp_path / "modal_app.py"
    args = ["deploy", "modal", str(REPO / APP), "--max-seconds", "900", "--gpu-queue", "gpu"]
    done = CliRunner().invoke(cli, [*args, "--concurrency", "4", "--out", str(out)])
    assert done.exit_code == 0, done.output
    names = _names(out.read_text())
    assert names["QUEUES"] == ["default", "vision"] and names["CONCURRENCY"] == 4
    bad = CliRunner().invoke(cli, ["deploy", "modal", str(REPO / APP), "--gpu-queue", "nope"])
    assert bad.exit_code == 2 and "no such queue" in bad.output
