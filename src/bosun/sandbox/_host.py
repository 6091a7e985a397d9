"""The Landlock fallback's bookkeeping on the host: the run's uid, its processes, its disk use.

Without a PID namespace the sandbox's processes live among the worker's. They are found by
what they cannot shed: the session id of the launcher (seccomp denies `setsid`, the only way
to leave a session; a new process group or a double fork stays in it).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import stat
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

# A per-run uid is drawn from here when the user namespace maps it (the initial one does);
# otherwise from the top of the highest mapped range.
_UID_WINDOW = (0x7000_0000, 0x7000_0000 + (1 << 24))
_SMALL_WINDOW = 4096
NOGROUP = 65534


@dataclass(frozen=True)
class ProcessInfo:
    """What `/proc/<pid>/stat` says of one process."""

    pid: int
    state: str
    session: int
    cpu_ticks: int  # utime + stime + cutime + cstime


def processes() -> Iterator[ProcessInfo]:
    """Every process now visible in /proc (those that vanish meanwhile are skipped)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as file:
                line = file.read()
        except OSError:
            continue
        fields = line[line.rindex(b")") + 2 :].split()  # the name may hold spaces and ')'
        ticks = sum(int(value) for value in fields[11:15])
        yield ProcessInfo(int(name), fields[0].decode(), int(fields[3]), ticks)


def members(session: int) -> list[ProcessInfo]:
    """Live (not zombie) processes of the session."""
    return [info for info in processes() if info.state != "Z" and info.session == session]


def usage(session: int) -> tuple[float, int]:
    """CPU seconds and largest peak RSS (bytes) of the session's live processes, from /proc."""
    ticks, peak = 0, 0
    for info in members(session):
        ticks += info.cpu_ticks
        with suppress(OSError, ValueError), open(f"/proc/{info.pid}/status", "rb") as file:
            for row in file:
                if row.startswith(b"VmHWM:"):
                    peak = max(peak, int(row.split()[1]) * 1024)
    return ticks / os.sysconf("SC_CLK_TCK"), peak


def kill_tree(session: int, *, spare: int | None = None, rounds: int = 200) -> bool:
    """SIGKILL every process of the session but `spare` until a scan finds none alive; True
    when none is.

    The session leader must not be reaped yet: its zombie keeps the session id from being
    reused by an unrelated process. A sandboxed process cannot leave the session: seccomp
    denies `setsid`.
    """
    if spare is None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(session, signal.SIGKILL)
    for attempt in range(rounds):
        alive = [info.pid for info in members(session) if info.pid != spare]
        if not alive:
            return True
        for pid in alive:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.001 * min(attempt, 10))  # SIGKILL is delivered asynchronously
    return not [info for info in members(session) if info.pid != spare]


def task_count(uid: int) -> int:
    """Processes and threads of `uid` now: what RLIMIT_NPROC counts against."""
    count = 0
    for name in os.listdir("/proc"):
        with suppress(OSError, LookupError, ValueError), open(f"/proc/{name}/status", "rb") as file:
            rows = {row.split(b":")[0]: row.split()[1:] for row in file}
            if int(rows[b"Uid"][0]) == uid:
                count += int(rows[b"Threads"][0])
    return count


def _process_owners() -> set[int]:
    """The owners of /proc/<pid> (the effective uids, bar non-dumpable processes)."""
    owners = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            with suppress(OSError):
                owners.add(os.stat(f"/proc/{name}").st_uid)
    return owners


def _mapped_ranges(path: str) -> list[tuple[int, int]]:
    try:
        with open(path) as file:
            rows = [line.split() for line in file]
    except OSError:
        return [(0, 1 << 32)]
    return [(int(row[0]), int(row[0]) + int(row[2])) for row in rows if len(row) == 3]


def _known_ids(path: str) -> set[int]:
    try:
        with open(path) as file:
            return {int(line.split(":")[2]) for line in file if line.count(":") >= 3}
    except (OSError, ValueError):
        return set()


def pick_identity(in_use: set[int]) -> tuple[int, int]:
    """A fresh (uid, gid) for one run: mapped here, in no /etc/passwd entry, owning no process
    and not in `in_use` (the runs of this worker). RuntimeError when none can be found."""
    ranges = _mapped_ranges("/proc/self/uid_map")
    low, high = _UID_WINDOW
    if not any(start <= low and high <= end for start, end in ranges):
        start, end = max(ranges, key=lambda r: r[1])
        high = end - 2  # not the overflow uid 65534/65535 of a 0-65535 mapping
        low = max(start + 1000, high - _SMALL_WINDOW)
        if high - low < 16:
            raise RuntimeError(f"no spare uid in this user namespace's mapping {ranges}")
    taken = in_use | _known_ids("/etc/passwd")
    running = _process_owners()
    for _ in range(64):
        uid = random.randrange(low, high)
        if uid not in taken and uid not in running:
            gid_mapped = any(s <= uid < e for s, e in _mapped_ranges("/proc/self/gid_map"))
            gid = uid if gid_mapped and uid not in _known_ids("/etc/group") else NOGROUP
            return uid, gid
    raise RuntimeError(f"no free uid in [{low}, {high})")


def disk_usage(path: Path) -> int:
    """Bytes used under `path` as `du` counts them, at least 512 per entry (so that millions
    of empty files count too); symlinks are not followed."""
    total, stack = 0, [os.fspath(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    info = entry.stat(follow_symlinks=False)
                    total += max(info.st_blocks * 512, 512)
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return total


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """Give `path` and everything under it to uid:gid, never following a symlink."""
    os.chown(path, uid, gid, follow_symlinks=False)
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            with suppress(FileNotFoundError):
                os.chown(os.path.join(top, name), uid, gid, follow_symlinks=False)


def remove_tree(path: Path) -> None:
    """Delete `path`, even where the sandboxed code made a directory unreadable to its owner."""
    with suppress(OSError):
        os.chmod(path, 0o700)
    for top, dirs, _ in os.walk(path):
        for name in dirs:  # before os.walk descends into them; never through a symlink
            full = os.path.join(top, name)
            with suppress(OSError):
                if stat.S_ISDIR(os.lstat(full).st_mode):
                    os.chmod(full, 0o700)
    shutil.rmtree(path, ignore_errors=True)
