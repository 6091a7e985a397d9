"""Bad input to the CLI: a non-zero exit, a message that says what is wrong, and nothing
written to the database."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest
from tests.helpers.processes import APPS, BOSUN, Env

APP = str(APPS / "typed.py")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ["run", APP, "nope", "--input", "{}"],
            2,
            "no workflow named 'nope' is registered (known: count_up)",
            id="unknown-workflow",
        ),
        pytest.param(
            ["run", APP, "count_up", "--input", "{count: 1"],
            2,
            "--input is not valid JSON",
            id="input-not-json",
        ),
        pytest.param(
            ["run", APP, "count_up", "--input", '{"count": 1, "label": NaN}'],
            2,
            "--input: label is NaN, which JSON cannot hold",
            id="input-nan",
        ),
        pytest.param(
            ["run", APP, "count_up", "--input", '{"count": 1e999}'],
            2,
            "--input: count is Infinity, which JSON cannot hold",
            id="input-overflowing-number",
        ),
        pytest.param(
            ["run", APP, "count_up", "--input", '{"count": "many"}'],
            2,
            "argument 'count'",
            id="wrong-type",
        ),
        pytest.param(
            ["run", APP, "count_up", "--input", '{"count": 1, "colour": "red"}'],
            2,
            "unexpected keyword argument 'colour'",
            id="unknown-argument",
        ),
        pytest.param(
            ["run", APP, "count_up"],
            2,
            "missing a required argument: 'count'",
            id="missing-argument",
        ),
        pytest.param(["run"], 2, "Missing argument", id="no-app-ref"),
        pytest.param(
            ["run", "no/such/app.py", "count_up", "--input", "{}"],
            2,
            "no such file",
            id="app-file-missing",
        ),
        pytest.param(
            ["run", "no_such_package.module:app", "count_up", "--input", "{}"],
            2,
            "cannot import no_such_package.module",
            id="app-module-missing",
        ),
    ],
)
def test_bad_run_arguments_fail_before_touching_the_database(
    env: Env, args: list[str], code: int, message: str
) -> None:
    done = env.bosun(*args, "--database", env.url)
    assert done.returncode == code, done
    assert message in done.stderr, done.stderr
    assert not env.db_path.exists(), "the database was created for a command that failed"


@pytest.mark.parametrize("garbage", [bytes(range(256)) * 16, b"not a database, honest\n" * 300])
def test_a_file_that_is_not_a_database_is_named_and_left_alone(env: Env, garbage: bytes) -> None:
    env.db_path.write_bytes(garbage)
    before = sorted(p.name for p in env.tmp.iterdir())
    done = env.bosun("run", APP, "count_up", "--input", '{"count": 1}', "--database", env.url)
    assert done.returncode == 1, done
    assert str(env.db_path) in done.stderr and "not a database" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert env.db_path.read_bytes() == garbage
    assert sorted(p.name for p in env.tmp.iterdir()) == before


def test_a_locked_database_fails_fast_saying_so(env: Env) -> None:
    env.ok("db", "upgrade", "--database", env.url)
    holder = sqlite3.connect(env.db_path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # held until the command has ended
        done = env.bosun(
            "run",
            APP,
            "count_up",
            "--input",
            '{"count": 1}',
            "--database",
            f"{env.url}?busy_timeout_ms=300",
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 1, done
    assert str(env.db_path) in done.stderr and "locked" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert env.count("SELECT count(*) FROM runs") == 0


@pytest.mark.parametrize(
    "command",
    [["show"], ["cancel"], ["resume"], ["signal", "go"]],
    ids=["show", "cancel", "resume", "signal"],
)
def test_unknown_run_id_is_a_clear_error(env: Env, command: list[str]) -> None:
    env.ok("db", "upgrade", "--database", env.url)
    verb, *rest = command
    done = env.bosun("runs", verb, "no-such-run", *rest, "--database", env.url)
    assert done.returncode == 1, done
    assert "no run with id 'no-such-run'" in done.stderr, done.stderr
    assert env.count("SELECT count(*) FROM runs") == 0
    assert env.count("SELECT count(*) FROM signals") == 0


def test_signalling_a_completed_run_is_refused(env: Env) -> None:
    out = env.ok(
        "run",
        APP,
        "count_up",
        "--input",
        '{"count": 3}',
        "--worker",
        "--json",
        "--database",
        env.url,
    )
    report = json.loads(out)
    assert report["result"] == "n=6"
    done = env.bosun(
        "runs", "signal", report["run_id"], "go", "--payload", "1", "--database", env.url
    )
    assert done.returncode != 0, done
    assert f"run {report['run_id']} is completed" in done.stderr, done.stderr
    assert env.count("SELECT count(*) FROM signals") == 0
    assert env.show(report["run_id"])["status"] == "completed"


def test_worker_with_a_url_from_the_environment_says_where_it_came_from(env: Env) -> None:
    args = [BOSUN, "run", APP, "count_up", "--input", '{"count": 1}', "--worker"]
    exported = {**env.environ(), "BOSUN_URL": "http://127.0.0.1:9", "BOSUN_API_KEY": "k"}
    done = subprocess.run(args, env=exported, cwd=env.tmp, capture_output=True, text=True)
    assert done.returncode == 2, done
    assert "cannot be used with --url" in done.stderr
    assert "BOSUN_URL=http://127.0.0.1:9" in done.stderr and "unset BOSUN_URL" in done.stderr
    typed = env.bosun(*args[1:], "--url", "http://127.0.0.1:9")
    assert typed.returncode == 2 and "cannot be used with --url" in typed.stderr
    assert "BOSUN_URL" not in typed.stderr  # typed, not inherited: nothing to unset


def test_a_repeated_idempotency_key_says_the_run_already_existed(env: Env) -> None:
    args = ("run", APP, "count_up", "--input", '{"count": 1}', "--idempotency-key", "k-1")
    first = env.bosun(*args, "--database", env.url)
    assert first.returncode == 0 and "started" in first.stdout, first
    again = env.bosun(*args, "--database", env.url)
    assert again.returncode == 0, again
    assert "already existed" in again.stdout and "started" not in again.stdout.split(":")[0]
    assert "(status queued)" in again.stdout  # nobody works on it: it is still queued
    assert first.stdout.split()[1] == again.stdout.split()[1]  # the same run id


def test_run_wait_without_a_worker_says_so_and_finishes_when_one_starts(env: Env) -> None:
    """`bosun run --wait` with no worker serving the workflow: the run's id at once, then on
    stderr why nothing happens; a worker started later runs it and the command prints the
    result."""
    args = ["run", APP, "count_up", "--input", '{"count": 2}', "--wait", "--database", env.url]
    waiting = subprocess.Popen(
        [BOSUN, *args],
        env=env.environ(),
        cwd=env.tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    env.procs.append(waiting)  # type: ignore[arg-type]
    assert waiting.stdout is not None and waiting.stderr is not None
    started = waiting.stdout.readline()  # blocks until printed: before any worker exists
    assert started.startswith("run ") and started.rstrip().endswith(" started"), started
    hint = waiting.stderr.readline()
    assert "no worker serves workflow 'count_up' on queue 'default'" in hint, hint
    assert "--worker" in hint
    env.ok("worker", APP, "--until-idle", "--database", env.url)
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, err
    assert '"n=4"' in out and "started" not in out, out  # the result, no second "started"
    run_id = started.split()[1]
    assert env.show(run_id)["status"] == "completed"
