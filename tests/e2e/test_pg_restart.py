"""PostgreSQL restarted under load: workers ride out the outage on their own, every run
completes once the server is back, a client gets a clear StoreUnavailable while it is down
(not a hang) and succeeds afterwards, and only steps in flight at the outage run again.

The server restarted is a throwaway cluster of this test's own (initdb on a free port), never
the shared one on :5432.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tests.e2e.five_steps_checks import APP, STEPS, assert_all_completed, step_starts
from tests.e2e.five_steps_checks import wait_all_completed as wait_all
from tests.helpers.pg_servers import ScratchPostgres, scratch_postgres
from tests.helpers.processes import PgEnv, stop_procs

from bosun.errors import StoreUnavailable
from bosun.loader import load_app

T = TypeVar("T")
STEP_SECONDS = 0.1
RUNS = 100
WORKERS = 2
CONCURRENCY = 16
LEASE_TTL = 2.0
OUTAGE = 3.0  # seconds the server stays down (longer if a client call is still pending)
# A hang guard on each client call: one still pending after this shows as TimeoutError
# rather than the StoreUnavailable expected (the store's own pool wait is 5 s).
CLIENT_CALL_LIMIT = 20.0
COMPLETE_WITHIN = 60.0  # every run done this long after the server is back


@pytest.fixture
def scratch_pg() -> Iterator[ScratchPostgres]:
    """A fresh PostgreSQL cluster on a free port, stopped and deleted afterwards."""
    with scratch_postgres() as server:
        yield server


async def _timed(call: Awaitable[T], limit: float) -> tuple[float, T | None, BaseException | None]:
    """Await `call` for at most `limit` s: (seconds taken, its result, what it raised).
    Running past the limit shows as TimeoutError."""
    began = time.monotonic()
    try:
        result = await asyncio.wait_for(call, limit)
    except BaseException as exc:  # the caller judges every outcome
        return time.monotonic() - began, None, exc
    return time.monotonic() - began, result, None


@dataclass
class Load:
    """The worker processes of one test."""

    env: PgEnv
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> None:
        for i in range(WORKERS):
            self.workers.append(
                self.env.worker(
                    APP,
                    "--lease-ttl",
                    str(LEASE_TTL),
                    "--concurrency",
                    str(CONCURRENCY),
                    name=f"w{i}",
                )
            )

    def logs(self) -> str:
        return "\n".join(f"--- w{i} ---\n{self.env.log(f'w{i}')[-4000:]}" for i in range(WORKERS))

    def check_alive(self) -> None:
        for i, proc in enumerate(self.workers):
            assert proc.poll() is None, (
                f"worker w{i} exited ({proc.returncode}) instead of riding out the outage:\n"
                f"{self.logs()}"
            )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fast", "immediate"])
@pytest.mark.timeout(150)
async def test_postgres_restart_mid_load_loses_nothing(
    scratch_pg: ScratchPostgres, tmp_path: Path, mode: str
) -> None:
    env = PgEnv(
        tmp=tmp_path,
        db_path=tmp_path / "unused.db",
        effects=tmp_path / "effects.txt",
        database=scratch_pg.url,
    )
    env.extra["BOSUN_E2E_STEP_SECONDS"] = str(STEP_SECONDS)
    load = Load(env)
    # Two clients: `app` submits one run at a time (one pooled connection) and calls during
    # the outage; `busy` submits many at once (several pooled connections) and sits the
    # outage out. Both must submit at the first try once the server is back.
    app, busy = load_app(str(APP)), load_app(str(APP))
    app.use_database(env.url)
    busy.use_database(env.url)
    try:
        async with app, busy:  # migrates the scratch database
            inputs = {(await app.start("five_steps", n=n)).run_id: n for n in range(RUNS // 2)}
            handles = await asyncio.gather(
                *(busy.start("five_steps", n=n) for n in range(RUNS // 2, RUNS))
            )
            inputs.update({h.run_id: n for n, h in enumerate(handles, start=RUNS // 2)})
            load.start()
            await _until_completed(env, RUNS // 4, load)

            stopped_at, back_at, during = await _outage(app, scratch_pg, mode, load)
            print("\nwhile PostgreSQL was down: " + _outcomes(during))
            after = []
            for n, (who, client) in enumerate((("app", app), ("busy", busy)), start=RUNS):
                took, handle, error = await _timed(
                    client.start("five_steps", n=n), CLIENT_CALL_LIMIT
                )
                after.append((f"the {who} client submitting", took, error))
                if handle is not None:
                    inputs[handle.run_id] = n
            print("once PostgreSQL was back: " + _outcomes(after))

            all_done = await wait_all(
                env, len(inputs), COMPLETE_WITHIN, load.check_alive, load.logs
            )
        load.check_alive()
    finally:
        stop_procs(env.procs)

    runs = assert_all_completed(env, inputs)
    in_flight, repeated, early = _check_repeats(env, runs, stopped_at, back_at)
    assert in_flight, "no run was in flight at the outage: the test exercised nothing"
    for i in range(WORKERS):
        logged = env.log(f"w{i}")  # JSON lines: the workers' output is not a terminal
        assert '"level": "WARNING"' in logged or '"level": "ERROR"' in logged, (
            f"worker w{i} logged nothing about the outage:\n{env.log(f'w{i}')[-2000:]}"
        )
    print(
        f"PostgreSQL restart (-m {mode}, down {back_at - stopped_at:.1f} s) under {RUNS} runs x "
        f"{STEPS} steps on {WORKERS} workers (lease TTL {LEASE_TTL} s): {in_flight} run(s) in "
        f"flight, {repeated} step(s) ran twice ({early} of them first started before the "
        f"server was back); all {len(inputs)} runs completed {all_done - back_at:.1f} s after "
        "the server was back"
    )
    problems = [
        f"{what} while PostgreSQL was down got {error!r} after {took:.1f} s; expected "
        "StoreUnavailable naming PostgreSQL, not a hang"
        for what, took, error in during
        if not isinstance(error, StoreUnavailable) or "PostgreSQL" not in str(error)
    ] + [
        f"{what} once PostgreSQL was back got {error!r} after {took:.2f} s"
        for what, took, error in after
        if error is not None
    ]
    assert not problems, "\n".join(problems)


async def _until_completed(env: PgEnv, count: int, load: Load) -> None:
    give_up = time.monotonic() + 60
    while env.count("SELECT count(*) FROM runs WHERE status = 'completed'") < count:
        load.check_alive()
        assert time.monotonic() < give_up, f"no progress before the restart:\n{load.logs()}"
        await asyncio.sleep(0.05)


async def _outage(
    app: Any, server: ScratchPostgres, mode: str, load: Load
) -> tuple[float, float, list[tuple[str, float, BaseException | None]]]:
    """Stop the server, try clients against it, start it again after OUTAGE seconds (or once
    the clients' calls have ended). Returns (stopped at, back at, the clients' outcomes)."""
    await asyncio.to_thread(server.stop, mode)
    stopped_at = time.time()
    limit = CLIENT_CALL_LIMIT
    fresh = load_app(str(APP))
    fresh.use_database(app.database)
    took, _, error = await _timed(fresh.open(), limit)
    clients = [("a new client opening", took, error)]
    await fresh.close()
    # The first tries may meet pooled connections the stop just broke and fail at once; try
    # until one had to wait for a connection (or 4 times) to see that path too.
    for attempt in range(1, 5):
        took, _, error = await _timed(app.start("five_steps", n=-attempt), limit)
        clients.append((f"a connected client submitting (try {attempt})", took, error))
        if took > 0.5:
            break
    await asyncio.sleep(max(0.0, stopped_at + OUTAGE - time.time()))
    load.check_alive()
    await asyncio.to_thread(server.start)
    return stopped_at, time.time(), clients


def _check_repeats(
    env: PgEnv, runs: dict[str, dict[str, Any]], stopped_at: float, back_at: float
) -> tuple[int, int, int]:
    """Only runs in flight at the outage repeat a step, at most one each, at most twice.
    Returns (runs in flight, steps repeated, of which first started before the server was
    back)."""
    starts = step_starts(env)
    # In flight: started before the server was back, finished after it went away.
    in_flight = {
        r for r in runs if starts[r, 1][0].at < back_at and runs[r]["finished_at"] >= stopped_at
    }
    repeated = {key: times for key, times in starts.items() if len(times) > 1}
    per_run: dict[str, int] = {}
    for (run_id, step), times in repeated.items():
        assert len(times) == 2, f"run {run_id} step {step} started {len(times)}x: {times}"
        assert run_id in in_flight, (
            f"run {run_id} step {step} started twice, yet the run was not in flight at the "
            f"outage: {times}"
        )
        per_run[run_id] = per_run.get(run_id, 0) + 1
        assert per_run[run_id] == 1, f"run {run_id} repeated more than one step"
    early = sum(times[0].at < back_at for times in repeated.values())
    return len(in_flight), len(repeated), early


def _outcomes(clients: list[tuple[str, float, BaseException | None]]) -> str:
    return "; ".join(
        f"{what}: {'ok' if e is None else type(e).__name__} in {took:.2f} s"
        for what, took, e in clients
    )
