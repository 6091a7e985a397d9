"""The unprivileged fallback sandbox: Landlock + seccomp + rlimits, no namespaces.

For containers that block user namespaces (Kubernetes pods under the default seccomp profile),
where bubblewrap cannot start. The command is started through `_launch.py`, which confines
itself, forks, and execs the command in the child. What is enforced, and how:

- **Files** (Landlock): read and execute beneath /usr, /lib*, /bin, /sbin and the parts of /etc
  that programs need (`_ETC`); read-write on /dev/null and friends; everything but device
  nodes beneath the work directory and a private temp directory (`TMPDIR`), both made fresh
  under the worker's temp dir. Nothing else: no /proc, /sys, /home, /root, /tmp, /var.
- **Network** (`request.network` False): seccomp fails `socket()` for every family, always:
  Landlock's network rules (ABI >= 4) cover TCP only and would leave UDP, hence DNS, open.
  With ABI >= 4 Landlock denies TCP bind/connect as well; io_uring, which seccomp cannot see
  into, is denied.
- **Host UNIX sockets**, with or without network: seccomp fails `socket(AF_UNIX)` and any
  `socketpair()` but a connected stream or seqpacket pair (a datagram pair could `sendto()`
  any socket). Landlock does not check `connect()`, so a world-writable socket (PostgreSQL's,
  Docker's, a supervisor's) would otherwise be open, by path or abstract name. With ABI >= 6,
  abstract UNIX sockets and signals cannot reach outside the sandbox either.
- **Kernel surface** (seccomp, EPERM): ptrace, process_vm_*, mount and the new mount API,
  namespaces (unshare, setns, clone with CLONE_NEW*; clone3 gets ENOSYS), modules, kexec, bpf,
  perf_event_open, userfaultfd, keyrings, open_by_handle_at, setsid. Another architecture's
  syscalls (i386 from x86_64, x32) kill the process.
- **Identity**: a root worker gives each run a uid of its own (`_host.pick_identity`), which
  drops every capability, makes RLIMIT_NPROC count the run's processes alone and keeps file
  permissions between runs. A non-root worker runs the command as itself: then seccomp also
  denies changing a file's mode, owner, xattrs or times by path (Landlock does not cover
  them, and the worker owns its files).
- **Resources**: RLIMIT_CPU (per process), AS, NPROC, FSIZE, NOFILE, CORE=0. Disk: no tmpfs
  cap is possible, so the work and temp directories are measured every 0.5 s and at the end,
  and the tree is killed when one is over its size: a burst of writes (each file capped by
  RLIMIT_FSIZE) can overshoot by what is written in half a second.
- **Wall clock and leftovers**: the launcher leads a new session, which no descendant can
  leave (no `setsid`). On the deadline, and as soon as the command exits, every other process
  of the session is SIGKILLed and /proc rescanned until none is alive (`_host.kill_tree`); the
  launcher, a child subreaper, reaps them, so that no zombie is left to a PID 1 that may never
  reap it.

Which limit fired is a best-effort guess, see `_verdict.which_limit`.

What it cannot contain that bubblewrap can: the system's paths keep their real names and
/proc is missing rather than private (programs needing /proc/self, or /dev/shm, fail);
`stat()` and `readlink()` still see every path's metadata (Landlock governs opening, not
looking); CPU time is capped per process, not for the tree; disk use can overshoot as said;
a non-root worker shares its uid with the command (RLIMIT_NPROC is then the uid's current
task count plus the limit, racing the worker's own threads, and before Landlock ABI 6 the
command may signal the worker's processes); and `request.network=True` opens the whole
network (but no UNIX socket). What runs under bubblewrap but not here: a program that
creates a UNIX socket (a server on a path, a `multiprocessing` manager); connected
`socketpair()`s work. An allow-list of hosts (`request.network_hosts`) is refused
(`NO_NETWORK_HOSTS`): without a network namespace the command shares the worker's network,
and Landlock's TCP rules name ports, not addresses, so a command allowed to reach the egress
proxy's port could reach that port on any host, and seccomp cannot read `connect()`'s
address.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import marshal
import math
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bosun.sandbox import _files, _host, _protections, _verdict
from bosun.sandbox._launch import (
    ARCHES,
    CONFIG_FD,
    STATUS_FD,
    landlock_abi,
    machine,
    seccomp_actions_available,
)
from bosun.sandbox._procio import Capture, Feed, exited
from bosun.sandbox.spec import Limits, Protection, Request, Result, SandboxUnavailable

_SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")
_ETC = (
    *("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "passwd", "group"),
    *("hosts", "host.conf", "gai.conf", "resolv.conf", "services", "protocols", "networks"),
    *("localtime", "timezone", "ssl", "ca-certificates", "ca-certificates.conf", "pki"),
    *("mime.types", "magic", "magic.mime", "locale.alias", "os-release", "debian_version"),
    *("inputrc", "terminfo", "python3"),
)
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
_LAUNCHER = Path(__file__).with_name("_launch.py")
_NOFILE = 1024
_POLL_SECONDS = 0.5
_LAUNCHER_GRACE_SECONDS = 1.0  # to reap the killed leftovers and exit
NO_NETWORK_HOSTS = (
    "the Landlock fallback cannot enforce network_hosts: it has no network namespace of its "
    "own, and Landlock's TCP rules allow ports, not hosts, so code allowed to reach the egress "
    "proxy's port could reach that port on any host. Run the worker where bubblewrap works "
    "(docs/sandbox.md, 'Enabling bubblewrap'), give agents the http_fetch tool for HTTP "
    "requests instead, or drop network_hosts"
)
_HOW_TO_ENABLE = (
    "the Landlock fallback needs Linux >= 5.13 with Landlock enabled (`lsm=...,landlock` on the "
    "kernel command line) and seccomp filters, with the landlock_* syscalls allowed by the "
    "container's seccomp profile"
)


@dataclass
class _Dirs:
    root: Path  # private to the run; holds tmp/ and, unless the request brings one, work/
    work: Path
    tmp: Path


@dataclass
class _Outcome:
    status: int
    cpu_seconds: float
    max_rss_bytes: int
    timed_out: bool
    over_disk: bool
    stdout: Capture
    stderr: Capture
    wall_seconds: float


class LandlockBackend:
    """Runs requests under Landlock + seccomp + rlimits, with no privilege and no namespace.

    Args:
        read_only_paths: more paths the command may read and execute beneath (a virtual
            environment, say), on top of the system's.
    """

    name = "landlock"

    def __init__(self, *, read_only_paths: tuple[str | os.PathLike[str], ...] = ()) -> None:
        self._read_only = tuple(os.fspath(path) for path in read_only_paths)
        self._uids_in_use: set[int] = set()

    def available(self) -> tuple[bool, str]:
        """Probe Landlock's ABI and seccomp's actions here; a line saying what or why not."""
        arch = machine()
        if not sys.executable:
            return False, "the fallback's launcher needs a Python interpreter (sys.executable)"
        if arch not in ARCHES:
            return False, f"the fallback's seccomp filter knows x86_64 and aarch64, not {arch}"
        try:
            abi = landlock_abi()
        except OSError as exc:
            return False, f"no Landlock: {_landlock_reason(exc)}"
        try:
            seccomp_actions_available()
        except OSError as exc:
            return False, f"no seccomp filters ({exc.strerror}): {_HOW_TO_ENABLE}"
        if os.geteuid() == 0 and not _has_setid_capabilities():
            return False, (
                "the worker is root without CAP_SETUID/CAP_SETGID, so runs cannot get a uid of "
                "their own: run the worker as a non-root user, or grant both capabilities"
            )
        who = "a uid of its own per run" if os.geteuid() == 0 else "the worker's uid"
        extras = [name for name, since in (("TCP rules", 4), ("signal scoping", 6)) if abi >= since]
        return True, (
            f"Landlock ABI {abi}{' with ' + ' and '.join(extras) if extras else ''}, "
            f"seccomp, rlimits; commands run as {who}"
        )

    def network_hosts_support(self) -> tuple[bool, str]:
        """Never: see `NO_NETWORK_HOSTS`."""
        return False, "Landlock's TCP rules name ports, not hosts: use bubblewrap"

    def protections(self) -> tuple[Protection, ...]:
        """What it blocks with this kernel's Landlock ABI and this worker's uid."""
        try:
            abi: int | None = landlock_abi()
        except OSError:
            abi = None
        return _protections.landlock(abi, own_uid=os.geteuid() == 0)

    async def run(self, request: Request) -> Result:
        """Run `request` confined; raise `SandboxUnavailable` only if it cannot start (or
        asks for `network_hosts`)."""
        if request.network_hosts:
            raise SandboxUnavailable(NO_NETWORK_HOSTS)
        ok, reason = self.available()
        if not ok:
            raise SandboxUnavailable(f"the Landlock sandbox is unavailable: {reason}")
        if request.workdir is not None and not request.workdir.is_dir():
            raise ValueError(f"{request.workdir}: the work directory must be an existing one")
        abi = landlock_abi()
        identity = self._claim_identity()
        dirs: _Dirs | None = None
        try:
            dirs = _make_dirs(request.workdir)
            _files.write_files(dirs.work, request.files)
            if identity is not None:
                for path in {dirs.root, dirs.work}:  # a fresh work dir is under the root
                    _host.chown_tree(path, *identity)
            config = self._config(request, abi, dirs, identity)
            outcome = await _supervise(config, request, dirs)
            max_bytes = request.limits.file_size_bytes
            collected = await asyncio.to_thread(
                _files.collect, dirs.work, request.collect, max_bytes
            )
        finally:
            if identity is not None:
                self._uids_in_use.discard(identity[0])
            if dirs is not None:  # shielded: a cancelled run still cleans up
                persistent = request.workdir is not None
                await asyncio.shield(asyncio.to_thread(_clean_up, dirs, identity, persistent))
        return _result(outcome, request.limits, collected)

    def _claim_identity(self) -> tuple[int, int] | None:
        if os.geteuid() != 0:
            return None
        try:
            uid, gid = _host.pick_identity(self._uids_in_use)
        except RuntimeError as exc:
            raise SandboxUnavailable(f"the Landlock sandbox found no uid: {exc}") from exc
        self._uids_in_use.add(uid)
        return uid, gid

    def _config(
        self, request: Request, abi: int, dirs: _Dirs, identity: tuple[int, int] | None
    ) -> dict[str, object]:
        limits = request.limits
        same_uid = identity is None
        nproc = limits.processes + 1  # the launcher waits for the command
        if same_uid:
            nproc += _host.task_count(os.getuid())
        cpu = max(1, math.ceil(limits.cpu_seconds))
        etc = [f"/etc/{name}" for name in _ETC if request.network or name != "resolv.conf"]
        etc += [str(path) for path in Path("/etc").glob("python3.*")]
        rules = [(path, "ro") for path in (*_SYSTEM, *etc, *self._read_only)]
        rules += [(path, "dev") for path in _DEVICES]
        rules += [(str(dirs.work), "rw"), (str(dirs.tmp), "rw")]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(dirs.work), "LANG": "C.UTF-8"}
        env["TMPDIR"] = str(dirs.tmp)
        return {
            "argv": request.argv,
            "env": {**env, **request.env},
            "cwd": str(dirs.work),
            "rules": rules,
            "uid": None if identity is None else identity[0],
            "gid": None if identity is None else identity[1],
            "abi": abi,
            "network": request.network,
            "same_uid": same_uid,
            "rlimits": {
                "CORE": (0, 0),
                "NOFILE": (_NOFILE, _NOFILE),
                "NPROC": (nproc, nproc),
                "FSIZE": (limits.file_size_bytes, limits.file_size_bytes),
                "CPU": (cpu, cpu + 1),  # SIGXCPU at the soft limit, SIGKILL a second later
                "AS": (limits.memory_bytes, limits.memory_bytes),
            },
        }


def _landlock_reason(exc: OSError) -> str:
    if exc.errno == 38:  # ENOSYS
        return f"the kernel lacks Landlock or the seccomp profile hides it; {_HOW_TO_ENABLE}"
    if exc.errno == 95:  # EOPNOTSUPP
        return f"Landlock is built in but disabled at boot; {_HOW_TO_ENABLE}"
    return f"landlock_create_ruleset failed ({exc.strerror}); {_HOW_TO_ENABLE}"


def _has_setid_capabilities() -> bool:
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith("CapEff:"):
                effective = int(line.split()[1], 16)
                return bool(effective & (1 << 6)) and bool(effective & (1 << 7))
    return False


def _make_dirs(workdir: Path | None) -> _Dirs:
    root = Path(tempfile.mkdtemp(prefix="bosun-sandbox-"))
    tmp = root / "tmp"
    tmp.mkdir(mode=0o700)
    work = workdir.resolve() if workdir is not None else root / "work"
    work.mkdir(mode=0o700, exist_ok=True)
    return _Dirs(root, work, tmp)


def _clean_up(dirs: _Dirs, identity: tuple[int, int] | None, persistent: bool) -> None:
    if identity is not None and persistent:  # hand the persistent work dir back
        _host.chown_tree(dirs.work, os.getuid(), os.getgid())
    _host.remove_tree(dirs.root)


def _spawn(config: dict[str, object], stdin: bytes | None) -> tuple[int, dict[str, int]]:
    """Start the launcher in a new session; its pid and the parent's ends of its pipes."""
    memfd = os.memfd_create("bosun-sandbox-config", os.MFD_CLOEXEC)
    os.write(memfd, marshal.dumps(config))
    parent: dict[str, int] = {}
    child: dict[int, int] = {CONFIG_FD: memfd}  # by the fd number the launcher sees
    try:
        for name, target in (("stdout", 1), ("stderr", 2), ("status", STATUS_FD)):
            parent[name], child[target] = os.pipe()
        if stdin is not None:
            child[0], parent["stdin"] = os.pipe()
        for target, fd in child.items():  # above every target: no dup2 clobbers a source
            child[target] = _fd_above(fd, STATUS_FD)
        actions: list[tuple[object, ...]] = [
            (os.POSIX_SPAWN_DUP2, fd, target) for target, fd in child.items()
        ]
        if stdin is None:
            actions.append((os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0))
        argv = [sys.executable, "-I", "-S", str(_LAUNCHER)]
        pid = os.posix_spawn(sys.executable, argv, {}, file_actions=actions, setsid=True)
    except BaseException:
        for fd in parent.values():
            os.close(fd)
        raise
    finally:
        for fd in child.values():
            os.close(fd)
    return pid, parent


