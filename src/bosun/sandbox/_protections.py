"""What each backend does about each of `spec.THREATS`, as `bosun sandbox check` reports it.

Kept beside the code that enforces it (`bwrap`, `_bwrap_run`, `seccomp`; `landlock`,
`_launch`; `unconfined`), and said in the same words as docs/sandbox.md. The escape battery
(`tests/e2e/test_sandbox_escapes.py`, `test_sandbox_fallback.py`) is what holds each
`blocked` to account.
"""

from __future__ import annotations

from bosun.sandbox.spec import Protection


def bubblewrap(read_only_paths: tuple[str, ...]) -> tuple[Protection, ...]:
    """bubblewrap's namespaces, read-only system view, seccomp filter and rlimits."""
    extra = (
        f", and the read_only_paths given ({', '.join(read_only_paths)})" if read_only_paths else ""
    )
    return (
        Protection(
            "network",
            "blocked",
            "a new, empty network namespace; network=True shares the worker's whole network, "
            "network_hosts goes through the egress proxy",
        ),
        Protection(
            "host UNIX sockets",
            "partly" if read_only_paths else "blocked",
            "its own mount namespace shows /usr, /bin, /sbin, /lib* and a few /etc files"
            f"{extra}: no /run, /var or host /tmp, so no socket of the host by path (with "
            "network_hosts, the egress proxy's own)"
            + ("; a socket under read_only_paths would be reachable" if read_only_paths else ""),
        ),
        Protection(
            "abstract UNIX sockets",
            "partly",
            "its own network namespace has none of the host's; network=True shares the "
            "worker's, whose abstract sockets are then reachable",
        ),
        Protection(
            "reading host files",
            "blocked",
            "only the system is there (/usr, /bin, /sbin, /lib*, a few /etc files), "
            "read-only: no home, /root, /var or worker files",
        ),
        Protection(
            "writing host files",
            "blocked",
            "/ is read-only; /work, /tmp and /dev/shm are size-capped tmpfs of its own",
        ),
        Protection(
            "host processes",
            "blocked",
            "a PID namespace holds only its own processes; a new session (no TIOCSTI)",
        ),
        Protection(
            "privileges",
            "blocked",
            "a user namespace, uid 65534, no capabilities; a root worker starts it as nobody",
        ),
        Protection(
            "kernel attack surface",
            "partly",
            "seccomp denies ptrace, mount, bpf, perf, keyrings, io_uring, new user "
            "namespaces and more; the rest of the kernel stays reachable",
        ),
        Protection(
            "resource use",
            "partly",
            "per-process rlimits (CPU, memory, processes, file size), size-capped tmpfs, a "
            "wall-clock kill of the namespace; memory and CPU are per process, not per tree",
        ),
    )


def landlock(abi: int | None, own_uid: bool) -> tuple[Protection, ...]:
    """The fallback's Landlock rules, seccomp filter and rlimits, with no namespace.

    Args:
        abi: the kernel's Landlock ABI, None when there is none.
        own_uid: a root worker gives each run a uid of its own.
    """
    scoped = abi is not None and abi >= 6
    if scoped:
        signals = "Landlock scoping stops its signals at the sandbox's edge"
    elif own_uid:
        signals = "its own uid cannot signal the worker's processes"
    else:
        signals = "before Landlock ABI 6 it can signal the worker's processes (the same uid)"
    return (
        Protection(
            "network",
            "blocked",
            "seccomp refuses socket() of every family (and Landlock TCP rules from ABI 4); "
            "network=True opens the worker's whole network, network_hosts is refused",
        ),
        Protection(
            "host UNIX sockets",
            "blocked",
            "seccomp refuses socket(AF_UNIX) and datagram socketpairs, with or without "
            "network (Landlock does not check connect())",
        ),
        Protection(
            "abstract UNIX sockets",
            "blocked",
            "the same seccomp rule" + (", and Landlock scoping" if scoped else ""),
        ),
        Protection(
            "reading host files",
            "partly",
            "Landlock opens only /usr, /lib*, /bin, /sbin, a few /etc files and its own work "
            "and temp directories; stat() still sees every path's name and metadata",
        ),
        Protection(
            "writing host files",
            "blocked",
            "Landlock: its own work and temp directories only"
            + ("" if own_uid else "; seccomp denies chmod, chown, xattrs and times by path"),
        ),
        Protection(
            "host processes",
            "partly",
            "no PID namespace: other processes' ids are visible; ptrace is denied (seccomp, "
            f"Landlock); {signals}",
        ),
        Protection(
            "privileges",
            "blocked",
            "no_new_privs; "
            + ("a uid of its own per run, no capabilities" if own_uid else "the worker's uid"),
        ),
        Protection(
            "kernel attack surface",
            "partly",
            "seccomp denies ptrace, mount, bpf, perf, keyrings, io_uring, namespaces, setsid "
            "and more; the rest of the kernel stays reachable",
        ),
        Protection(
            "resource use",
            "partly",
            "per-process rlimits (CPU, memory, processes, file size); disk measured every "
            "0.5 s (can overshoot); a wall-clock kill of its session",
        ),
    )


def unconfined() -> tuple[Protection, ...]:
    """`BOSUN_SANDBOX=none`: nothing but the bookkeeping."""
    as_worker = "runs as the worker, with everything the worker may do"
    return (
        Protection("network", "open", "the worker's whole network, whatever the request says"),
        Protection("host UNIX sockets", "open", as_worker),
        Protection("abstract UNIX sockets", "open", as_worker),
        Protection("reading host files", "open", as_worker),
        Protection("writing host files", "open", as_worker),
        Protection("host processes", "open", as_worker),
        Protection("privileges", "open", "the worker's uid and capabilities"),
        Protection("kernel attack surface", "open", "no seccomp filter"),
        Protection(
            "resource use",
            "partly",
            "only the wall-clock kill of its process group and the output caps",
        ),
    )
