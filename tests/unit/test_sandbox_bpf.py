"""The Landlock fallback's seccomp filter, assembled by hand: layout, arch check, syscall table.

A tiny interpreter of the classic-BPF subset the filter uses runs it against `seccomp_data`
records, so each test states what the kernel would decide.
"""

from __future__ import annotations

import errno
import struct

import pytest

from bosun.sandbox import _launch
from bosun.sandbox._launch import (
    ALWAYS_DENIED,
    ARCHES,
    HOST_FILE_METADATA,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
    Insn,
    build_filter,
    pack_filter,
)

EPERM = SECCOMP_RET_ERRNO | errno.EPERM
ENOSYS = SECCOMP_RET_ERRNO | errno.ENOSYS
AUDIT_ARCH_I386 = 0x40000003
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET = 1, 2, 3, 5
SOCK_NONBLOCK, SOCK_CLOEXEC = 0x800, 0x80000
SIGCHLD = 17
CLONE_VM, CLONE_THREAD, CLONE_NEWUSER, CLONE_NEWNET = 0x100, 0x10000, 0x10000000, 0x40000000
ORDINARY = {  # read, openat, execve, mmap, kill
    "x86_64": [0, 257, 59, 9, 62],
    "aarch64": [63, 56, 221, 222, 129],
}


