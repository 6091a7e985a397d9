"""`BOSUN_SANDBOX=none`: no sandbox at all, for operators who opted out explicitly.

The command runs as the worker, with the worker's network, files and privileges. Only the
bookkeeping stays: a private work directory (a temporary one, or `request.workdir`), an
environment of `request.env` alone, the wall-clock kill of its process group, output caps,
files in and out. No resource limit other than the wall clock applies, and `network=False`
or `network_hosts` restrict nothing: the command has the worker's whole network.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bosun.sandbox import _protections, _workfiles
from bosun.sandbox._procio import Capture, Feed, exited
from bosun.sandbox._verdict import Facts, which_limit
from bosun.sandbox.bwrap import check_request
from bosun.sandbox.spec import Protection, Request, Result

GRACE_SECONDS = 2.0


class UnconfinedBackend:
    """Runs requests with no isolation (see the module docstring)."""

    name = "none"

    def available(self) -> tuple[bool, str]:
        return True, (
            "no isolation: commands run as the worker, with its network and files "
            "(only with BOSUN_SANDBOX=none)"
        )

    def network_hosts_support(self) -> tuple[bool, str]:
        return False, "not enforced: commands have the worker's whole network"

    def protections(self) -> tuple[Protection, ...]:
        """Nothing is blocked."""
        return _protections.unconfined()

    async def run(self, request: Request) -> Result:
        """Run `request` unconfined, in its own process group and work directory."""
        check_request(request)
        temporary = request.workdir is None
        work = Path(tempfile.mkdtemp(prefix="bosun-unconfined-")) if temporary else None
        workdir = work if work is not None else request.workdir
        assert workdir is not None
        workdir.mkdir(parents=True, exist_ok=True)
        root = _workfiles.open_dir(workdir)
        try:
            _workfiles.write_files(root, request.files, (-1, -1))
            result = await _supervise(request, workdir)
            files = _workfiles.collect_files(root, request.collect, request.limits.file_size_bytes)
            return dataclasses.replace(result, files=files)
        finally:
            os.close(root)
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)


def _spawn(request: Request, workdir: Path) -> tuple[int, int, int, int] | OSError:
    """Start the command in its own session; (pid, stdout, stderr, stdin or -1) to read."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir), "LANG": "C.UTF-8"}
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if request.stdin is not None else (-1, -1)
    try:
        proc = subprocess.Popen(
            request.argv,
            cwd=workdir,
            env={**env, **request.env},
            stdin=in_r if in_r >= 0 else subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            start_new_session=True,
        )
    except OSError as exc:
        for fd in (in_w, out_r, err_r):
            if fd >= 0:
                os.close(fd)
        return exc
    finally:
        for fd in (in_r, out_w, err_w):
            if fd >= 0:
                os.close(fd)
    proc.returncode = 0  # os.wait4 reaps it, for the resource usage
    return proc.pid, out_r, err_r, in_w


def _kill_and_reap(pid: int) -> tuple[int, resource.struct_rusage]:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # the command's leftovers, or all of it
    _, status, rusage = os.wait4(pid, 0)
    return status, rusage


async def _supervise(request: Request, workdir: Path) -> Result:
    limits = request.limits
    start = time.monotonic()
    spawned = _spawn(request, workdir)
    if isinstance(spawned, OSError):
        return _not_started(spawned, time.monotonic() - start)
    pid, out_r, err_r, in_w = spawned
    stdout = Capture(out_r, limits.output_bytes)
    stderr = Capture(err_r, limits.output_bytes)
    feed = Feed(in_w, request.stdin or b"") if in_w >= 0 else None
    pidfd = os.pidfd_open(pid)
    done = exited(pidfd)
    try:
        await asyncio.wait([done], timeout=limits.wall_seconds)
        timed_out = not done.done()
        status, rusage = _kill_and_reap(pid)
        wall = time.monotonic() - start
        await asyncio.wait([stdout.done, stderr.done], timeout=GRACE_SECONDS)
    finally:
        done.cancel()
        os.close(pidfd)
        for closable in (stdout, stderr, feed):
            if closable is not None:
                closable.close()
    code = os.waitstatus_to_exitcode(status)
    exit_code, sig = (code, None) if code >= 0 else (None, -code)
    cpu = rusage.ru_utime + rusage.ru_stime
    facts = Facts(
        exit_code=exit_code,
        signal=sig,
        cpu_seconds=cpu,
        stderr=stderr.data,
        truncated=stdout.truncated or stderr.truncated,
        timed_out=timed_out,
    )
    return Result(
        exit_code=exit_code,
        signal=sig,
        limit=which_limit(facts, limits),
        stdout=stdout.data,
        stderr=stderr.data,
        stdout_truncated=stdout.truncated,
        stderr_truncated=stderr.truncated,
        files={},
        wall_seconds=wall,
        cpu_seconds=cpu,
        max_rss_bytes=rusage.ru_maxrss * 1024,
        backend="none",
    )


def _not_started(exc: OSError, wall: float) -> Result:
    """The result a shell gives for a command it cannot run (127: not found, 126: not run)."""
    return Result(
        exit_code=127 if isinstance(exc, FileNotFoundError) else 126,
        signal=None,
        limit=None,
        stdout=b"",
        stderr=f"bosun: {exc}\n".encode(),
        stdout_truncated=False,
        stderr_truncated=False,
        files={},
        wall_seconds=wall,
        cpu_seconds=0.0,
        max_rss_bytes=0,
        backend="none",
    )
