"""Child side of the Landlock fallback: confine this very process, then run the command.

`bosun.sandbox.landlock` runs this file by path, as `python -I -S _launch.py`, so that nothing
of bosun and no site-packages is imported on the way (fast, and no third-party code runs
before the confinement). It starts a new session with fd 0-2 the command's stdio, fd 3 a memfd
holding the config (a `marshal`led dict) and fd 4 the write end of a status pipe. In order, it:

1. reads the config and closes every other inherited fd;
2. opens the paths the Landlock rules name (as the worker, before dropping privileges);
3. when the worker is root: drops to the run's own uid/gid with no supplementary groups,
   which also clears every capability;
4. sets `PR_SET_NO_NEW_PRIVS`, then restricts itself with Landlock (filesystem; TCP with
   ABI >= 4; signals and abstract UNIX sockets with ABI >= 6);
5. installs the seccomp filter and sets the rlimits;
6. becomes a child subreaper and forks: the child execs the command, the launcher (confined
   as much) waits for it.

If a step fails, `E` and the reason go to fd 4 and the launcher exits 125. Once the command
has exited, `R` and its marshalled (wait status, CPU seconds, max RSS in KiB) go to fd 4; the
launcher then reaps the orphans it adopted as the parent kills them, and exits the way the
command did.

Standard library only, and none that is slow to import (no `typing`, `json`, `signal`):
Python's start-up is most of the sandbox's overhead. The seccomp BPF assembly lives here too
(`build_filter`), tested in `tests/unit/test_sandbox_bpf.py`.
"""

from __future__ import annotations

import ctypes
import errno
import marshal
import os
import resource
import stat
import struct

# -- system call numbers --------------------------------------------------------------------


class Arch:
    """What the seccomp filter needs to know of one architecture.

    Attributes:
        audit: its AUDIT_ARCH_* value, as seen in `seccomp_data.arch`.
        x32_bit: syscall numbers at or above this belong to another ABI (x32), 0 if none.
        syscalls: the numbers of the syscalls the filter names.
    """

    __slots__ = ("audit", "syscalls", "x32_bit")

    def __init__(self, *, audit: int, x32_bit: int, syscalls: dict[str, int]) -> None:
        self.audit = audit
        self.x32_bit = x32_bit
        self.syscalls = syscalls


_COMMON = {  # numbers >= 424 are shared by every architecture
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "mount_setattr": 442,
    "landlock_create_ruleset": 444,
    "landlock_add_rule": 445,
    "landlock_restrict_self": 446,
    "fchmodat2": 452,
    "setxattrat": 463,
    "removexattrat": 466,
    "open_tree_attr": 467,
}

ARCHES: dict[str, Arch] = {
    "x86_64": Arch(
        audit=0xC000003E,
        x32_bit=0x40000000,
        syscalls={
            **_COMMON,
            "socket": 41,
            "socketpair": 53,
            "clone": 56,
            "truncate": 76,
            "chmod": 90,
            "chown": 92,
            "lchown": 94,
            "ptrace": 101,
            "setsid": 112,
            "utime": 132,
            "pivot_root": 155,
            "mount": 165,
            "umount2": 166,
            "init_module": 175,
            "delete_module": 176,
            "setxattr": 188,
            "lsetxattr": 189,
            "removexattr": 197,
            "lremovexattr": 198,
            "utimes": 235,
            "kexec_load": 246,
            "add_key": 248,
            "request_key": 249,
            "keyctl": 250,
            "fchownat": 260,
            "futimesat": 261,
            "fchmodat": 268,
            "unshare": 272,
            "utimensat": 280,
            "perf_event_open": 298,
            "open_by_handle_at": 304,
            "setns": 308,
            "process_vm_readv": 310,
            "process_vm_writev": 311,
            "finit_module": 313,
            "seccomp": 317,
            "kexec_file_load": 320,
            "bpf": 321,
            "userfaultfd": 323,
        },
    ),
    "aarch64": Arch(  # the generic table: no chmod/chown/utime(s), only the *at forms
        audit=0xC00000B7,
        x32_bit=0,
        syscalls={
            **_COMMON,
            "setxattr": 5,
            "lsetxattr": 6,
            "removexattr": 14,
            "lremovexattr": 15,
            "umount2": 39,
            "mount": 40,
            "pivot_root": 41,
            "truncate": 45,
            "fchmodat": 53,
            "fchownat": 54,
            "utimensat": 88,
            "unshare": 97,
            "kexec_load": 104,
            "init_module": 105,
            "delete_module": 106,
            "ptrace": 117,
            "setsid": 157,
            "socket": 198,
            "socketpair": 199,
            "add_key": 217,
            "request_key": 218,
            "keyctl": 219,
            "clone": 220,
            "perf_event_open": 241,
            "open_by_handle_at": 265,
            "setns": 268,
            "process_vm_readv": 270,
            "process_vm_writev": 271,
            "finit_module": 273,
            "seccomp": 277,
            "bpf": 280,
            "userfaultfd": 282,
            "kexec_file_load": 294,
        },
    ),
}