def run_bpf(prog: list[Insn], nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    data = struct.pack("<iIQ6Q", nr, arch, 0x1234, *(args + (0,) * (6 - len(args))))
    acc, pc = 0, 0
    for _ in range(len(prog)):  # classic BPF only jumps forward
        code, jt, jf, k = prog[pc]
        if code == _launch.BPF_LD_W_ABS:
            (acc,), pc = struct.unpack_from("<I", data, k), pc + 1
        elif code == _launch.BPF_JEQ_K:
            pc += 1 + (jt if acc == k else jf)
        elif code == _launch.BPF_JGE_K:
            pc += 1 + (jt if acc >= k else jf)
        elif code == _launch.BPF_JSET_K:
            pc += 1 + (jt if acc & k else jf)
        elif code == _launch.BPF_AND_K:
            acc, pc = acc & k, pc + 1
        elif code == _launch.BPF_RET_K:
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("fell off the program")


def policy(**overrides: bool) -> dict[str, bool]:
    return {"deny_network": True, "same_uid": False, "deny_path_truncate": False, **overrides}


@pytest.fixture(params=sorted(ARCHES))
def arch(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def decide(arch: str, name: str, *args: int, **overrides: bool) -> int:
    prog = build_filter(arch, **policy(**overrides))
    return run_bpf(prog, ARCHES[arch].syscalls[name], ARCHES[arch].audit, args)


def test_layout_is_struct_sock_filter(arch: str) -> None:
    prog = build_filter(arch, **policy(same_uid=True, deny_path_truncate=True))
    packed = pack_filter(prog)
    assert len(packed) == 8 * len(prog) <= 8 * 4096  # BPF_MAXINSNS
    assert packed[:8] == struct.pack("=HBBI", 0x20, 0, 0, 4)  # ld [arch]
    assert struct.unpack("=HBBI", packed[8:16]) == (0x15, 1, 0, ARCHES[arch].audit)
    assert prog[-1] == (_launch.BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)
    for pc, (code, jt, jf, _) in enumerate(prog):
        if code in (_launch.BPF_JEQ_K, _launch.BPF_JGE_K, _launch.BPF_JSET_K):
            assert pc + 1 + max(jt, jf) < len(prog)
        else:
            assert jt == jf == 0


def test_another_architecture_is_killed(arch: str) -> None:
    prog = build_filter(arch, **policy())
    other = next(a.audit for name, a in ARCHES.items() if name != arch)
    for audit in (AUDIT_ARCH_I386, other):
        assert run_bpf(prog, ORDINARY[arch][0], audit) == SECCOMP_RET_KILL_PROCESS


def test_x32_syscalls_are_killed() -> None:
    prog = build_filter("x86_64", **policy())
    x32_read = 0x40000000 | 0
    assert run_bpf(prog, x32_read, ARCHES["x86_64"].audit) == SECCOMP_RET_KILL_PROCESS


def test_ordinary_syscalls_are_allowed(arch: str) -> None:
    prog = build_filter(arch, **policy(same_uid=True, deny_path_truncate=True))
    for nr in ORDINARY[arch]:
        assert run_bpf(prog, nr, ARCHES[arch].audit) == SECCOMP_RET_ALLOW


def test_escape_hatches_fail_with_eperm(arch: str) -> None:
    for name in ALWAYS_DENIED:
        assert decide(arch, name) == EPERM, name
        assert decide(arch, name, deny_network=False) == EPERM, name


def test_clone3_is_enosys_so_libc_falls_back_to_clone(arch: str) -> None:
    assert decide(arch, "clone3") == ENOSYS


def test_clone_into_a_new_namespace_is_denied(arch: str) -> None:
    assert decide(arch, "clone", SIGCHLD) == SECCOMP_RET_ALLOW  # fork
    thread = CLONE_VM | CLONE_THREAD | 0x3D0F00
    assert decide(arch, "clone", thread) == SECCOMP_RET_ALLOW
    assert decide(arch, "clone", CLONE_NEWUSER | SIGCHLD) == EPERM
    assert decide(arch, "clone", CLONE_NEWNET | SIGCHLD) == EPERM


def test_sockets_of_every_family_are_denied_without_network(arch: str) -> None:
    for family in (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, 0xFFFFFFFF_00000002):
        assert decide(arch, "socket", family, SOCK_STREAM) == EPERM


def test_network_opens_every_family_but_unix(arch: str) -> None:
    for family in (AF_INET, AF_INET6, AF_NETLINK):
        assert decide(arch, "socket", family, SOCK_STREAM, deny_network=False) == SECCOMP_RET_ALLOW
    # A UNIX socket reaches host services by path (PostgreSQL, Docker) whatever the network.
    for family in (AF_UNIX, 0xFFFFFFFF_00000001, 0x1_00000001):  # the kernel reads an int
        for kind in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
            assert decide(arch, "socket", family, kind, deny_network=False) == EPERM


@pytest.mark.parametrize("deny_network", [True, False])
def test_socketpair_gives_connected_pairs_only(arch: str, deny_network: bool) -> None:
    def pair(kind: int) -> int:
        return decide(arch, "socketpair", AF_UNIX, kind, 0, deny_network=deny_network)

    for kind in (SOCK_STREAM, SOCK_SEQPACKET):
        assert pair(kind) == SECCOMP_RET_ALLOW
        assert pair(kind | SOCK_CLOEXEC | SOCK_NONBLOCK) == SECCOMP_RET_ALLOW
        assert pair(0xFFFFFFFF_00000000 | kind) == SECCOMP_RET_ALLOW
    # A datagram pair can sendto() any UNIX socket by address; SOCK_RAW is a datagram one.
    for kind in (SOCK_DGRAM, SOCK_RAW, 4, 6, 10, 0, 0xF, SOCK_DGRAM | SOCK_CLOEXEC):
        assert pair(kind) == EPERM, kind


def test_same_uid_protects_the_workers_file_metadata(arch: str) -> None:
    names = [name for name in HOST_FILE_METADATA if name in ARCHES[arch].syscalls]
    for name in names:
        assert decide(arch, name, same_uid=True) == EPERM, name
        assert decide(arch, name, same_uid=False) == SECCOMP_RET_ALLOW, name
    at_fdcwd = 0xFFFFFF9C
    assert decide(arch, "utimensat", at_fdcwd, 0x7FFF_0000_1000, same_uid=True) == EPERM
    assert decide(arch, "utimensat", at_fdcwd, 0x1_0000_0000, same_uid=True) == EPERM
    assert decide(arch, "utimensat", 3, 0, same_uid=True) == SECCOMP_RET_ALLOW  # futimens


def test_path_truncate_is_denied_only_when_asked(arch: str) -> None:
    assert decide(arch, "truncate", deny_path_truncate=True) == EPERM
    assert decide(arch, "truncate") == SECCOMP_RET_ALLOW


def test_syscall_numbers_match_the_kernel_headers() -> None:
    x86, arm = ARCHES["x86_64"].syscalls, ARCHES["aarch64"].syscalls
    assert (x86["socket"], x86["clone"], x86["ptrace"], x86["mount"]) == (41, 56, 101, 165)
    assert (x86["socketpair"], arm["socketpair"]) == (53, 199)
    assert (x86["unshare"], x86["setns"], x86["bpf"], x86["seccomp"]) == (272, 308, 321, 317)
    assert (arm["socket"], arm["clone"], arm["ptrace"], arm["mount"]) == (198, 220, 117, 40)
    assert (arm["unshare"], arm["setns"], arm["bpf"], arm["seccomp"]) == (97, 268, 280, 277)
    for table in (x86, arm):
        assert [
            table[f"landlock_{n}"] for n in ("create_ruleset", "add_rule", "restrict_self")
        ] == [
            444,
            445,
            446,
        ]
        assert table["clone3"] == 435 and table["io_uring_setup"] == 425
        assert len(set(table.values())) == len(table), "two names share a number"
    assert ARCHES["x86_64"].audit == 0xC000003E and ARCHES["aarch64"].audit == 0xC00000B7


def test_every_named_syscall_is_in_both_tables_or_absent_from_the_generic_one() -> None:
    named = ("clone", "clone3", "socket", "socketpair", "utimensat", "truncate")
    for name in (*ALWAYS_DENIED, *named):
        assert name in ARCHES["x86_64"].syscalls and name in ARCHES["aarch64"].syscalls, name
    legacy = {n for n in HOST_FILE_METADATA if n not in ARCHES["aarch64"].syscalls}
    assert legacy == {"chmod", "chown", "lchown", "utime", "utimes", "futimesat"}
    assert all(name in ARCHES["x86_64"].syscalls for name in HOST_FILE_METADATA)


def test_landlock_rights_follow_the_abi() -> None:
    assert _launch.handled_fs(1) == 0x1FFF
    assert _launch.handled_fs(2) & _launch.FS_REFER
    assert not _launch.handled_fs(2) & _launch.FS_TRUNCATE
    assert _launch.handled_fs(3) & _launch.FS_TRUNCATE
    assert _launch.handled_fs(5) & _launch.FS_IOCTL_DEV
    read_only = _launch.rule_rights("ro", 7)
    assert read_only == _launch.FS_EXECUTE | _launch.FS_READ_FILE | _launch.FS_READ_DIR
    for abi in range(1, 8):
        writable = _launch.rule_rights("rw", abi)
        assert writable & ~_launch.handled_fs(abi) == 0
        assert not writable & (_launch.FS_MAKE_CHAR | _launch.FS_MAKE_BLOCK)
