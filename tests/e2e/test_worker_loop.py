"""`bosun worker --loop`: the event loop a worker runs runs on (uvloop by default when
installed, as the dev extra installs it), and a clear error for a loop that cannot be had."""

from __future__ import annotations

import pytest
from tests.helpers.processes import APPS, Env, wait_exit

APP = str(APPS / "loop_probe.py")


@pytest.mark.parametrize(
    ("args", "environ", "expected"),
    [
        ([], {}, "uvloop"),
        (["--loop", "asyncio"], {}, "asyncio"),
        (["--loop", "uvloop"], {}, "uvloop"),
        ([], {"BOSUN_LOOP": "asyncio"}, "asyncio"),
    ],
    ids=["auto", "asyncio", "uvloop", "from-environment"],
)
def test_runs_execute_on_the_chosen_loop(
    env: Env, args: list[str], environ: dict[str, str], expected: str
) -> None:
    run_id = env.submit(APP, "probe")
    env.extra.update(environ)
    assert wait_exit(env.worker(APP, "--until-idle", *args), 30, env) == 0
    record = env.show(run_id)
    assert (record["status"], record["result"]) == ("completed", expected), record


def test_an_unknown_loop_is_refused(env: Env) -> None:
    done = env.bosun("worker", APP, "--loop", "trio", "--database", env.url)
    assert done.returncode == 2
    message = " ".join(done.stderr.replace("│", " ").split())  # unboxed, unwrapped
    assert "'trio' is not one of 'auto', 'asyncio', 'uvloop'" in message, done.stderr