# Denied with EPERM whatever the request: ways out of the sandbox or into the kernel.
ALWAYS_DENIED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount2",
    "pivot_root",
    "mount_setattr",
    "open_tree",
    "open_tree_attr",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "setns",
    "unshare",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "open_by_handle_at",
    # Leaving the session would hide a process from the supervisor's final sweep.
    "setsid",
    # io_uring runs socket/connect/open operations that seccomp never sees.
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
)

# Denied when the command runs as the worker's own uid: Landlock does not cover changing the
# mode, owner, extended attributes or times of a file by path, and the worker owns its files.
HOST_FILE_METADATA = (
    "chmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "lchown",
    "fchownat",
    "setxattr",
    "lsetxattr",
    "removexattr",
    "lremovexattr",
    "setxattrat",
    "removexattrat",
    "utime",
    "utimes",
    "futimesat",
)

# -- seccomp BPF ----------------------------------------------------------------------------

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
BPF_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06  # BPF_RET | BPF_K
BPF_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
OFFSET_NR = 0  # struct seccomp_data { int nr; __u32 arch; __u64 ip; __u64 args[6]; }
OFFSET_ARCH = 4
AF_UNIX = 1
SOCK_TYPE_MASK = 0xF  # the kernel's: SOCK_NONBLOCK and SOCK_CLOEXEC sit above it
SOCK_STREAM, SOCK_SEQPACKET = 1, 5  # the same on x86_64 and aarch64
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID
# | CLONE_NEWNET (CLONE_NEWTIME exists only for clone3 and unshare, both denied).
CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
CLONE_NEW_ANY |= 0x40000000


Insn = tuple[int, int, int, int]  # struct sock_filter: code, jt, jf, k


def insn(code: int, jt: int, jf: int, k: int) -> Insn:
    """One classic BPF instruction: if a jump, `jt`/`jf` instructions are skipped."""
    return (code, jt, jf, k)


def _ld(offset: int) -> Insn:
    return insn(BPF_LD_W_ABS, 0, 0, offset)


def _ret(value: int) -> Insn:
    return insn(BPF_RET_K, 0, 0, value)


def _arg_low(index: int) -> int:
    return 16 + 8 * index  # little-endian: the low 32 bits come first


def _deny(nr: int, action: int) -> list[Insn]:
    return [insn(BPF_JEQ_K, 0, 1, nr), _ret(action)]


def _guarded(nr: int, block: list[Insn]) -> list[Insn]:
    """`block` (which always returns) runs for syscall `nr` only."""
    return [insn(BPF_JEQ_K, 0, len(block), nr), *block]


