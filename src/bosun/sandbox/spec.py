"""What a sandboxed execution is asked to do, and what it reports: shared by every backend.

A backend (bubblewrap, or the unprivileged Landlock + seccomp fallback) takes a `Request`
and returns a `Result`; it never raises for what the sandboxed code did (a crash, a limit,
a timeout are all results), only for a sandbox it could not set up (`SandboxUnavailable`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from bosun.errors import BosunError

MiB = 1024 * 1024

LimitName = Literal["wall", "cpu", "memory", "processes", "file_size", "disk", "output", "network"]
Verdict = Literal["blocked", "partly", "open"]
# What a sandbox is there to keep sandboxed code from, in the order `bosun sandbox check` shows.
THREATS = (
    "network",
    "host UNIX sockets",
    "abstract UNIX sockets",
    "reading host files",
    "writing host files",
    "host processes",
    "privileges",
    "kernel attack surface",
    "resource use",
)


class SandboxUnavailable(BosunError):
    """No sandbox can be set up here; the message says how to enable one."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed execution.

    Args:
        wall_seconds: the whole process tree is killed after this long.
        cpu_seconds: CPU time (RLIMIT_CPU) of each process.
        memory_bytes: address space (RLIMIT_AS) of each process.
        processes: processes and threads at once (RLIMIT_NPROC, or the PID namespace).
        file_size_bytes: largest file a process may write (RLIMIT_FSIZE).
        workdir_bytes: size of the private work directory (a size-capped tmpfs).
        tmp_bytes: size of the private /tmp (a size-capped tmpfs).
        output_bytes: stdout and stderr are each kept up to this size; the rest is dropped
            (and the result says it was truncated), without blocking the process.
        network_bytes: with `network_hosts`, bytes through the egress proxy (both directions
            together); past it the proxy cuts every connection.
    """

    wall_seconds: float = 30.0
    cpu_seconds: float = 10.0
    memory_bytes: int = 512 * MiB
    processes: int = 64
    file_size_bytes: int = 64 * MiB
    workdir_bytes: int = 256 * MiB
    tmp_bytes: int = 64 * MiB
    output_bytes: int = 1 * MiB
    network_bytes: int = 64 * MiB


@dataclass(frozen=True)
class Request:
    """One command to run in a sandbox.

    Args:
        argv: the command and its arguments (resolved inside the sandbox's read-only view
            of the system, e.g. `["python3", "-c", "print(1)"]`).
        stdin: bytes fed to the command's standard input (none when None).
        files: files written into the work directory before the command starts (relative
            paths; no `..`).
        collect: files read back from the work directory afterwards (relative paths or
            glob patterns), each at most `limits.file_size_bytes`.
        workdir: an existing directory to use as the work directory (a persistent session
            sandbox); a fresh one, deleted afterwards, when None.
        env: the command's whole environment; nothing of the worker's is inherited.
        network: False: no network at all (a new, empty network namespace); True: the
            worker's network.
        network_hosts: with `network` False, the hosts reachable through the egress proxy
            (`bosun.egress.hosts`); empty: none.
        limits: resource limits.
    """

    argv: list[str]
    stdin: bytes | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    collect: list[str] = field(default_factory=list)
    workdir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    network: bool = False
    network_hosts: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Result:
    """What happened.

    Attributes:
        exit_code: the command's exit status; None when it was killed by a signal.
        signal: the signal that killed it, if any.
        limit: which limit stopped it, if one did.
        stdout, stderr: the captured output, each cut at `limits.output_bytes`.
        stdout_truncated, stderr_truncated: whether output was dropped.
        files: the collected files' contents by relative path.
        wall_seconds: time from start to the end of the whole process tree.
        cpu_seconds: user + system CPU of the process tree.
        max_rss_bytes: the largest resident set of any of its processes.
        backend: the backend that ran it (`bubblewrap`, `landlock`, `none`).
    """

    exit_code: int | None
    signal: int | None
    limit: LimitName | None
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool
    stderr_truncated: bool
    files: dict[str, bytes]
    wall_seconds: float
    cpu_seconds: float
    max_rss_bytes: int
    backend: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.limit is None


@dataclass(frozen=True)
class Protection:
    """What a backend does about one of `THREATS`.

    Attributes:
        threat: one of `THREATS`.
        verdict: `blocked` (sandboxed code cannot do it), `partly` (`how` says what is left),
            or `open`.
        how: the mechanism, and any exception, in a line.
    """

    threat: str
    verdict: Verdict
    how: str


class Backend(Protocol):
    """A way to run a `Request` contained."""

    name: str

    def available(self) -> tuple[bool, str]:
        """Whether this backend works here, and why (or why not), in one line."""
        ...

    def network_hosts_support(self) -> tuple[bool, str]:
        """Whether this backend enforces `network_hosts` here, and how (or why not)."""
        ...

    def protections(self) -> tuple[Protection, ...]:
        """What it does about each of `THREATS` (as it would here, even if unavailable)."""
        ...

    async def run(self, request: Request) -> Result:
        """Run the request to its end; raise `SandboxUnavailable` only if it cannot start."""
        ...
