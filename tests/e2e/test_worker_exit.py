"""A stopped `bosun worker` exits, whatever the app left running: a thread its step started
(not a daemon, so Python would wait for it forever) keeps neither the process nor its pod or
serverless invocation alive past BOSUN_EXIT_TIMEOUT; the log names what was still running."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.helpers.processes import Env, summary, wait_exit

LINGERING = """
import threading

import bosun

never = threading.Event()


def linger_forever() -> None:
    never.wait()


app = bosun.App("lingering")


@app.step()
async def use_a_client() -> str:
    # What some SDK clients do, unasked: a background thread that is not a daemon.
    threading.Thread(target=linger_forever, name="lingering").start()
    return "done"


@app.workflow()
async def fine(ctx: bosun.Context) -> str:
    return await use_a_client()
"""


@pytest.mark.timeout(120)
def test_a_thread_the_app_left_running_does_not_keep_a_stopped_worker_alive(env: Env) -> None:
    app = env.tmp / "lingering.py"
    app.write_text(LINGERING)
    run_id = env.submit(app, "fine")
    env.extra["BOSUN_EXIT_TIMEOUT"] = "1"

    code = wait_exit(env.worker(app, "--until-idle"), 60, env)
    log = env.log()
    assert code == 0, log
    assert summary(log)["completed"] == 1, log
    assert "has not exited (BOSUN_EXIT_TIMEOUT): exiting now" in log, log
    assert "linger_forever" in log, log  # the stack dump names the lingering thread
    assert env.show(run_id)["status"] == "completed"


def test_a_bad_exit_timeout_is_refused_before_anything_starts(env: Env) -> None:
    env.extra["BOSUN_EXIT_TIMEOUT"] = "soon"
    done = env.bosun("worker", "nothing.py", "--database", env.url, "--until-idle")
    assert done.returncode == 2, done.stderr
    assert "BOSUN_EXIT_TIMEOUT must be a positive number of seconds, not 'soon'" in done.stderr


WATCHED = """
import threading
from bosun.cli.worker import _exit_watchdog

def linger_forever():
    threading.Event().wait()

threading.Thread(target=linger_forever).start()
_exit_watchdog(0.2, lambda: 7)
"""


def test_the_watchdog_exits_with_the_status_it_is_given() -> None:
    """The status the worker would have exited with (1 after an error) survives the
    watchdog's exit."""
    done = subprocess.run(
        [sys.executable, "-c", WATCHED], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 7, done.stderr
    assert "linger_forever" in done.stderr