def build_filter(
    arch_name: str, *, deny_network: bool, same_uid: bool, deny_path_truncate: bool
) -> list[Insn]:
    """The seccomp program for `arch_name`: a list of instructions, allow by default.

    Any other architecture (say i386 syscalls from an x86_64 process) and x32 syscall numbers
    kill the process; listed syscalls fail with EPERM; `clone3` fails with ENOSYS so that libc
    falls back to `clone`, whose flags (unlike clone3's struct) the filter can read. No UNIX
    socket can reach the host (`_unix_socket_rules`), with or without network.

    Args:
        arch_name: a key of `ARCHES`.
        deny_network: fail `socket()` for every family, not only AF_UNIX.
        same_uid: the command runs as the worker's uid: also deny changing a file's mode,
            owner, xattrs or times by path (`HOST_FILE_METADATA`, `utimensat` with a path).
        deny_path_truncate: deny `truncate(path)` (Landlock ABI < 3 does not cover it).
    """
    arch = ARCHES[arch_name]
    nrs = arch.syscalls
    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    prog = [_ld(OFFSET_ARCH), insn(BPF_JEQ_K, 1, 0, arch.audit), _ret(SECCOMP_RET_KILL_PROCESS)]
    prog.append(_ld(OFFSET_NR))
    if arch.x32_bit:
        prog += [insn(BPF_JGE_K, 0, 1, arch.x32_bit), _ret(SECCOMP_RET_KILL_PROCESS)]
    denied = list(ALWAYS_DENIED)
    if same_uid:
        denied += HOST_FILE_METADATA
    if deny_path_truncate:
        denied.append("truncate")
    for name in denied:
        if name in nrs:  # aarch64 has no chmod, chown, utime...
            prog += _deny(nrs[name], eperm)
    prog += _deny(nrs["clone3"], SECCOMP_RET_ERRNO | errno.ENOSYS)
    prog += _guarded(
        nrs["clone"],
        [
            _ld(_arg_low(0)),
            insn(BPF_JSET_K, 0, 1, CLONE_NEW_ANY),
            _ret(eperm),
            _ret(SECCOMP_RET_ALLOW),
        ],
    )
    prog += _unix_socket_rules(nrs, deny_network=deny_network)
    if same_uid:  # utimensat(fd, NULL, ...) is futimens(): allowed; a path is not
        prog += _guarded(
            nrs["utimensat"],
            [
                _ld(_arg_low(1)),
                insn(BPF_JEQ_K, 0, 2, 0),
                _ld(_arg_low(1) + 4),
                insn(BPF_JEQ_K, 1, 0, 0),
                _ret(eperm),
                _ret(SECCOMP_RET_ALLOW),
            ],
        )
    prog.append(_ret(SECCOMP_RET_ALLOW))
    return prog


def _unix_socket_rules(nrs: dict[str, int], *, deny_network: bool) -> list[Insn]:
    """No UNIX socket that could reach a host service, by path or by abstract name.

    Landlock does not check `connect()` or `sendto()` on UNIX sockets (ABI 6 scopes abstract
    names only), so a world-writable socket such as PostgreSQL's, Docker's or a supervisor's
    would be open to the command. The filter cannot read the address, so it refuses the
    sockets themselves: `socket(AF_UNIX, ...)` always (and every family without network);
    `socketpair()` only as a connected stream or seqpacket pair, which cannot connect again
    (EISCONN). A datagram pair can: `sendto()` any datagram socket, `connect()` to a new peer.
    (x86_64 and aarch64 have no `socketcall`; i386 and arm32 calls die at the arch check.)
    """
    eperm = _ret(SECCOMP_RET_ERRNO | errno.EPERM)
    allow = _ret(SECCOMP_RET_ALLOW)
    if deny_network:
        prog = _deny(nrs["socket"], SECCOMP_RET_ERRNO | errno.EPERM)
    else:  # the family is an int: the kernel ignores the upper half of the register
        prog = _guarded(
            nrs["socket"], [_ld(_arg_low(0)), insn(BPF_JEQ_K, 0, 1, AF_UNIX), eperm, allow]
        )
    pair_type = [
        _ld(_arg_low(1)),
        insn(BPF_AND_K, 0, 0, SOCK_TYPE_MASK),
        insn(BPF_JEQ_K, 2, 0, SOCK_STREAM),
        insn(BPF_JEQ_K, 1, 0, SOCK_SEQPACKET),
        eperm,
        allow,
    ]
    return prog + _guarded(nrs["socketpair"], pair_type)


def pack_filter(prog: list[Insn]) -> bytes:
    """The program as the kernel reads it: 8 bytes per instruction, native byte order."""
    return b"".join(struct.pack("=HBBI", *insn) for insn in prog)


# -- ctypes plumbing ------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2


