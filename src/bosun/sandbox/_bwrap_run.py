"""One run of the bubblewrap backend: its arguments, its init, and its supervision.

See `bosun.sandbox.bwrap` for the layout and the process tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import math
import os
import re
import resource
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from bosun.sandbox import _workfiles, seccomp
from bosun.sandbox._procio import Capture, Feed, exited
from bosun.sandbox._verdict import Facts, shell_status, which_limit
from bosun.sandbox.spec import Limits, Request, Result, SandboxUnavailable

SANDBOX_ID = 65534  # uid and gid inside; also outside when the worker is root
NOFILE = 1024
GRACE_SECONDS = 2.0
DEFAULT_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/work", "LANG": "C.UTF-8"}

# PID 1 of the sandbox. $1: fd of the status pipe; $2: fd of the go pipe, both opened through
# /proc/self/fd since dash only knows fds 0-9. Without the go (the worker died before sending
# it: end of file), it exits, and the namespace with it. `"$@"` is not the script's last
# command, so the shell forks it rather than exec'ing it as PID 1.
_INIT = """\
s=$1 c=$2
shift 2
{{ ulimit -S -t {cpu} && ulimit -H -t {cpu_hard} && ulimit -v {as_kib} && \
ulimit -f {fsize_blocks} && ulimit -n {nofile} && ulimit -c 0 && \
{{ ulimit -u {nproc} 2>/dev/null || ulimit -p {nproc}; }}; }} || \
{{ echo "bosun: could not set the sandbox's resource limits" >&2; exit 125; }}
{prelude}
printf r >"/proc/self/fd/$s"
read -r go <"/proc/self/fd/$c" && [ "$go" = g ] || exit 125
"$@"
exit $?
"""


def init_script(limits: Limits, *, prelude: str = "", helpers: int = 0) -> str:
    """The init's shell script with `limits` filled in (in POSIX `ulimit` units).

    `prelude` runs under the limits before the command: it starts `helpers` long-lived
    processes (the egress forwarder), which count in the process limit on top of the
    command's `limits.processes`."""
    cpu = max(1, math.ceil(limits.cpu_seconds))
    return _INIT.format(
        cpu=cpu,
        cpu_hard=cpu + 1,
        as_kib=max(1, limits.memory_bytes // 1024),
        fsize_blocks=max(1, math.ceil(limits.file_size_bytes / 512)),
        nofile=NOFILE,
        nproc=limits.processes + 1 + helpers,  # and the init itself
        prelude=prelude,
    )


@dataclass(frozen=True)
class Identity:
    """Who bwrap is started as: None keeps the worker's own ids."""

    uid: int | None = None
    gid: int | None = None
    groups: list[int] | None = None

    @property
    def owner(self) -> tuple[int, int]:
        """(uid, gid) for files the worker creates for the sandbox; (-1, -1) keeps ours."""
        return (-1, -1) if self.uid is None or self.gid is None else (self.uid, self.gid)


def identity() -> Identity:
    """Nobody when the worker is root (whose processes RLIMIT_NPROC ignores); else as is."""
    if os.geteuid() != 0:
        return Identity()
    return Identity(SANDBOX_ID, SANDBOX_ID, [])


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@dataclass
class _Ended:
    status: int
    rusage: resource.struct_rusage
    timed_out: bool


class BwrapRun:
    """Sets up, runs and tears down one sandbox."""

    def __init__(
        self,
        bwrap: str,
        system_args: list[str],
        request: Request,
        *,
        prelude: str = "",
        helpers: int = 0,
    ) -> None:
        self.bwrap = bwrap
        self.system_args = system_args
        self.request = request
        self.prelude, self.helpers = prelude, helpers  # see init_script
        self.limits = request.limits
        self.who = identity()
        self.fds: list[int] = []  # closed at the end
        self.persistent: int | None = None  # the persistent work dir, from the host
        self.work: int | None = None  # /work as the worker sees it (it outlives the sandbox)
        self.tmp: int | None = None
        self.init_pidfd: int | None = None
        self.pid = 0
        self.worker_peak_rss = 0

    def _keep(self, fd: int) -> int:
        self.fds.append(fd)
        return fd

    async def execute(self) -> Result:
        start = time.monotonic()
        try:
            if self.request.workdir is not None:
                refused = await self._open_persistent(start)
                if refused is not None:
                    return refused
            return await self._run(start)
        finally:
            for fd in self.fds:
                os.close(fd)

    async def _open_persistent(self, start: float) -> Result | None:
        """Open the persistent work dir and check it fits its quota (the sandbox's tmpfs)."""
        assert self.request.workdir is not None
        self.request.workdir.mkdir(parents=True, exist_ok=True)
        self.persistent = self._keep(_workfiles.open_dir(self.request.workdir))
        used = await asyncio.to_thread(_workfiles.tree_size, self.persistent)
        if used > self.limits.workdir_bytes:
            message = f"bosun: the work directory holds {used} bytes, over its quota of "
            message += f"{self.limits.workdir_bytes}; delete files to run again\n"
            return _over_quota_result(message.encode(), time.monotonic() - start)
        return None

    def _arguments(self, seccomp_fd: int, info_fd: int, status_fd: int, go_fd: int) -> list[str]:
        request, limits = self.request, self.limits
        args = ["--unshare-all", *(["--share-net"] if request.network else [])]
        args += ["--die-with-parent", "--new-session", "--as-pid-1", "--hostname", "sandbox"]
        args += ["--uid", str(SANDBOX_ID), "--gid", str(SANDBOX_ID), *self.system_args]
        args += ["--proc", "/proc", "--dev", "/dev"]
        args += ["--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", "/dev/shm"]
        args += ["--remount-ro", "/dev"]
        args += ["--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
        args += ["--size", str(limits.workdir_bytes), "--perms", "0755", "--tmpfs", "/work"]
        args += ["--remount-ro", "/", "--chdir", "/work", "--clearenv"]
        for key, value in {**DEFAULT_ENV, **request.env}.items():
            args += ["--setenv", key, value]
        return [*args, "--info-fd", str(info_fd), "--seccomp", str(seccomp_fd)]

    def _command(self, status_fd: int, go_fd: int) -> list[str]:
        init = init_script(self.limits, prelude=self.prelude, helpers=self.helpers)
        return ["/bin/sh", "-c", init, "bosun-init", str(status_fd), str(go_fd), *self.request.argv]

    def _spawn(self) -> tuple[Capture, int, Capture, Capture, Feed | None, int]:
        """Start bwrap; (info, status fd, stdout, stderr, stdin feed, go fd) for the parent."""
        arch = seccomp.machine_arch()
        assert arch is not None  # available() checked it
        seccomp_fd = self._keep(_memfd("bosun-seccomp", seccomp.deny_filter(arch)))
        info_r, info_w = os.pipe()
        status_r, status_w = os.pipe()
        go_r, go_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe() if self.request.stdin is not None else (-1, -1)
        if self.who.owner != (-1, -1):  # the init, as nobody, reopens them by /proc/self/fd
            os.fchown(status_w, *self.who.owner)
            os.fchown(go_r, *self.who.owner)
        child_ends = [info_w, status_w, go_r, out_w, err_w, *([in_r] if in_r >= 0 else [])]
        # Options through a memfd, so the environment's values stay out of `ps` (bwrap takes
        # the command itself from its command line only).
        options = self._arguments(seccomp_fd, info_w, status_w, go_r)
        args_fd = self._keep(
            _memfd("bosun-bwrap-args", b"".join(a.encode() + b"\0" for a in options))
        )
        self.worker_peak_rss = worker_peak_rss()
        try:
            proc = subprocess.Popen(
                [self.bwrap, "--args", str(args_fd), "--", *self._command(status_w, go_r)],
                stdin=in_r if in_r >= 0 else subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                pass_fds=(args_fd, seccomp_fd, info_w, status_w, go_r),
                start_new_session=True,
                env={},
                user=self.who.uid,
                group=self.who.gid,
                extra_groups=self.who.groups,
            )
        except BaseException:
            for fd in (info_r, status_r, go_w, out_r, err_r, *([in_w] if in_w >= 0 else [])):
                os.close(fd)
            raise
        finally:
            for fd in child_ends:
                os.close(fd)
        proc.returncode = 0  # os.wait4 reaps it (for the rusage); Popen must never wait for it
        self.pid = proc.pid
        info = Capture(info_r, 4096)
        stdout = Capture(out_r, self.limits.output_bytes)
        stderr = Capture(err_r, self.limits.output_bytes)
        feed = Feed(in_w, self.request.stdin or b"") if in_w >= 0 else None
        self._keep(status_r)
        self._keep(go_w)
        return info, status_r, stdout, stderr, feed, go_w

    async def _run(self, start: float) -> Result:
        deadline = start + self.limits.wall_seconds
        info, status_r, stdout, stderr, feed, go_w = self._spawn()
        pidfd = self._keep(os.pidfd_open(self.pid))
        done = exited(pidfd)
        try:
            state = await self._start(info, status_r, go_w, done, deadline)
            if state == "failed":
                await asyncio.wait([stdout.done, stderr.done], timeout=GRACE_SECONDS)
                self._reap()
                text = stderr.data.decode(errors="replace").strip()
                raise SandboxUnavailable(f"bubblewrap could not start the sandbox: {text}")
            if state == "late":
                ended = await self._stop(done, timed_out=True)
            else:
                ended = await self._watch(done, deadline)
            await self._ensure_gone()
            wall = time.monotonic() - start
            await self._save()
            await asyncio.wait([stdout.done, stderr.done], timeout=GRACE_SECONDS)
            return self._result(ended, stdout, stderr, wall)
        except BaseException:
            if not done.done():
                await self._stop(done, timed_out=True)
            raise
        finally:
            done.cancel()
            for closable in (info, stdout, stderr, feed):
                if closable is not None:
                    closable.close()

    async def _start(
        self, info: Capture, status_r: int, go_w: int, done: asyncio.Future[None], deadline: float
    ) -> Literal["up", "failed", "late"]:
        """Wait for the init to be up, write the input files, and let it go; "failed" if bwrap
        could not set the sandbox up, "late" if the wall-clock limit passed first."""
        await asyncio.wait([info.done], timeout=max(0.0, deadline - time.monotonic()))
        match = re.search(rb'"child-pid"\s*:\s*(\d+)', info.data)
        if match is not None:
            self.init_pidfd = _open_init(int(match.group(1)))
            if self.init_pidfd is not None:
                self._keep(self.init_pidfd)
            ready = _readable(status_r)
            try:
                await asyncio.wait(
                    [ready, done],
                    timeout=max(0.0, deadline - time.monotonic()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                ready.cancel()
            if _read_nowait(status_r).startswith(b"r"):
                root = f"/proc/{int(match.group(1))}/root"
                self.tmp = self._keep(_workfiles.open_dir(f"{root}/tmp"))
                self.work = self._keep(_workfiles.open_dir(f"{root}/work"))
                await self._fill(self.work)
                os.write(go_w, b"g\n")
                return "up"
        if time.monotonic() >= deadline:
            return "late"
        await asyncio.wait([done], timeout=GRACE_SECONDS)
        return "failed" if done.done() else "late"

    async def _fill(self, work: int) -> None:
        """Copy the persistent work dir, then the input files, into the sandbox's tmpfs.

        A root worker does it from a thread whose filesystem ids are the sandbox's: that tmpfs
        belongs to the sandbox's user namespace, where root is unmapped and may not create
        files (EOVERFLOW)."""
        files, persistent, who = self.request.files, self.persistent, self.who
        if not files and persistent is None:
            return

        def fill() -> None:
            if persistent is not None:  # read as the worker, create as the sandbox's user
                _workfiles.copy_tree(
                    persistent,
                    work,
                    max_bytes=self.limits.workdir_bytes,
                    creating=lambda: _filesystem_ids(who.uid, who.gid),
                )
            with _filesystem_ids(who.uid, who.gid):
                _workfiles.write_files(work, files, (-1, -1))

        await asyncio.to_thread(fill)

    async def _save(self) -> None:
        """Mirror the sandbox's /work back into the persistent work dir."""
        if self.persistent is not None and self.work is not None:
            await asyncio.to_thread(
                functools.partial(
                    _workfiles.copy_tree,
                    self.work,
                    self.persistent,
                    max_bytes=self.limits.workdir_bytes,
                    prune=True,
                )
            )

    async def _watch(self, done: asyncio.Future[None], deadline: float) -> _Ended:
        """Wait for the command's end; stop it at the wall-clock limit."""
        await asyncio.wait([done], timeout=max(0.0, deadline - time.monotonic()))
        if not done.done():
            return await self._stop(done, timed_out=True)
        status, rusage = self._reap()
        return _Ended(status, rusage, timed_out=False)

    async def _stop(self, done: asyncio.Future[None], *, timed_out: bool) -> _Ended:
        """Kill the whole tree: SIGKILL to the init (the kernel then kills its namespace),
        and to bwrap's process group if that is not enough."""
        if self.init_pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.init_pidfd, signal.SIGKILL)
            await asyncio.wait([done], timeout=GRACE_SECONDS)
        if not done.done():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            await asyncio.wait([done], timeout=GRACE_SECONDS)
        status, rusage = self._reap()
        return _Ended(status, rusage, timed_out=timed_out)

    def _reap(self) -> tuple[int, resource.struct_rusage]:
        _, status, rusage = os.wait4(self.pid, 0)
        return status, rusage

    async def _ensure_gone(self) -> None:
        """Make sure the init, hence every process of the namespace, is gone."""
        if self.init_pidfd is None:
            return
        for _ in range(2):
            gone = exited(self.init_pidfd)
            await asyncio.wait([gone], timeout=GRACE_SECONDS)
            if gone.done():
                return
            gone.cancel()
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.init_pidfd, signal.SIGKILL)
        raise RuntimeError(f"the sandbox's processes outlived SIGKILL (bwrap pid {self.pid})")

    def _result(self, ended: _Ended, stdout: Capture, stderr: Capture, wall: float) -> Result:
        code = os.waitstatus_to_exitcode(ended.status)
        exit_code: int | None
        sig: int | None
        if ended.timed_out:
            exit_code, sig = None, signal.SIGKILL.value
        elif code < 0:
            exit_code, sig = None, -code
        else:
            exit_code, sig = shell_status(code)
        files: dict[str, bytes] = {}
        if self.work is not None and self.request.collect:
            files = _workfiles.collect_files(
                self.work, self.request.collect, self.limits.file_size_bytes
            )
        cpu = ended.rusage.ru_utime + ended.rusage.ru_stime
        facts = Facts(
            exit_code=exit_code,
            signal=sig,
            cpu_seconds=cpu,
            stderr=stderr.data,
            truncated=stdout.truncated or stderr.truncated,
            timed_out=ended.timed_out,
            disk_full=any(_full(fd) for fd in (self.work, self.tmp) if fd is not None),
        )
        return Result(
            exit_code=exit_code,
            signal=sig,
            limit=which_limit(facts, self.limits),
            stdout=stdout.data,
            stderr=stderr.data,
            stdout_truncated=stdout.truncated,
            stderr_truncated=stderr.truncated,
            files=files,
            wall_seconds=wall,
            cpu_seconds=cpu,
            max_rss_bytes=sandbox_peak_rss(ended.rusage.ru_maxrss * 1024, self.worker_peak_rss),
            backend="bubblewrap",
        )


@contextlib.contextmanager
def _filesystem_ids(uid: int | None, gid: int | None) -> Iterator[None]:
    """Create files as `uid`:`gid` in this thread only (setfsuid is per thread); None: as is."""
    if uid is None or gid is None:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setfsgid(gid)
    libc.setfsuid(uid)
    try:
        if libc.setfsuid(-1) != uid or libc.setfsgid(-1) != gid:
            raise OSError("setfsuid/setfsgid did not take effect")
        yield
    finally:
        libc.setfsuid(0)
        libc.setfsgid(0)


def worker_peak_rss() -> int:
    """This process's peak RSS in bytes (VmHWM), 0 if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def sandbox_peak_rss(reported: int, worker_peak: int) -> int:
    """The sandbox's peak RSS out of what `wait4` reports for bwrap, or 0 if it cannot tell.

    The kernel charges a process, at `execve`, with the peak RSS of the memory it ran in
    before: for bwrap, the worker's own (it is forked or vforked from the worker). So the
    figure is the sandbox's only when it exceeds the worker's peak; below that, the sandbox's
    peak is not known, and 0 is reported rather than the worker's.
    """
    return reported if reported > worker_peak else 0


def _open_init(pid: int) -> int | None:
    """A pidfd of the sandbox's init, checked to be PID 1 of a namespace (not a reused pid)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            nspid = next((line.split() for line in status if line.startswith("NSpid:")), [])
    except OSError:
        nspid = []
    if len(nspid) < 3 or nspid[-1] != "1":
        os.close(pidfd)
        return None
    return pidfd


def _readable(fd: int) -> asyncio.Future[None]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not future.done():
            future.set_result(None)

    loop.add_reader(fd, ready)
    future.add_done_callback(lambda _: loop.remove_reader(fd))
    return future


def _read_nowait(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 64)
    except BlockingIOError:
        return b""


def _full(fd: int) -> bool:
    try:
        return os.fstatvfs(fd).f_bavail == 0
    except OSError:
        return False


def _over_quota_result(message: bytes, wall: float) -> Result:
    return Result(
        exit_code=None,
        signal=None,
        limit="disk",
        stdout=b"",
        stderr=message,
        stdout_truncated=False,
        stderr_truncated=False,
        files={},
        wall_seconds=wall,
        cpu_seconds=0.0,
        max_rss_bytes=0,
        backend="bubblewrap",
    )
