"""Pure helpers of the sandbox: the seccomp program, path checks, verdicts, backend choice."""

from __future__ import annotations

import errno
import signal
import struct
from collections.abc import Iterator

import pytest

import bosun.sandbox as sandbox
from bosun.sandbox import (
    Limits,
    Request,
    Result,
    SandboxUnavailable,
    _protections,
    _workfiles,
    seccomp,
)
from bosun.sandbox._bwrap_run import init_script, sandbox_peak_rss
from bosun.sandbox._verdict import Facts, shell_status, which_limit
from bosun.sandbox.spec import THREATS

# -- the seccomp program, run by a small classic-BPF interpreter ---------------------------


def verdict(program: bytes, arch: int, nr: int, args: tuple[int, ...] = ()) -> int:
    """What the kernel would decide for this system call (LD ABS, JEQ/JGE/JSET K, RET K)."""
    words = [*args, *[0] * (6 - len(args))]
    data = struct.pack("<iIQ6Q", nr, arch, 0, *words)
    insns = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == seccomp.RET_K:
            return k
        if code == seccomp.LD_W_ABS:
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
            continue
        taken = {
            seccomp.JEQ_K: acc == k,
            seccomp.JGE_K: acc >= k,
            seccomp.JSET_K: bool(acc & k),
        }[code]
        pc += 1 + (jt if taken else jf)


EPERM = seccomp.RET_ERRNO | errno.EPERM


@pytest.mark.parametrize("name", sorted(seccomp.ARCHES))
def test_the_filter_denies_what_it_lists_and_allows_the_rest(name: str) -> None:
    table = seccomp.ARCHES[name]
    program = seccomp.deny_filter(name)
    assert len(program) % 8 == 0 and len(program) // 8 < 4096
    numbers = table.numbers
    for syscall in seccomp.DENIED:
        if syscall in numbers:
            assert verdict(program, table.audit, numbers[syscall]) == EPERM, syscall
    newuser = seccomp.CLONE_NEWUSER
    assert verdict(program, table.audit, numbers["unshare"], (newuser,)) == EPERM
    assert verdict(program, table.audit, numbers["unshare"], (0x20000,)) == seccomp.RET_ALLOW
    assert verdict(program, table.audit, numbers["clone"], (newuser | 17,)) == EPERM
    assert verdict(program, table.audit, numbers["clone"], (17,)) == seccomp.RET_ALLOW
    clone3 = verdict(program, table.audit, numbers["clone3"])
    assert clone3 == seccomp.RET_ERRNO | errno.ENOSYS
    assert verdict(program, table.audit, numbers["ioctl"], (1, seccomp.TIOCSTI)) == EPERM
    assert verdict(program, table.audit, numbers["ioctl"], (1, 0x5401)) == seccomp.RET_ALLOW
    for allowed in (0, 1, 3, 57, 59, 63, 64, 231):  # read, write, close, fork, execve...
        if allowed not in numbers.values():
            assert verdict(program, table.audit, allowed) == seccomp.RET_ALLOW, allowed
    other_arch = 0x40000003  # i386
    assert verdict(program, other_arch, 0) == seccomp.RET_KILL_PROCESS


def test_x32_system_calls_are_killed_on_x86_64() -> None:
    program = seccomp.deny_filter("x86_64")
    x32_read = seccomp.X32_SYSCALL_BIT | 0
    assert verdict(program, seccomp.X86_64.audit, x32_read) == seccomp.RET_KILL_PROCESS


def test_machine_names() -> None:
    assert seccomp.machine_arch("x86_64") == "x86_64"
    assert seccomp.machine_arch("AMD64") == "x86_64"
    assert seccomp.machine_arch("arm64") == "aarch64"
    assert seccomp.machine_arch("riscv64") is None


# -- paths --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../x", "a/../../b", "a/..", "", ".", "a\0b", "//x"]
)
def test_paths_leaving_the_work_directory_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        _workfiles.relative_parts(path)


def test_relative_paths_are_split() -> None:
    assert _workfiles.relative_parts("a/b/c.txt") == ("a", "b", "c.txt")
    assert _workfiles.relative_parts("./a//b") == ("a", "b")


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.txt", "a.txt", True),
        ("*.txt", "d/a.txt", False),
        ("**/*.txt", "a.txt", True),
        ("**/*.txt", "d/e/a.txt", True),
        ("out/*", "out/x", True),
        ("out/*", "out/x/y", False),
        ("out/**", "out/x/y", True),
        ("f?.csv", "f1.csv", True),
        ("f[0-9].csv", "fa.csv", False),
        ("f[!0-9].csv", "fa.csv", True),
        ("a.b", "axb", False),
    ],
)
def test_glob_patterns(pattern: str, path: str, matches: bool) -> None:
    assert bool(_workfiles.glob_regex(pattern).match(path)) is matches


