"""bosun sandbox benchmark: start-to-exit overhead of a trivial command in the sandbox.

Runs `true` (and `python3 -I -c pass`) N times each way, alternating in one process on one
event loop: plainly with `asyncio.create_subprocess_exec`, and through the bubblewrap
backend (`BubblewrapBackend().run(Request(...))`: new namespaces, tmpfs, seccomp, rlimits,
the init, and the teardown check that no process is left). A run is timed from the call to
the end of the whole process tree. The target: overhead at p50 (sandbox p50 - plain p50) of
`true` at most 30 ms. `true` also runs a third way, `egress`: with `network_hosts`, which adds
the egress proxy and the in-sandbox forwarder (bosun.sandbox.egress).

    .venv/bin/python bench/sandbox.py [--quick] [--runs N]

Exit status 1 when a sandboxed run failed (not when the target is missed: see the output).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from _common import percentile

from bosun.sandbox import Request
from bosun.sandbox.bwrap import BubblewrapBackend

TARGET_MS = 30.0
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"  # resolve both ways alike: the sandbox's PATH
COMMANDS = {"true": ["true"], "python3 -I -c pass": ["python3", "-I", "-c", "pass"]}


def resolved(argv: list[str]) -> list[str]:
    found = shutil.which(argv[0], path=SANDBOX_PATH)
    if found is None:
        raise SystemExit(f"{argv[0]} not found on {SANDBOX_PATH}")
    return [found, *argv[1:]]


async def plain(argv: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if await proc.wait() != 0:
        raise RuntimeError(f"plain {argv} failed")


def sandboxed(
    backend: BubblewrapBackend, hosts: tuple[str, ...] = ()
) -> Callable[[list[str]], Awaitable[None]]:
    async def run(argv: list[str]) -> None:
        result = await backend.run(Request(argv=argv, network_hosts=hosts))
        if not result.ok:
            raise RuntimeError(f"sandboxed {argv} failed: {result}")

    return run


async def timed(runner: Callable[[list[str]], Awaitable[None]], argv: list[str]) -> float:
    start = time.perf_counter()
    await runner(argv)
    return time.perf_counter() - start


async def measure(runs: int) -> dict[tuple[str, str], list[float]]:
    backend = BubblewrapBackend()
    ok, reason = backend.available()
    if not ok:
        raise SystemExit(f"bubblewrap is unavailable here: {reason}")
    samples: dict[tuple[str, str], list[float]] = {}
    for name, command in COMMANDS.items():
        modes = {"plain": plain, "sandbox": sandboxed(backend)}
        if name == "true":
            modes["egress"] = sandboxed(backend, ("example.com",))
        argv = resolved(command)
        for mode, runner in modes.items():  # warm-up: page cache, first probes
            for _ in range(3):
                await timed(runner, argv)
            samples[name, mode] = []
        for _ in range(runs):  # alternate, so both see the same machine
            for mode, runner in modes.items():
                samples[name, mode].append(await timed(runner, argv))
    return samples


def machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                model,
            )
    except OSError:
        pass
    bwrap = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout.strip()
    who = "root (bwrap started as nobody)" if os.geteuid() == 0 else "an unprivileged user"
    return (
        f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
        f"Python {platform.python_version()}, {bwrap}, running as {who}"
    )


def report(samples: dict[tuple[str, str], list[float]]) -> bool:
    print(f"| {'command':<20} | {'mode':<8} | runs | p50 (ms) | p99 (ms) | mean (ms) |")
    print(f"|{'-' * 22}|{'-' * 10}|------|----------|----------|-----------|")
    for (name, mode), values in samples.items():
        p50, p99 = percentile(values, 50) * 1e3, percentile(values, 99) * 1e3
        mean = sum(values) / len(values) * 1e3
        row = f"| {name:<20} | {mode:<8} | {len(values):>4} | {p50:>8.2f} | {p99:>8.2f} |"
        print(f"{row} {mean:>9.2f} |")
    print()
    passed = True
    for name in COMMANDS:
        plain_p50 = percentile(samples[name, "plain"], 50) * 1e3
        box_p50 = percentile(samples[name, "sandbox"], 50) * 1e3
        plain_p99 = percentile(samples[name, "plain"], 99) * 1e3
        box_p99 = percentile(samples[name, "sandbox"], 99) * 1e3
        print(
            f"{name}: overhead p50 {box_p50 - plain_p50:+.2f} ms ({box_p50 / plain_p50:.1f}x), "
            f"p99 {box_p99 - plain_p99:+.2f} ms ({box_p99 / plain_p99:.1f}x)"
        )
        if name == "true":
            passed = box_p50 - plain_p50 <= TARGET_MS
            egress_p50 = percentile(samples[name, "egress"], 50) * 1e3
            print(f"{name}: network_hosts adds p50 {egress_p50 - box_p50:+.2f} ms to the sandbox")
    verdict = "PASS" if passed else "FAIL"
    print(f"target: overhead p50 of `true` <= {TARGET_MS:.0f} ms: {verdict}")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (< 15 s)")
    parser.add_argument("--runs", type=int, help="runs of each command each way (default 200)")
    args = parser.parse_args()
    runs = args.runs or (30 if args.quick else 200)
    print(f"bosun sandbox benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}")
    print(f"runs: {runs} of each command each way, alternating\n")
    try:
        samples = asyncio.run(measure(runs))
    except RuntimeError as exc:
        print(f"FAILED: {exc}", flush=True)
        sys.exit(1)
    report(samples)


if __name__ == "__main__":
    main()
