"""Whether a registered worker's process is gone, told from the same machine at once rather
than when its leases expire.

A worker records in the registry which process it is: its pid, the PID namespace that pid
is counted in (with the machine's boot id: `<boot id>/pid:[<namespace inode>]`), and the
process's start time (clock ticks since boot, from `/proc/<pid>/stat`). Another worker
that reads the same namespace for itself knows the pid means the same process to both, and
can ask the kernel whether it still runs. The hostname is not enough: containers with host
networking share it but not their PID namespace, where one pid names unrelated processes.

Anything this cannot establish counts as alive: a worker of another machine, boot or PID
namespace, one registered without these facts (an earlier release, a system without
`/proc`), a pid that exists under another user. Such workers' runs move on when their
leases expire, as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bosun.records import WorkerRecord

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessIdentity:
    """What this process registers: its PID namespace and its start time (None: unknown)."""

    namespace: str | None
    started: int | None


def this_process(proc: Path = PROC) -> ProcessIdentity:
    """The identity of the calling process."""
    namespace = pid_namespace(proc)
    started = _stat(os.getpid(), proc) if namespace is not None else None
    return ProcessIdentity(namespace, None if started is None else started[1])


def pid_namespace(proc: Path = PROC) -> str | None:
    """`<boot id>/<PID namespace>` of the calling process, or None where `/proc` cannot tell
    (not Linux, or a `/proc` mounted from another PID namespace, where it counts this
    process under another pid)."""
    try:
        boot = (proc / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
        namespace = os.readlink(proc / "self" / "ns" / "pid")  # e.g. pid:[4026531836]
        me = os.readlink(proc / "self")  # this process's pid as this /proc counts it
    except OSError:
        return None
    if not boot or not namespace or me != str(os.getpid()):
        return None
    return f"{boot}/{namespace}"


def _stat(pid: int, proc: Path) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of `pid`, or None if unreadable."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    try:
        # `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after
        # its last `)`; the start time is field 22, the 20th after comm.
        fields = text[text.rindex(")") + 2 :].split()
        return fields[0], int(fields[19])
    except (ValueError, IndexError):
        return None


def _pid_free(pid: int) -> bool | None:
    """True: no process has this pid; False: one has; None: cannot tell."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    except OSError:
        return None
    return False


def is_gone(worker: WorkerRecord, here: str | None, proc: Path = PROC) -> bool:
    """True only when `worker`'s process surely no longer runs: it registered from the PID
    namespace `here` (this process's, of this boot), and its pid is free, a zombie, or now
    another process's (whose start time differs). False whenever that is not certain."""
    if here is None or worker.pid_namespace != here or worker.pid_started is None:
        return False
    if worker.pid <= 0:  # kill(0, …) and kill(-1, …) address groups, not one process
        return False
    free = _pid_free(worker.pid)
    if free is not False:
        return bool(free)
    stat = _stat(worker.pid, proc)
    if stat is None:  # it may have exited between the two looks: ask once more
        return _pid_free(worker.pid) is True
    state, started = stat
    return state in ("Z", "X", "x") or started != worker.pid_started
