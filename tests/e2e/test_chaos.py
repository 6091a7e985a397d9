"""Chaos: four `bosun worker` processes on one PostgreSQL database, one of them SIGKILLed about
every second (and restarted at once) while 500 five-step runs are submitted and executed;
once directly and once through PgBouncer's transaction pooling.

Every run must complete with the right result; a step whose completion was journaled must
never run again, so a step may run more than once only if an earlier start of it was cut
short by a kill of the process running it, or by the lease of a living process lapsing
(heartbeats starved past the 2 s TTL on a busy machine), which that process must have
logged; nothing may be left `running`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from tests.e2e.five_steps_checks import APP, STEPS, Start, assert_all_completed, step_starts
from tests.e2e.five_steps_checks import wait_all_completed as wait_all
from tests.helpers.processes import PgEnv, wait_exit
from tests.helpers.wait import wait_for

from bosun.loader import load_app

RUNS = 500
BATCH = 25
SUBMIT_SECONDS = 8.0  # submissions are spread over this long, kills going on meanwhile
STEP_SECONDS = 0.1  # each step sleeps this long: runs are in flight when a kill comes
WORKERS = 4
CONCURRENCY = 16
LEASE_TTL = 2.0
KILLS = 10
KILL_EVERY = 1.0
FINISH_WITHIN = 60.0  # after the last kill, every run must be done by then (a hang guard)
_WORKER_LINE = re.compile(r"worker [^:\s]+:(\d+):\S+ \(version ")  # a process's first line
# A lease this process lost: the heartbeat found it gone, a step found it lapsed, or a write
# found another owner (not "taken over, its previous lease expired": that is the new owner).
_LOST = re.compile(r"run ([0-9a-f]{32}): .*(lease lost|lease lapsed|another worker owns it)")


@dataclass
class Chaos:
    """The worker processes, the kills so far and the runs submitted."""

    env: PgEnv
    workers: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: list[tuple[float, int]] = field(default_factory=list)  # (time, pid)
    inputs: dict[str, int] = field(default_factory=dict)

    def start(self, slot: int) -> None:
        self.workers[slot] = self.env.worker(
            APP,
            "--lease-ttl",
            str(LEASE_TTL),
            "--concurrency",
            str(CONCURRENCY),
            name=f"w{slot}",
        )

    def lease_losses(self) -> dict[int, set[str]]:
        """The runs each worker process logged losing its lease on, by pid. A slot's log
        holds its processes one after another, each starting with its `worker <id>` line."""
        lost: dict[int, set[str]] = defaultdict(set)
        for slot in self.workers:
            pid = 0
            for line in self.env.log(f"w{slot}").splitlines():
                try:
                    message = str(json.loads(line)["message"])
                except (ValueError, KeyError, TypeError):
                    continue
                started = _WORKER_LINE.match(message)
                if started:
                    pid = int(started.group(1))
                elif run := _LOST.match(message):
                    lost[pid].add(run.group(1))
        return lost

    def logs(self) -> str:
        return "\n".join(
            f"--- w{slot} ---\n{self.env.log(f'w{slot}')[-3000:]}" for slot in self.workers
        )

    def check_alive(self) -> None:
        for slot, proc in self.workers.items():
            assert proc.poll() is None, f"worker w{slot} exited by itself:\n{self.logs()}"

    async def kill_one(self, rng: random.Random) -> None:
        """SIGKILL a random worker and start its replacement at once."""
        self.check_alive()
        slot = rng.randrange(WORKERS)
        victim = self.workers[slot]
        victim.send_signal(signal.SIGKILL)
        self.kills.append((time.time(), victim.pid))
        assert await asyncio.to_thread(victim.wait, 10) == -signal.SIGKILL
        self.start(slot)


@pytest.fixture(params=["direct", "pgbouncer"])
def chaos_env(request: pytest.FixtureRequest) -> PgEnv:
    """The database directly, or through PgBouncer's transaction pooling (LISTEN on a
    direct connection)."""
    env: PgEnv = request.getfixturevalue("pg_env" if request.param == "direct" else "pgbouncer_env")
    return env


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_sigkill_every_second_loses_no_run_and_repeats_only_interrupted_steps(
    chaos_env: PgEnv,
) -> None:
    env = chaos_env
    env.extra["BOSUN_E2E_STEP_SECONDS"] = str(STEP_SECONDS)
    seed = int(os.environ.get("BOSUN_CHAOS_SEED", str(time.time_ns() % 100_000)))
    rng = random.Random(seed)
    print(f"\nchaos seed {seed} (set BOSUN_CHAOS_SEED to replay the same kill order)")
    chaos = Chaos(env)
    for slot in range(WORKERS):
        chaos.start(slot)

    app = load_app(str(APP))
    app.use_database(env.url)
    async with app:

        async def submit() -> None:
            for start in range(0, RUNS, BATCH):
                ns = range(start, start + BATCH)
                handles = await asyncio.gather(*(app.start("five_steps", n=n) for n in ns))
                chaos.inputs.update({h.run_id: n for h, n in zip(handles, ns, strict=True)})
                await asyncio.sleep(SUBMIT_SECONDS / (RUNS / BATCH))

        submitting = asyncio.create_task(submit())
        while not (submitting.done() and len(chaos.kills) >= KILLS):
            await asyncio.sleep(KILL_EVERY)
            await chaos.kill_one(rng)
        await submitting  # re-raises a submission error
    await wait_all(env, RUNS, FINISH_WITHIN, chaos.check_alive, chaos.logs)

    chaos.check_alive()
    # A replacement started by the last kills may still be importing; SIGTERM kills such a
    # process outright (it holds nothing yet). The drain under test needs a running worker.
    for slot, proc in chaos.workers.items():
        started = f":{proc.pid}:"
        log = f"w{slot}"
        wait_for(lambda s=started, n=log: s in env.log(n), 30, f"{log} to start")
    for proc in chaos.workers.values():
        proc.send_signal(signal.SIGTERM)
    for slot, proc in chaos.workers.items():
        code = await asyncio.to_thread(wait_exit, proc, 30, env, f"w{slot}")
        assert code == 0, f"w{slot} did not drain cleanly:\n{chaos.logs()}"

    runs = assert_all_completed(env, chaos.inputs)
    starts = step_starts(env)
    repeated, cut_short = _check_repeats(starts, chaos.kills, chaos.lease_losses())
    waits = _recovery_waits(starts, chaos.kills)
    first_submit = min(float(r["created_at"]) for r in runs.values())
    finished = max(float(r["finished_at"]) for r in runs.values())
    last_kill = chaos.kills[-1][0]
    assert waits, "no kill ever hit a run in flight: the test exercised nothing"
    print(
        f"chaos: {RUNS} runs x {STEPS} steps on {WORKERS} workers (concurrency {CONCURRENCY}, "
        f"lease TTL {LEASE_TTL} s), {len(chaos.kills)} SIGKILLs; all completed "
        f"{finished - first_submit:.1f} s after the first submission and "
        f"{finished - last_kill:.2f} s after the last kill; {repeated} step start(s) repeated; "
        f"{cut_short} run(s) cut short by kills; {len(waits)} run(s) went on elsewhere after a "
        f"kill, kill -> next step start: max {max(waits):.2f} s, "
        f"median {sorted(waits)[len(waits) // 2]:.2f} s"
    )


def _check_repeats(
    starts: dict[tuple[str, int], list[Start]],
    kills: list[tuple[float, int]],
    lease_losses: dict[int, set[str]],
) -> tuple[int, int]:
    """A step starts again only after a kill or a lapsed lease cut its earlier start short:
    every start but the last must be by a process killed later or that logged losing the
    run's lease, and a kill cuts short at most one step of each run it held (progress is
    journaled before each step starts). At most CONCURRENCY of those runs were executing
    code; a run whose last step had returned may also lose that step, because its slot went
    to the next run while its outcome (with the last step's result) committed. Returns
    (repeated starts, runs cut short by kills)."""
    killed_at = {pid: at for at, pid in kills}
    cut_short: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    repeated = 0
    for (run_id, step), times in starts.items():
        assert len(times) <= 1 + len(kills), f"run {run_id} step {step} ran {len(times)}x"
        repeated += len(times) - 1
        for early in times[:-1]:
            if run_id in lease_losses.get(early.pid, ()):
                continue  # its process logged the lapse; a kill may not have come at all
            assert early.pid in killed_at and early.at <= killed_at[early.pid], (
                f"run {run_id} step {step} started again although its start by pid "
                f"{early.pid} was not cut short by a kill or a lost lease: {times}; "
                f"lease losses logged by pid: {dict(lease_losses)}"
            )
            cut_short[early.pid][run_id].append(step)
    for pid, runs in cut_short.items():
        executing = {run_id: steps for run_id, steps in runs.items() if STEPS not in steps}
        assert len(executing) <= CONCURRENCY, (
            f"the kill of pid {pid} cut short {len(executing)} runs before their last step, "
            f"more than the {CONCURRENCY} a worker executes at once: {dict(executing)}"
        )
        for run_id, steps in runs.items():
            assert len(steps) == 1, (
                f"the kill of pid {pid} lost steps {sorted(steps)} of run {run_id}: only the "
                "step in flight may be lost"
            )
    return repeated, sum(map(len, cut_short.values()))


def _recovery_waits(
    starts: dict[tuple[str, int], list[Start]], kills: list[tuple[float, int]]
) -> list[float]:
    """For each run a killed process had been executing and that went on elsewhere: seconds
    from the kill to its next step start (the next journal write comes just before it)."""
    by_run: dict[str, list[Start]] = defaultdict(list)
    for times in starts.values():
        for start in times:
            by_run[start.run_id].append(start)
    waits = []
    for run_starts in by_run.values():
        for at, pid in kills:
            if any(s.pid == pid for s in run_starts):
                later = [s.at for s in run_starts if s.at > at and s.pid != pid]
                if later:
                    waits.append(min(later) - at)
    return waits