def syscall(nr: int, *args: object) -> int:
    """Call a system call by number; raise OSError on failure."""
    result = int(_libc.syscall(ctypes.c_long(nr), *args))
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def machine() -> str:
    """This machine's architecture as `ARCHES` names it."""
    name = os.uname().machine
    return "aarch64" if name == "arm64" else name


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_actions_available() -> None:
    """Raise OSError unless seccomp filters with KILL_PROCESS and ERRNO actions work here."""
    for action in (SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_ERRNO):
        value = ctypes.c_uint32(action)
        nr = ARCHES[machine()].syscalls["seccomp"]
        syscall(nr, ctypes.c_uint(SECCOMP_GET_ACTION_AVAIL), ctypes.c_uint(0), ctypes.byref(value))


def install_filter(packed: bytes) -> None:
    """Load the filter into this process (needs `PR_SET_NO_NEW_PRIVS` first)."""
    buffer = ctypes.create_string_buffer(packed, len(packed))
    prog = _SockFprog(len(packed) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    nr = ARCHES[machine()].syscalls["seccomp"]
    syscall(nr, ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(0), ctypes.byref(prog))


# -- Landlock -------------------------------------------------------------------------------

LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_MAKE_CHAR, FS_MAKE_BLOCK = 1 << 6, 1 << 11
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
FS_FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; OSError (ENOSYS, EOPNOTSUPP...) when there is none."""
    return syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))


def handled_fs(abi: int) -> int:
    """Every filesystem right the ABI knows: v1 has 13, v2 adds REFER, v3 TRUNCATE, v5 IOCTL."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def rule_rights(kind: str, abi: int) -> int:
    """Rights granted beneath a path: `ro` system paths, `dev` device files, `rw` work dirs."""
    handled = handled_fs(abi)
    if kind == "ro":
        return FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
    if kind == "dev":
        return FS_READ_FILE | FS_WRITE_FILE
    return handled & ~(FS_MAKE_CHAR | FS_MAKE_BLOCK | FS_IOCTL_DEV)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def open_rules(rules: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """O_PATH fds of the rules' paths (missing paths are skipped)."""
    opened = []
    for path, kind in rules:
        try:
            opened.append((os.open(path, os.O_PATH | os.O_CLOEXEC), kind))
        except FileNotFoundError:
            continue
    return opened


def landlock_restrict(abi: int, rules: list[tuple[int, str]], *, network: bool) -> None:
    """Confine this process to `rules`; with ABI >= 4 and no network, to no TCP either."""
    attr = _RulesetAttr(handled_fs(abi), 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = 0 if network else NET_BIND_TCP | NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = 24
    ruleset = syscall(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    try:
        for fd, kind in rules:
            allowed = rule_rights(kind, abi) & attr.handled_access_fs
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                allowed &= FS_FILE_ONLY
            rule = _PathBeneath(allowed, fd)
            rule_type = ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH)
            syscall(445, ctypes.c_int(ruleset), rule_type, ctypes.byref(rule), ctypes.c_uint32(0))
            os.close(fd)
        syscall(446, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)


# -- the launcher ---------------------------------------------------------------------------

CONFIG_FD, STATUS_FD = 3, 4
SETUP_FAILED = 125
SIGPIPE, SIGXFSZ, SIG_DFL = 13, 25, 0  # the same on x86_64 and aarch64


class Config:
    """What the parent asks of the launcher (see `bosun.sandbox.landlock`)."""

    def __init__(
        self,
        *,
        argv: list[str],
        env: dict[str, str],
        cwd: str,
        rules: list[tuple[str, str]],
        uid: int | None,
        gid: int | None,
        abi: int,
        network: bool,
        same_uid: bool,
        rlimits: dict[str, tuple[int, int]],
    ) -> None:
        self.argv, self.env, self.cwd, self.rules = argv, env, cwd, rules
        self.uid, self.gid, self.abi, self.network = uid, gid, abi, network
        self.same_uid, self.rlimits = same_uid, rlimits


def _read_config() -> Config:
    chunks = []
    offset = 0
    while chunk := os.pread(CONFIG_FD, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    os.close(CONFIG_FD)
    return Config(**marshal.loads(b"".join(chunks)))


def _close_other_fds() -> None:
    try:  # close_range(2), the same number everywhere
        syscall(436, ctypes.c_uint(STATUS_FD + 1), ctypes.c_uint(0xFFFFFFFF), ctypes.c_uint(0))
    except OSError:  # before Linux 5.9
        for name in os.listdir("/proc/self/fd"):
            if int(name) > STATUS_FD:
                try:
                    os.close(int(name))
                except OSError:
                    continue


def _drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def _set_rlimits(limits: dict[str, tuple[int, int]]) -> None:
    for name, (soft, hard) in limits.items():
        which = getattr(resource, f"RLIMIT_{name}")
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:  # only root may raise a hard limit
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(which, (soft, hard))


def _confine(config: Config) -> None:
    stage = "opening the paths of the rules"
    try:
        rules = open_rules(config.rules)
        os.chdir(config.cwd)
        if config.uid is not None and config.gid is not None:
            stage = f"switching to uid {config.uid}"
            _drop_privileges(config.uid, config.gid)
        stage = "setting PR_SET_NO_NEW_PRIVS"
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        stage = "applying Landlock"
        landlock_restrict(config.abi, rules, network=config.network)
        stage = "installing the seccomp filter"
        prog = build_filter(
            machine(),
            deny_network=not config.network,
            same_uid=config.same_uid,
            deny_path_truncate=config.same_uid and config.abi < 3,
        )
        install_filter(pack_filter(prog))
        stage = "setting rlimits"  # last: RLIMIT_AS may leave this process little room
        _set_rlimits(config.rlimits)
    except Exception as exc:  # whatever it is, the command must not run unconfined
        _fail(stage, exc)


def _fail(stage: str, exc: Exception) -> None:
    os.write(STATUS_FD, f"E{stage}: {exc}".encode())
    os._exit(SETUP_FAILED)


def main() -> None:
    """Confine this process as fd 3's config says, run the command, report how it ended."""
    config = _read_config()
    os.set_inheritable(STATUS_FD, False)
    _close_other_fds()
    _confine(config)
    # Python ignores SIGPIPE and SIGXFSZ, and exec keeps ignored signals ignored: the command
    # must die of a closed pipe or of RLIMIT_FSIZE as it would anywhere else.
    for number in (SIGPIPE, SIGXFSZ):
        _libc.signal(number, SIG_DFL)
    # The command runs in a child: a process created by fork/vfork+exec from the worker
    # inherits the worker's peak RSS as its own `ru_maxrss`, this one only the launcher's.
    # As a subreaper, the launcher adopts the command's orphans and reaps them once the
    # parent has killed them: without a PID namespace they would otherwise be left to the
    # container's PID 1, which often reaps nothing.
    try:
        if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        child = os.fork()
    except OSError as exc:
        _fail("starting the command", exc)
        return
    if child == 0:
        try:
            _exec(config.argv, config.env)
        finally:  # never back into the launcher's code, whatever went wrong
            os._exit(127)
    _, status, usage = os.wait4(child, 0)
    report = (status, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
    os.write(STATUS_FD, b"R" + marshal.dumps(report))
    while True:  # the parent now kills whatever is left; reap it
        try:
            os.wait()
        except ChildProcessError:
            break
    if os.WIFSIGNALED(status):  # die the same way, so that a lost report changes nothing
        _libc.signal(os.WTERMSIG(status), SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _exec(argv: list[str], env: dict[str, str]) -> None:
    """`execvpe`, without its lazy imports (the interpreter's files are out of reach now)."""
    name = argv[0]
    dirs = [""] if "/" in name else env.get("PATH", "/usr/bin:/bin").split(":")
    error: OSError = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
    for directory in dirs:
        try:
            os.execve(os.path.join(directory, name) if directory else name, argv, env)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:  # found but not runnable: remember, keep looking like execvp
            error = exc
    # Like a shell: 127 when not found, 126 when found but not runnable.
    os.write(2, f"bosun-sandbox: {name}: {error.strerror}\n".encode())
    os._exit(127 if isinstance(error, FileNotFoundError) else 126)


if __name__ == "__main__":
    main()
