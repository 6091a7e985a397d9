"""Telling that a registered worker's process is gone: only for a process of this boot and
PID namespace, never for a live one, and not fooled by a reused pid or a zombie."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bosun.records import WorkerRecord
from bosun.worker.liveness import is_gone, pid_namespace, this_process
from bosun.worker.takeover import may_hold_leases, stalled
from tests.helpers.records import worker_record
from tests.helpers.wait import wait_for

HERE = this_process()
pytestmark = pytest.mark.skipif(HERE.namespace is None, reason="needs Linux /proc")


def worker(pid: int, started: int | None, namespace: str | None = HERE.namespace) -> WorkerRecord:
    return worker_record(pid=pid, pid_namespace=namespace, pid_started=started)


def reaped_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def start_time(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def test_this_process_is_alive() -> None:
    assert HERE.started == start_time(os.getpid())
    assert not is_gone(worker(os.getpid(), HERE.started), HERE.namespace)


def test_a_live_child_is_alive_and_gone_once_reaped() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        record = worker(child.pid, start_time(child.pid))
        assert not is_gone(record, HERE.namespace)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
    assert is_gone(record, HERE.namespace)


def test_a_zombie_is_gone() -> None:
    """Killed but not yet reaped by its parent: its pid still answers signals."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    record = worker(child.pid, start_time(child.pid))
    child.kill()
    try:
        wait_for(
            lambda: Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0] == "Z",
            30,
            "the killed child to be a zombie",
        )
        assert is_gone(record, HERE.namespace)
    finally:
        child.wait()


def test_a_reused_pid_is_not_the_registered_process() -> None:
    assert HERE.started is not None
    assert is_gone(worker(os.getpid(), HERE.started + 1), HERE.namespace)


@pytest.mark.parametrize(
    "namespace",
    [
        pytest.param("another-boot-id/" + (HERE.namespace or "/").split("/", 1)[1], id="boot"),
        pytest.param((HERE.namespace or "/").split("/", 1)[0] + "/pid:[1]", id="namespace"),
        pytest.param(None, id="unknown"),
    ],
)
def test_a_pid_of_another_boot_or_namespace_is_never_gone(namespace: str | None) -> None:
    """A free pid here says nothing of a process counted in another PID namespace (a
    container sharing the host's network and name) or on another boot."""
    assert not is_gone(worker(reaped_pid(), 1, namespace), HERE.namespace)
    assert not is_gone(worker(os.getpid(), HERE.started, namespace), HERE.namespace)


def test_nothing_is_gone_where_this_process_cannot_tell() -> None:
    assert not is_gone(worker(reaped_pid(), 1), None)
    assert not is_gone(worker(reaped_pid(), None), HERE.namespace)
    for pid in (0, -1):  # process groups, never one worker
        assert not is_gone(worker(pid, 1), HERE.namespace)


def test_a_proc_of_another_pid_namespace_tells_nothing(tmp_path: Path) -> None:
    """A /proc mounted from another PID namespace counts this process under another pid."""
    real = Path("/proc")
    (tmp_path / "sys" / "kernel" / "random").mkdir(parents=True)
    (tmp_path / "sys" / "kernel" / "random" / "boot_id").write_text("boot\n")
    other = tmp_path / "424242"
    (other / "ns").mkdir(parents=True)
    (other / "ns" / "pid").symlink_to("pid:[4026531836]")
    (tmp_path / "self").symlink_to("424242")
    assert pid_namespace(tmp_path) is None
    (tmp_path / "self").unlink()
    (tmp_path / "self").symlink_to(str(os.getpid()))
    (tmp_path / str(os.getpid())).symlink_to(other)
    assert pid_namespace(tmp_path) == "boot/pid:[4026531836]"
    assert pid_namespace(tmp_path / "missing") is None
    assert pid_namespace(real) == HERE.namespace


def test_a_late_heartbeat_is_stalled() -> None:
    now = time.time()
    fresh = worker(1, 1)
    assert not stalled(fresh, now + 10)  # refreshed every 10 s of its 30 s TTL
    assert stalled(fresh, now + 16)
    assert may_hold_leases(fresh, now + 59)
    assert not may_hold_leases(fresh, now + 61)
