"""A seccomp deny-list for sandboxed code, assembled by hand as classic BPF.

The filter returns EPERM for system calls that sandboxed code has no use for and that widen
the kernel's attack surface or could undo the sandbox: tracing other processes, mounting,
loading kernel modules or BPF programs, keyrings, perf, io_uring, entering namespaces, and
creating a user namespace (`unshare` or `clone` with `CLONE_NEWUSER`). `clone3` answers ENOSYS,
because its flags sit in memory a filter cannot read; the C library then falls back to `clone`,
whose flags it can check. A system call of another architecture (i386 or x32 on x86_64) kills
the process. Everything else is allowed.

`deny_filter(arch)` returns the program as the bytes of a `struct sock_filter[]`, the format
`bwrap --seccomp FD` and `prctl(PR_SET_SECCOMP)` take.
"""

from __future__ import annotations

import errno
import platform
import struct
import sys
from dataclasses import dataclass

# Classic BPF opcodes (linux/bpf_common.h) and seccomp return values (linux/seccomp.h).
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
RET_KILL_PROCESS = 0x80000000

# Offsets in struct seccomp_data: nr, arch, instruction_pointer, args[6] (little-endian).
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARG0_LOW = 16
OFFSET_ARG1_LOW = 24

CLONE_NEWUSER = 0x10000000
TIOCSTI = 0x5412
X32_SYSCALL_BIT = 0x40000000

# Denied outright (EPERM), named as in the kernel's syscall tables.
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev",
    "mount", "umount2", "pivot_root", "mount_setattr",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
    "setns", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init",
    "swapon", "swapoff", "reboot", "syslog", "acct", "quotactl", "quotactl_fd",
    "lookup_dcookie", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "vhangup",
    "iopl", "ioperm", "uselib",
)  # fmt: skip


@dataclass(frozen=True)
class Arch:
    """One architecture's audit id and system call numbers."""

    audit: int
    numbers: dict[str, int]
    x32: bool = False  # x86_64 also accepts x32 calls: numbers with bit 30 set


X86_64 = Arch(
    audit=0xC000003E,
    x32=True,
    numbers={
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
        "mount": 165, "umount2": 166, "pivot_root": 155, "mount_setattr": 442,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "setns": 308, "kexec_load": 246, "kexec_file_load": 320,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "bpf": 321,
        "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248,
        "request_key": 249, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_by_handle_at": 304, "name_to_handle_at": 303,
        "fanotify_init": 300, "swapon": 167, "swapoff": 168, "reboot": 169, "syslog": 103,
        "acct": 163, "quotactl": 179, "quotactl_fd": 443, "lookup_dcookie": 212,
        "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
        "vhangup": 153, "iopl": 172, "ioperm": 173, "uselib": 134,
        "unshare": 272, "clone": 56, "clone3": 435, "ioctl": 16,
    },
)  # fmt: skip

AARCH64 = Arch(
    audit=0xC00000B7,
    numbers={
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
        "mount": 40, "umount2": 39, "pivot_root": 41, "mount_setattr": 442,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "setns": 268, "kexec_load": 104, "kexec_file_load": 294,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "bpf": 280,
        "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217,
        "request_key": 218, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_by_handle_at": 265, "name_to_handle_at": 264,
        "fanotify_init": 262, "swapon": 224, "swapoff": 225, "reboot": 142, "syslog": 116,
        "acct": 89, "quotactl": 60, "quotactl_fd": 443, "lookup_dcookie": 18,
        "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171,
        "vhangup": 58, "unshare": 97, "clone": 220, "clone3": 435, "ioctl": 29,
    },
)  # fmt: skip

ARCHES = {"x86_64": X86_64, "aarch64": AARCH64}
_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def machine_arch(machine: str | None = None) -> str | None:
    """This machine's architecture as a key of `ARCHES`, or None if the filter has no table."""
    name = (machine or platform.machine()).lower()
    name = _ALIASES.get(name, name)
    if name not in ARCHES or sys.byteorder != "little":
        return None
    return name


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _deny_when_flag(nr: int, offset: int, flag: int, *, equal: bool = False) -> list[bytes]:
    """EPERM when the syscall is `nr` and its argument at `offset` has `flag` (or equals it)."""
    return [
        _insn(JEQ_K, nr, 0, 4),  # not this call: skip the block
        _insn(LD_W_ABS, offset),
        _insn(JEQ_K if equal else JSET_K, flag, 0, 1),
        _insn(RET_K, RET_ERRNO | errno.EPERM),
        _insn(RET_K, RET_ALLOW),
    ]


def deny_filter(arch: str) -> bytes:
    """The filter for `arch` (a key of `ARCHES`) as bytes of `struct sock_filter[]`."""
    table = ARCHES[arch]
    eperm = _insn(RET_K, RET_ERRNO | errno.EPERM)
    prog = [
        _insn(LD_W_ABS, OFFSET_ARCH),
        _insn(JEQ_K, table.audit, 1, 0),
        _insn(RET_K, RET_KILL_PROCESS),
        _insn(LD_W_ABS, OFFSET_NR),
    ]
    if table.x32:
        prog += [_insn(JGE_K, X32_SYSCALL_BIT, 0, 1), _insn(RET_K, RET_KILL_PROCESS)]
    for name in DENIED:
        if name in table.numbers:
            prog += [_insn(JEQ_K, table.numbers[name], 0, 1), eperm]
    prog += [
        _insn(JEQ_K, table.numbers["clone3"], 0, 1),
        _insn(RET_K, RET_ERRNO | errno.ENOSYS),
    ]
    # Each block below loads an argument, so it ends in a verdict instead of falling through.
    prog += _deny_when_flag(table.numbers["unshare"], OFFSET_ARG0_LOW, CLONE_NEWUSER)
    prog += _deny_when_flag(table.numbers["clone"], OFFSET_ARG0_LOW, CLONE_NEWUSER)
    prog += _deny_when_flag(table.numbers["ioctl"], OFFSET_ARG1_LOW, TIOCSTI, equal=True)
    prog.append(_insn(RET_K, RET_ALLOW))
    return b"".join(prog)