def _fd_above(fd: int, minimum: int) -> int:
    if fd > minimum:
        return fd
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, minimum + 1)
    os.close(fd)
    return high


async def _supervise(config: dict[str, object], request: Request, dirs: _Dirs) -> _Outcome:
    limits = request.limits
    start = time.monotonic()
    pid, fds = _spawn(config, request.stdin)
    report = Capture(fds["status"], 4096)
    stdout = Capture(fds["stdout"], limits.output_bytes)
    stderr = Capture(fds["stderr"], limits.output_bytes)
    feed = Feed(fds["stdin"], request.stdin or b"") if "stdin" in fds else None
    pidfd = os.pidfd_open(pid)
    done = exited(pidfd)
    try:
        # The command is over when the launcher reports (or, killed, exits).
        ended = [done, report.arrived]
        timed_out, over_disk = await _watch(ended, start + limits.wall_seconds, dirs, limits)
        # Measured before the kill, in case the launcher dies before it reports.
        seen = _host.usage(pid) if timed_out or over_disk else (0.0, 0)
        # Leftovers and all, but the launcher: it reaps them, then exits.
        _host.kill_tree(pid, spare=pid)
        await asyncio.wait([done], timeout=_LAUNCHER_GRACE_SECONDS)
        _host.kill_tree(pid)  # the launcher's zombie keeps the session id until reaped
        await done
        wait_status, rusage = _reap(pid)
        wall = time.monotonic() - start
        await asyncio.wait([report.done, stdout.done, stderr.done], timeout=2.0)
        if report.data.startswith(b"E"):
            raise SandboxUnavailable(f"the Landlock sandbox could not start: {report.text()[1:]}")
        if report.data.startswith(b"R"):  # the command's own status and usage
            wait_status, cpu, max_rss_kib = marshal.loads(report.data[1:])
            usage = (cpu, max_rss_kib * 1024)
        elif timed_out or over_disk:  # killed before it could report
            usage = seen
        else:  # the command killed the launcher: its usage holds the worker's RSS (see _launch)
            usage = (rusage.ru_utime + rusage.ru_stime, rusage.ru_maxrss * 1024)
        over_disk = over_disk or _over_quota(dirs, limits)
        return _Outcome(wait_status, *usage, timed_out, over_disk, stdout, stderr, wall)
    except BaseException:
        _host.kill_tree(pid)
        with contextlib.suppress(ChildProcessError):
            _reap(pid)
        raise
    finally:
        done.cancel()
        for closable in (report, stdout, stderr, feed):
            if closable is not None:
                closable.close()
        os.close(pidfd)


