"""kill -9 a worker while a wrapped OpenAI Agents SDK agent waits for its model: the worker
that takes the run over replays the journal, and the model server's request counts show that
no answered model call is made again and no tool runs twice."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator

import pytest
from tests.helpers.openai_wire import FakeModelServer, Turn, call, say, serving
from tests.helpers.processes import APPS, Env, wait_exit
from tests.helpers.wait import wait_for

APP = APPS / "openai_agents_trip.py"
LEASE_TTL = 2.0


def _script(turn: Turn) -> object:
    """Turn 1: two weather calls at once; turn 2: a booking; turn 3: the answer."""
    if len(turn.outputs) == 0:
        return call(("weather", {"city": "Paris"}), ("weather", {"city": "Tokyo"}))
    if len(turn.outputs) == 2:
        return call(("book", {"city": "Tokyo"}))
    return say(f"Booked: {turn.outputs[-1]}")


@pytest.fixture
def fake() -> Iterator[FakeModelServer]:
    with serving(_script) as server:  # type: ignore[arg-type]
        yield server


@pytest.mark.timeout(120)
def test_a_kill_9_mid_run_resumes_without_calling_the_model_again(
    world: Env, fake: FakeModelServer
) -> None:
    world.extra.update(
        {
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_AGENTS_DISABLE_TRACING": "1",
        }
    )
    fake.hold = lambda turn: len(turn.outputs) == 3  # the third model call waits
    run_id = world.submit(APP, "trip", {"question": "Where should I go?"})
    worker_a = world.worker(APP, "--lease-ttl", str(LEASE_TTL), name="a")
    wait_for(lambda: fake.count() == 3, 60, "worker A's third model call to reach the server")
    worker_a.send_signal(signal.SIGKILL)
    assert worker_a.wait(10) == -signal.SIGKILL
    fake.hold = None
    fake.released.set()  # the killed worker's call is answered into a closed socket

    worker_b = world.worker(APP, "--lease-ttl", str(LEASE_TTL), name="b")
    wait_for(
        lambda: world.count("SELECT count(*) FROM runs WHERE status = 'completed'") == 1,
        60,
        "worker B to finish the run",
    )
    worker_b.send_signal(signal.SIGTERM)
    assert wait_exit(worker_b, 15, world, "b") == 0, world.log("b")

    run = world.show(run_id)
    assert run["attempts"] >= 2, run
    assert run["result"] == "Booked: trip to Tokyo #42", run
    # By the tool results each request carried: the two answered calls were made once; only
    # the one in flight at the kill was made again, by worker B.
    turns = Counter(len(r.turn.outputs) for r in fake.requests)
    assert turns == {0: 1, 2: 1, 3: 2}, turns
    # Each tool ran once, though worker B replayed the turns that called them.
    assert sorted(world.effect_lines()) == ["book:Tokyo", "weather:Paris", "weather:Tokyo"]
    names = [e["name"] for e in run["journal"] if e["kind"] in ("llm", "tool")]
    assert sorted(names) == ["llm:gpt-test"] * 3 + ["tool:book"] + ["tool:weather"] * 2