def test_requests_with_bad_paths_or_env_are_refused() -> None:
    from bosun.sandbox.bwrap import check_request

    check_request(Request(argv=["true"], files={"a/b": b""}, collect=["**/*.txt"]))
    for bad in (
        Request(argv=[]),
        Request(argv=["true"], files={"../a": b""}),
        Request(argv=["true"], collect=["/etc/passwd"]),
        Request(argv=["true"], env={"A=B": "c"}),
        Request(argv=["tr\0ue"]),
        Request(argv=["true"], files={"a": b"xx"}, limits=Limits(workdir_bytes=1)),
    ):
        with pytest.raises(ValueError):
            check_request(bad)


# -- what ended a command -----------------------------------------------------------------


def test_shell_statuses() -> None:
    assert shell_status(0) == (0, None)
    assert shell_status(3) == (3, None)
    assert shell_status(128) == (128, None)
    assert shell_status(137) == (None, 9)
    assert shell_status(152) == (None, signal.SIGXCPU)


def facts(**fields: object) -> Facts:
    base: dict[str, object] = {
        "exit_code": 1,
        "signal": None,
        "cpu_seconds": 0.0,
        "stderr": b"",
        "truncated": False,
    }
    return Facts(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "limit"),
    [
        ({"timed_out": True, "signal": 9, "exit_code": None}, "wall"),
        ({"over_disk": True}, "disk"),
        ({"signal": signal.SIGXCPU, "exit_code": None}, "cpu"),
        ({"signal": signal.SIGKILL, "exit_code": None, "cpu_seconds": 10.5}, "cpu"),
        ({"signal": signal.SIGKILL, "exit_code": None, "cpu_seconds": 0.1}, None),
        ({"signal": signal.SIGXFSZ, "exit_code": None}, "file_size"),
        ({"stderr": b"OSError: [Errno 27] File too large"}, "file_size"),
        ({"stderr": b"MemoryError\n"}, "memory"),
        ({"stderr": b"BlockingIOError: [Errno 11] Resource temporarily unavailable"}, "processes"),
        ({"stderr": b"sh: 1: Cannot fork"}, "processes"),
        ({"stderr": b"write: No space left on device"}, "disk"),
        ({"disk_full": True}, "disk"),
        ({"stderr": b"MemoryError", "exit_code": 0}, None),  # it succeeded: no limit stopped it
        ({"exit_code": 0, "truncated": True}, "output"),
        ({"exit_code": 2}, None),
    ],
)
def test_which_limit(fields: dict[str, object], limit: str | None) -> None:
    assert which_limit(facts(**fields), Limits(cpu_seconds=10)) == limit


def test_the_init_script_sets_every_limit() -> None:
    script = init_script(
        Limits(cpu_seconds=2.5, memory_bytes=2**30, processes=10, file_size_bytes=1000)
    )
    assert "ulimit -S -t 3 && ulimit -H -t 4" in script
    assert "ulimit -v 1048576" in script
    assert "ulimit -f 2 " in script  # 512-byte blocks, rounded up
    assert "ulimit -c 0" in script
    assert "ulimit -u 11 2>/dev/null || ulimit -p 11" in script  # 10 and the init
    assert '[ "$go" = g ] || exit 125' in script  # no go (the worker died): no command
    assert script.rstrip().endswith('"$@"\nexit $?')  # forked, not exec'd as PID 1


def test_peak_rss_is_reported_only_above_the_workers() -> None:
    assert sandbox_peak_rss(300 << 20, 40 << 20) == 300 << 20
    assert sandbox_peak_rss(40 << 20, 40 << 20) == 0


# -- choosing a backend -------------------------------------------------------------------


class FakeBackend:
    def __init__(self, name: str, ok: bool) -> None:
        self.name = name
        self._ok = ok

    def available(self) -> tuple[bool, str]:
        return self._ok, f"{self.name} says {'yes' if self._ok else 'no'}"

    async def run(self, request: Request) -> Result:
        raise NotImplementedError


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, FakeBackend | None]]:
    built: dict[str, FakeBackend | None] = {}
    sandbox._forget()
    monkeypatch.setattr(sandbox, "_construct", lambda name: built.get(name))
    yield built
    sandbox._forget()


