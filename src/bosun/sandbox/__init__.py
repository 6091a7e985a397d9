"""Run code that agents wrote without trusting it: `await bosun.sandbox.run(...)`.

```python
from bosun import sandbox

result = await sandbox.run(python="print(open('in.txt').read().upper())",
                           files={"in.txt": b"hello"}, limits=sandbox.Limits(wall_seconds=5))
result.stdout  # b"HELLO\\n"
```

The backend is chosen at first use from `BOSUN_SANDBOX`:

- `auto` (default): bubblewrap if it works here, else the Landlock fallback, else refuse.
- `bubblewrap` or `landlock`: that one, or refuse.
- `none`: no sandbox at all (logged loudly once): the operator's explicit opt-out.

Refusing means raising `SandboxUnavailable`, whose message says how to enable a backend.
`network_hosts=[...]` opens HTTP(S) to those hosts only, through an egress proxy
(`bosun.egress.proxy`; bubblewrap only).
`bosun sandbox check` prints what each backend can do here, and why, and what each blocks
(`check_protections`). See docs/sandbox.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from bosun.egress.hosts import HostAllowList
from bosun.engine.hooks import current_observer
from bosun.sandbox.spec import Backend, Limits, Protection, Request, Result, SandboxUnavailable

__all__ = [
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

ENV_VAR = "BOSUN_SANDBOX"
SETTINGS = ("auto", "bubblewrap", "landlock", "none")
BACKENDS = ("bubblewrap", "landlock", "none")
PYTHON_ARG_BYTES = 64 * 1024  # longer snippets go to a file in the work directory
SNIPPET_FILE = ".bosun-snippet.py"
HOW_TO_ENABLE = (
    "To enable one: install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and allow "
    "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and "
    "user.max_user_namespaces > 0; in a container, a seccomp profile that allows "
    "clone(CLONE_NEWUSER)); or run on a kernel with Landlock (Linux >= 5.13) for the "
    "unprivileged fallback; or set BOSUN_SANDBOX=none to run tools unconfined, at your own "
    "risk. `bosun sandbox check` shows what is available here; see docs/sandbox.md."
)

log = logging.getLogger("bosun.sandbox")

# The backend chosen per BOSUN_SANDBOX value, and the backends built so far (each probes
# what it can do once): choosing happens at first use, not at import.
_chosen: dict[str, Backend] = {}
_built: dict[str, Backend | None] = {}


async def run(
    argv: list[str] | None = None,
    *,
    python: str | None = None,
    stdin: bytes | str | None = None,
    files: Mapping[str, bytes] | None = None,
    collect: list[str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    network: bool = False,
    network_hosts: Sequence[str] = (),
    limits: Limits = Limits(),  # noqa: B008 (frozen, hence safe to share)
) -> Result:
    """Run a command, or a Python snippet, in the sandbox and return what happened.

    Args:
        argv: the command and its arguments, e.g. `["sh", "-c", "ls | wc -l"]`.
        python: Python source to run with `python3 -I` instead of `argv` (exactly one).
        stdin: standard input (none when None).
        files: files to write into the work directory first, by relative path.
        collect: files to read back afterwards (relative paths or globs such as `out/*.csv`).
        workdir: a directory kept across calls (a session's); a fresh one when None.
        env: the whole environment of the command, on top of PATH, HOME and LANG.
        network: allow network access (none at all by default): the worker's whole network.
        network_hosts: instead, let the command reach only these hosts, over HTTP(S) through
            an egress proxy (`["pypi.org", "api.github.com:443", "*.example.com"]`; see
            `bosun.egress.hosts`); bubblewrap only. Empty: no network.
        limits: resource limits.

    Raises:
        SandboxUnavailable: no sandbox can run here (the message says how to enable one).
        ValueError: the request itself is malformed (both or neither of argv and python, a
            path leaving the work directory, a bad `network_hosts` entry...).
    """
    if (argv is None) == (python is None):
        raise ValueError("give exactly one of argv or python=")
    if network and network_hosts:
        raise ValueError("network=True is the whole network, network_hosts some hosts: give one")
    inputs = dict(files or {})
    if python is not None:
        code = python.encode()
        if len(code) <= PYTHON_ARG_BYTES:
            argv = ["python3", "-I", "-c", python]
        else:
            inputs[SNIPPET_FILE] = code
            argv = ["python3", "-I", SNIPPET_FILE]
    assert argv is not None
    request = Request(
        argv=list(argv),
        stdin=stdin.encode() if isinstance(stdin, str) else stdin,
        files=inputs,
        collect=list(collect or []),
        workdir=None if workdir is None else Path(workdir),
        env=dict(env or {}),
        network=network,
        network_hosts=tuple(HostAllowList.parse(network_hosts).entries),
        limits=limits,
    )
    result = await backend().run(request)
    current_observer.get().sandbox_ran(result.backend, _outcome(result), result.wall_seconds)
    return result


def _outcome(result: Result) -> str:
    """How a sandboxed run ended, for metrics: `ok`, the limit that stopped it, `killed` by
    a signal, or `error` (a non-zero exit)."""
    if result.limit is not None:
        return result.limit
    if result.exit_code == 0:
        return "ok"
    return "killed" if result.exit_code is None else "error"


def backend() -> Backend:
    """The backend `BOSUN_SANDBOX` asks for, chosen at first use and kept.

    Raises:
        SandboxUnavailable: none that the setting allows works here.
    """
    setting = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    chosen = _chosen.get(setting)
    if chosen is None:
        chosen = _choose(setting)
        _chosen[setting] = chosen
    return chosen


def _choose(setting: str) -> Backend:
    if setting not in SETTINGS:
        raise SandboxUnavailable(
            f"{ENV_VAR}={setting!r} is not one of {', '.join(SETTINGS)}. {HOW_TO_ENABLE}"
        )
    if setting == "none":
        log.warning(
            "%s=none: sandboxed tools run UNCONFINED, as this worker, with its network, "
            "files and environment. Agent-written code can do anything this process can.",
            ENV_VAR,
        )
        from bosun.sandbox.unconfined import UnconfinedBackend

        return UnconfinedBackend()
    reasons = []
    for name in ("bubblewrap", "landlock") if setting == "auto" else (setting,):
        candidate = _build(name)
        ok, reason = candidate.available() if candidate else (False, _missing(name))
        if ok and candidate is not None:
            log.info("sandbox backend: %s (%s)", name, reason)
            return candidate
        reasons.append(f"{name}: {reason}")
    raise SandboxUnavailable(
        "no sandbox is available here, so sandboxed tools refuse to run ("
        + "; ".join(reasons)
        + "). "
        + HOW_TO_ENABLE
    )


def check() -> list[tuple[str, bool, str]]:
    """Every backend with whether it works here and why (or why not), in one line each."""
    return _probe_each(lambda backend: backend.available())


def check_network_hosts() -> list[tuple[str, bool, str]]:
    """Every backend with whether it enforces `network_hosts` here, and how (or why not)."""
    return _probe_each(lambda backend: backend.network_hosts_support())


def check_protections() -> list[tuple[str, tuple[Protection, ...]]]:
    """Every backend with what it does about each of `spec.THREATS` here, working or not."""
    report = []
    for name in BACKENDS:
        candidate = _build(name)
        report.append((name, () if candidate is None else candidate.protections()))
    return report


def _probe_each(probe: Callable[[Backend], tuple[bool, str]]) -> list[tuple[str, bool, str]]:
    report = []
    for name in BACKENDS:
        candidate = _build(name)
        if candidate is None:
            report.append((name, False, _missing(name)))
            continue
        try:
            ok, reason = probe(candidate)
        except Exception as exc:  # a probe that breaks is a backend that is not available
            ok, reason = False, f"probe failed: {exc!r}"
        report.append((name, ok, reason))
    return report


def _build(name: str) -> Backend | None:
    """The backend called `name`, built once; None when its module is not there."""
    if name not in _built:
        _built[name] = _construct(name)
    return _built[name]


def _construct(name: str) -> Backend | None:
    if name == "bubblewrap":
        from bosun.sandbox.bwrap import BubblewrapBackend

        return BubblewrapBackend()
    if name == "none":
        from bosun.sandbox.unconfined import UnconfinedBackend

        return UnconfinedBackend()
    try:
        from bosun.sandbox.landlock import LandlockBackend
    except ImportError:
        return None
    landlock: Backend = LandlockBackend()
    return landlock


def _missing(name: str) -> str:
    return f"not part of this installation (no bosun.sandbox.{name} module)"


def _forget() -> None:
    """Drop the chosen and built backends (tests switch BOSUN_SANDBOX)."""
    _chosen.clear()
    _built.clear()