def _reap(pid: int) -> tuple[int, resource.struct_rusage]:
    """Collect a child known to be dead or dying (so the wait is short)."""
    _, status, rusage = os.wait4(pid, 0)
    return status, rusage


async def _watch(
    ended: list[asyncio.Future[None]], deadline: float, dirs: _Dirs, limits: Limits
) -> tuple[bool, bool]:
    """Wait until one of `ended` is done; (timed out, over its disk quota) if it had to stop."""
    next_poll = time.monotonic() + _POLL_SECONDS
    while not any(future.done() for future in ended):
        now = time.monotonic()
        if now >= deadline:
            return True, False
        timeout = min(deadline, next_poll) - now
        await asyncio.wait(ended, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not any(future.done() for future in ended) and time.monotonic() >= next_poll:
            if await asyncio.to_thread(_over_quota, dirs, limits):
                return False, True
            next_poll = time.monotonic() + _POLL_SECONDS
    return False, False


def _over_quota(dirs: _Dirs, limits: Limits) -> bool:
    return (
        _host.disk_usage(dirs.work) > limits.workdir_bytes
        or _host.disk_usage(dirs.tmp) > limits.tmp_bytes
    )


def _result(outcome: _Outcome, limits: Limits, files: dict[str, bytes]) -> Result:
    code = os.waitstatus_to_exitcode(outcome.status)
    exit_code, signal_number = (code, None) if code >= 0 else (None, -code)
    cpu = outcome.cpu_seconds
    stdout, stderr = outcome.stdout, outcome.stderr
    facts = _verdict.Facts(
        exit_code=exit_code,
        signal=signal_number,
        cpu_seconds=cpu,
        stderr=stderr.data,
        truncated=stdout.truncated or stderr.truncated,
        timed_out=outcome.timed_out,
        over_disk=outcome.over_disk,
    )
    return Result(
        exit_code=exit_code,
        signal=signal_number,
        limit=_verdict.which_limit(facts, limits),
        stdout=stdout.data,
        stderr=stderr.data,
        stdout_truncated=stdout.truncated,
        stderr_truncated=stderr.truncated,
        files=files,
        wall_seconds=outcome.wall_seconds,
        cpu_seconds=cpu,
        max_rss_bytes=outcome.max_rss_bytes,
        backend=LandlockBackend.name,
    )