def test_auto_prefers_bubblewrap_then_landlock(
    fakes: dict[str, FakeBackend | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOSUN_SANDBOX", raising=False)
    fakes["bubblewrap"] = FakeBackend("bubblewrap", False)
    fakes["landlock"] = FakeBackend("landlock", True)
    assert sandbox.backend() is fakes["landlock"]
    assert sandbox.backend() is fakes["landlock"]  # chosen once, kept


def test_refusal_says_how_to_enable_a_sandbox(
    fakes: dict[str, FakeBackend | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOSUN_SANDBOX", "auto")
    fakes["bubblewrap"] = FakeBackend("bubblewrap", False)
    fakes["landlock"] = None  # the module is not there at all
    with pytest.raises(SandboxUnavailable) as caught:
        sandbox.backend()
    message = str(caught.value)
    assert "bubblewrap: bubblewrap says no" in message
    assert "landlock: not part of this installation" in message
    assert "apt-get install bubblewrap" in message
    assert "kernel.unprivileged_userns_clone=1" in message
    assert "clone(CLONE_NEWUSER)" in message
    assert "Landlock (Linux >= 5.13)" in message
    assert "BOSUN_SANDBOX=none" in message


def test_a_named_backend_is_that_one_or_a_refusal(
    fakes: dict[str, FakeBackend | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes["bubblewrap"] = FakeBackend("bubblewrap", False)
    fakes["landlock"] = FakeBackend("landlock", True)
    monkeypatch.setenv("BOSUN_SANDBOX", "bubblewrap")
    with pytest.raises(SandboxUnavailable, match="bubblewrap says no"):
        sandbox.backend()
    monkeypatch.setenv("BOSUN_SANDBOX", "firejail")
    with pytest.raises(SandboxUnavailable, match="not one of auto, bubblewrap, landlock, none"):
        sandbox.backend()


def test_none_runs_unconfined_and_says_so_loudly(
    fakes: dict[str, FakeBackend | None],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("BOSUN_SANDBOX", "none")
    chosen = sandbox.backend()
    assert chosen.name == "none"
    assert any(r.levelname == "WARNING" and "UNCONFINED" in r.getMessage() for r in caplog.records)


def test_check_reports_every_backend(fakes: dict[str, FakeBackend | None]) -> None:
    fakes["bubblewrap"] = FakeBackend("bubblewrap", True)
    fakes["none"] = FakeBackend("none", True)
    report = sandbox.check()
    assert [name for name, _, _ in report] == ["bubblewrap", "landlock", "none"]
    assert report[0] == ("bubblewrap", True, "bubblewrap says yes")
    assert report[1][1] is False


# -- what each backend blocks, as `bosun sandbox check` reports it ------------------------


@pytest.mark.parametrize(
    "table",
    [
        _protections.bubblewrap(()),
        _protections.bubblewrap(("/opt/venv",)),
        *(_protections.landlock(abi, own) for abi in (None, 3, 6) for own in (False, True)),
        _protections.unconfined(),
    ],
)
def test_each_backend_answers_every_threat_once_in_order(
    table: tuple[sandbox.Protection, ...],
) -> None:
    assert tuple(p.threat for p in table) == THREATS
    assert all(p.verdict in ("blocked", "partly", "open") and p.how for p in table)


def test_what_blocks_host_unix_sockets_depends_on_the_backend() -> None:
    def verdicts(table: tuple[sandbox.Protection, ...]) -> dict[str, str]:
        return {p.threat: p.verdict for p in table}

    for abi in (None, 1, 5, 6):  # seccomp's rule does not wait for Landlock's scoping
        landlock = verdicts(_protections.landlock(abi, own_uid=False))
        assert landlock["host UNIX sockets"] == landlock["abstract UNIX sockets"] == "blocked"
    bwrap = verdicts(_protections.bubblewrap(()))
    assert bwrap["host UNIX sockets"] == "blocked"
    assert bwrap["abstract UNIX sockets"] == "partly"  # network=True shares the worker's
    assert verdicts(_protections.bubblewrap(("/srv/app",)))["host UNIX sockets"] == "partly"
    assert set(verdicts(_protections.unconfined()).values()) == {"open", "partly"}


def test_landlock_says_who_can_signal_the_worker() -> None:
    def processes(abi: int | None, own_uid: bool) -> str:
        table = _protections.landlock(abi, own_uid=own_uid)
        return next(p.how for p in table if p.threat == "host processes")

    assert "can signal the worker's processes" in processes(5, own_uid=False)
    assert "cannot signal" in processes(5, own_uid=True)
    assert "scoping" in processes(6, own_uid=False)


async def test_run_takes_exactly_one_of_argv_and_python() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        await sandbox.run()
    with pytest.raises(ValueError, match="exactly one"):
        await sandbox.run(["true"], python="pass")


def test_the_public_names() -> None:
    assert sorted(sandbox.__all__) == [
        "Backend",
        "Limits",
        "Protection",
        "Request",
        "Result",
        "SandboxUnavailable",
        "backend",
        "check",
        "check_network_hosts",
        "check_protections",
        "run",
    ]
