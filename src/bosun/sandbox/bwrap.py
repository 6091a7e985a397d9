"""The bubblewrap backend: Linux namespaces, a read-only system, size-capped tmpfs, seccomp.

What the command sees:

- `/usr` (with `/bin`, `/sbin` and `/lib*` as the host has them: links into `/usr`, or
  read-only binds), a few files of `/etc` (the dynamic linker's cache, alternatives, TLS
  roots; with network also `resolv.conf`, `hosts`, `nsswitch.conf`), all read-only, and
  nothing else of the host: no home, no `/root`, no `/var`, no worker files.
- `/work`, its current directory and HOME: a tmpfs of `workdir_bytes`. `/tmp` and `/dev/shm`:
  tmpfs of `tmp_bytes` each. `/proc` of its own PID namespace; a minimal `/dev`; `/` and
  `/dev` read-only.
- New user, PID, IPC, UTS, cgroup and network namespaces (no network unless
  `request.network`), uid and gid 65534, no capabilities, a new session (no TIOCSTI into
  the worker's terminal), and the seccomp filter of `bosun.sandbox.seccomp`.
- Only `request.env`, over a default PATH, HOME=/work and LANG.

The process tree: bwrap (outside) → `/bin/sh` as PID 1 of the namespace (`_INIT`) → the
command. The init sets the rlimits (RLIMIT_NPROC has to be set inside the user namespace:
set outside, it would count every process of the worker's uid), says it is up, waits for
the go while the worker fills `/work` through `/proc/<init>/root` (a persistent
`request.workdir` is copied in, then the input files written), then runs the command as its
child. When the init exits, the kernel kills whatever is left
in the namespace, and bwrap reaps the init, so `wait4` on bwrap yields the CPU time and peak
RSS of the whole tree. At the wall-clock limit the worker SIGKILLs the init from outside
(which PID 1 cannot ignore), with the same effect; `--die-with-parent` covers the worker's own
death. The worker keeps descriptors of `/work` and `/tmp`, which outlive the namespace: to
collect files, to mirror `/work` back into a persistent work directory (so its quota holds
during the call and the sandbox never writes to the worker's file system), and to see
whether a tmpfs filled up.

A root worker starts bwrap as uid/gid 65534 rather than root: RLIMIT_NPROC does not apply to
root's processes, and a process that left the namespaces would be nobody, not root.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Sequence

from bosun.egress.hosts import HostAllowList
from bosun.sandbox import _protections, _workfiles, seccomp
from bosun.sandbox._bwrap_egress import egress_door, forwarder_python
from bosun.sandbox._bwrap_run import SANDBOX_ID, BwrapRun, identity
from bosun.sandbox.spec import Protection, Request, Result, SandboxUnavailable

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = (
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/localtime",
)
ETC_NETWORK = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf")
REQUIRED_OPTIONS = ("--args", "--as-pid-1", "--info-fd", "--perms", "--size")
HOW_TO_ENABLE = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and allow unprivileged "
    "user namespaces (sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces "
    "> 0; in a container, a seccomp profile that allows clone(CLONE_NEWUSER)); see "
    "docs/sandbox.md"
)


def check_request(request: Request) -> None:
    """ValueError for a request no backend can run as asked."""
    if not request.argv:
        raise ValueError("the sandboxed command is empty")
    for text in (*request.argv, *request.env, *request.env.values()):
        if "\0" in text:
            raise ValueError("sandboxed commands and environments cannot contain NUL")
    for key in request.env:
        if not key or "=" in key:
            raise ValueError(f"bad environment variable name: {key!r}")
    for path in (*request.files, *request.collect):
        _workfiles.relative_parts(path)
    if request.network and request.network_hosts:
        raise ValueError("network=True is the whole network, network_hosts some hosts: give one")
    HostAllowList.parse(request.network_hosts)
    if sum(len(data) for data in request.files.values()) > request.limits.workdir_bytes:
        raise ValueError("the input files are larger than limits.workdir_bytes")


class BubblewrapBackend:
    """Runs requests under bubblewrap (`bwrap`), unprivileged, in new namespaces.

    Args:
        bwrap: the bwrap executable (default: found on PATH).
        read_only_paths: more host paths to show read-only at the same place (a virtual
            environment outside `/usr`, say). Name none that holds a UNIX socket: a
            read-only bind does not stop `connect()`.
    """

    name = "bubblewrap"

    def __init__(
        self, bwrap: str | None = None, *, read_only_paths: Sequence[str | os.PathLike[str]] = ()
    ) -> None:
        self._bwrap = bwrap or shutil.which("bwrap") or "/usr/bin/bwrap"
        self._read_only = tuple(os.fspath(path) for path in read_only_paths)
        self._probed: tuple[bool, str] | None = None

    def available(self) -> tuple[bool, str]:
        """Whether bwrap runs a sandbox here (probed once, by starting one), and why."""
        if self._probed is None:
            self._probed = self._probe()
        return self._probed

    def _probe(self) -> tuple[bool, str]:
        if not os.access(self._bwrap, os.X_OK):
            return False, f"{self._bwrap} not found: {HOW_TO_ENABLE}"
        if seccomp.machine_arch() is None:
            return False, "the seccomp filter knows x86_64 and aarch64 (little-endian) only"
        try:
            version = _output([self._bwrap, "--version"]).strip() or "bwrap"
            helptext = _output([self._bwrap, "--help"])
            missing = [option for option in REQUIRED_OPTIONS if option not in helptext]
            if missing:
                return False, f"{version} lacks {', '.join(missing)}: a newer bubblewrap is needed"
            who = identity()
            probe = subprocess.run(
                [
                    self._bwrap,
                    *("--unshare-all", "--die-with-parent", *self.system_args(False)),
                    *("--proc", "/proc", "--dev", "/dev"),
                    *("--uid", str(SANDBOX_ID), "--gid", str(SANDBOX_ID)),
                    *("--", "/bin/sh", "-c", "exit 0"),
                ],
                capture_output=True,
                timeout=10,
                env={},
                user=who.uid,
                group=who.gid,
                extra_groups=who.groups,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return False, f"cannot run {self._bwrap} ({exc}): {HOW_TO_ENABLE}"
        if probe.returncode != 0:
            lines = probe.stderr.decode(errors="replace").strip().splitlines() or ["no message"]
            return False, f"{version} cannot create a sandbox here ({lines[-1]}): {HOW_TO_ENABLE}"
        as_who = " (started as nobody: the worker is root)" if os.geteuid() == 0 else ""
        return True, (
            f"{version}: user, PID, network, IPC, UTS and cgroup namespaces, seccomp, "
            f"rlimits{as_who}"
        )

    def system_args(self, network: bool) -> list[str]:
        """bwrap options that show the host's system read-only."""
        args: list[str] = []
        for path in SYSTEM:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for path in (*ETC, *(ETC_NETWORK if network else ()), *self._read_only):
            args += ["--ro-bind-try", path, path]
        return args

    async def run(self, request: Request) -> Result:
        """Run `request` in a new sandbox; raise `SandboxUnavailable` only if it cannot start."""
        ok, reason = self.available()
        if not ok:
            raise SandboxUnavailable(f"the bubblewrap sandbox is unavailable: {reason}")
        check_request(request)
        if request.network_hosts:
            return await self._run_with_egress(request)
        return await BwrapRun(self._bwrap, self.system_args(request.network), request).execute()

    def network_hosts_support(self) -> tuple[bool, str]:
        """`network_hosts` needs bubblewrap and a system Python for the forwarder."""
        ok, _ = self.available()
        if not ok:
            return False, "bubblewrap does not work here"
        if forwarder_python() is None:
            return False, "no python3 under /usr to run the in-sandbox forwarder"
        return True, "egress proxy outside the sandbox, reached through its own loopback"

    def protections(self) -> tuple[Protection, ...]:
        """What it blocks: namespaces, a read-only view of the system, seccomp, rlimits."""
        return _protections.bubblewrap(self._read_only)

    async def _run_with_egress(self, request: Request) -> Result:
        """Run with an egress proxy for `request.network_hosts` (see `_bwrap_egress`)."""
        supported, why = self.network_hosts_support()
        python = forwarder_python()
        if not supported or python is None:
            raise SandboxUnavailable(f"network_hosts cannot be served here: {why}")
        allow = HostAllowList.parse(request.network_hosts)
        async with egress_door(allow, request.limits, identity().owner, python) as door:
            run = BwrapRun(
                self._bwrap,
                [*self.system_args(False), *door.args],
                dataclasses.replace(request, env={**request.env, **door.env}),
                prelude=door.prelude,
                helpers=1,  # the forwarder
            )
            result = await run.execute()
        if door.proxy.exhausted and result.limit is None:
            result = dataclasses.replace(result, limit="network")
        return result


def _output(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, timeout=10, env={})
    return (done.stdout or done.stderr).decode(errors="replace")
