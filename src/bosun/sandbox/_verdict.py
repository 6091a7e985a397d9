"""What ended a sandboxed command: its exit status decoded, and which limit (if any) fired."""

from __future__ import annotations

import math
import signal
from dataclasses import dataclass

from bosun.sandbox.spec import LimitName, Limits

# Seen on stderr when a limit made a call fail instead of killing the process (a best effort:
# each backend sets rlimits, under which allocation, fork and write fail with an errno).
MEMORY_MARKERS = (b"MemoryError", b"Cannot allocate memory", b"out of memory", b"bad_alloc")
PROCESS_MARKERS = (
    b"Resource temporarily unavailable",
    b"BlockingIOError",
    b"Cannot fork",
    b"can't fork",
    b"fork: retry",
    b"can't start new thread",
)
DISK_MARKERS = (b"No space left on device", b"Disk quota exceeded")
FILE_SIZE_MARKERS = (b"File too large",)
_STDERR_CHECKS: tuple[tuple[LimitName, tuple[bytes, ...]], ...] = (
    ("memory", MEMORY_MARKERS),
    ("file_size", FILE_SIZE_MARKERS),
    ("disk", DISK_MARKERS),
    ("processes", PROCESS_MARKERS),
)


def shell_status(code: int) -> tuple[int | None, int | None]:
    """(exit code, signal) from a shell-style status, where 128 + N means "killed by N".

    bubblewrap reports a command killed by a signal that way, so a command that *exits* with
    129-192 is reported as killed by signal 1-64 too.
    """
    if 128 < code <= 128 + 64:
        return None, code - 128
    return code, None


@dataclass(frozen=True)
class Facts:
    """What the supervisor knows once the process tree is gone."""

    exit_code: int | None
    signal: int | None
    cpu_seconds: float
    stderr: bytes
    truncated: bool
    timed_out: bool = False  # the supervisor killed it at the wall-clock limit
    over_disk: bool = False  # a work directory passed its quota (measured by the supervisor)
    disk_full: bool = False  # a size-capped tmpfs was found full afterwards


def which_limit(facts: Facts, limits: Limits) -> LimitName | None:
    """Best-effort name of the limit that stopped the command.

    `wall` and an over-quota work directory are known (the supervisor acted). SIGXCPU, or
    SIGKILL once the CPU budget is spent (the hard RLIMIT_CPU), is `cpu`; SIGXFSZ is
    `file_size`. Otherwise, for a command that failed, stderr decides: an allocation error
    is `memory` (RLIMIT_AS makes allocations fail rather than killing), a failed fork is
    `processes`, ENOSPC or a full tmpfs is `disk`, EFBIG is `file_size`. Output over the cap
    is `output` when nothing else fired.
    """
    if facts.timed_out:
        return "wall"
    if facts.over_disk:
        return "disk"
    if facts.signal == signal.SIGXCPU or (
        facts.signal == signal.SIGKILL and facts.cpu_seconds >= math.ceil(limits.cpu_seconds)
    ):
        return "cpu"
    if facts.signal == signal.SIGXFSZ:
        return "file_size"
    if facts.exit_code != 0:
        stderr = facts.stderr
        for name, markers in _STDERR_CHECKS:
            if any(marker in stderr for marker in markers):
                return name
        if facts.disk_full:
            return "disk"
    return "output" if facts.truncated else None
