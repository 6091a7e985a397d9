"""`bosun schedules` as a subprocess: add, list, pause, resume, delete; a worker firing a due
tick once; bad input exits 2 and writes nothing."""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
from tests.helpers.processes import APPS, Env

APP = str(APPS / "scheduled.py")
pytestmark = pytest.mark.timeout(120)


def schedules(env: Env, *args: str) -> object:
    return json.loads(env.ok("schedules", *args, "--database", env.url, "--json"))


def make_due(env: Env, name: str) -> int:
    """Move a schedule's next tick to the current second, as if a tick had just come."""
    tick = int(time.time())
    conn = sqlite3.connect(env.db_path, timeout=10)
    with conn:
        conn.execute("UPDATE schedules SET next_tick = ? WHERE name = ?", (tick, name))
    conn.close()
    return tick


def test_schedule_lifecycle_and_a_worker_firing_each_tick_once(env: Env) -> None:
    added = schedules(
        env,
        "add",
        "doubler",
        "--workflow",
        "count_up",
        "--cron",
        "*/15 9-17 * * MON-FRI",
        "--timezone",
        "America/New_York",
        "--input",
        '{"count": 21}',
    )
    assert added["action"] == "added"  # type: ignore[index]
    record = added["schedule"]  # type: ignore[index]
    assert (record["source"], record["paused"], record["input"]) == ("cli", False, {"count": 21})
    assert record["next_tick"] > time.time()

    # A worker declares the app's own schedule, and fires the one that is due, once.
    tick = make_due(env, "doubler")
    env.ok("worker", APP, "--until-idle", "--no-schedules", "--database", env.url, timeout=60)
    assert env.count("SELECT COUNT(*) FROM runs") == 0  # that worker runs no scheduler
    for _ in range(2):
        env.ok("worker", APP, "--until-idle", "--database", env.url, timeout=60)
    runs = env.query("SELECT idempotency_key, status, result FROM runs")
    assert [tuple(r) for r in runs] == [
        (
            f"schedule:doubler:{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(tick))}",
            "completed",
            '"n=42"',
        )
    ]
    listed = {s["name"]: s for s in schedules(env, "list")}  # type: ignore[attr-defined]
    assert sorted(listed) == ["doubler", "weekly_digest"]
    assert listed["weekly_digest"]["source"] == "code"
    assert listed["weekly_digest"]["timezone"] == "Europe/Paris"
    assert listed["doubler"]["next_tick"] > tick
    assert listed["doubler"]["last_tick"] == tick

    paused = schedules(env, "pause", "doubler")["schedule"]  # type: ignore[index]
    assert paused["paused"] is True
    make_due(env, "doubler")
    env.ok("worker", APP, "--until-idle", "--database", env.url, timeout=60)
    assert env.count("SELECT COUNT(*) FROM runs") == 1  # paused: nothing started
    resumed = schedules(env, "resume", "doubler")["schedule"]  # type: ignore[index]
    assert resumed["paused"] is False and resumed["next_tick"] > time.time()

    table = env.ok("schedules", "list", "--database", env.url)
    assert "doubler" in table and "weekly_digest" in table
    deleted = schedules(env, "delete", "weekly_digest")
    assert deleted == {"name": "weekly_digest", "action": "deleted", "declared_in_code": True}
    assert env.count("SELECT COUNT(*) FROM schedules") == 1
    assert env.count("SELECT COUNT(*) FROM runs") == 1  # deleting a schedule keeps its runs


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--cron", "61 * * * *"],
            "bad cron expression '61 * * * *': Bad minute",
            id="bad-minute",
        ),
        pytest.param(["--cron", "* * *"], "it needs 5 fields", id="too-few-fields"),
        pytest.param(
            ["--cron", "* * * * *", "--timezone", "Europe/Pariss"],
            "unknown time zone 'Europe/Pariss'",
            id="unknown-time-zone",
        ),
        pytest.param(
            ["--cron", "* * * * *", "--input", "{count: 1"],
            "--input is not valid JSON",
            id="input-not-json",
        ),
        pytest.param(
            ["--cron", "* * * * *", "--input", "[1]"],
            "input must be a JSON object",
            id="input-not-object",
        ),
        pytest.param(
            ["--cron", "* * * * *", "--missed", "sometimes"],
            "choose one of skip, catch_up",
            id="bad-policy",
        ),
        pytest.param(
            ["--cron", "* * * * *", "--max-catch-up", "0"], "max-catch-up", id="bad-bound"
        ),
        pytest.param([], "Missing option '--cron'", id="no-cron"),
    ],
)
def test_bad_schedules_exit_2_and_write_nothing(env: Env, args: list[str], message: str) -> None:
    done = env.bosun(
        "schedules", "add", "nightly", "--workflow", "count_up", *args, "--database", env.url
    )
    assert done.returncode == 2, done.stderr
    assert message in " ".join(done.stderr.split()), done.stderr
    assert not env.db_path.exists()


def test_unknown_and_duplicate_schedules_exit_2(env: Env) -> None:
    schedules(env, "add", "nightly", "--workflow", "count_up", "--cron", "@daily")
    before = env.query("SELECT * FROM schedules")
    again = env.bosun(
        "schedules",
        "add",
        "nightly",
        "--workflow",
        "count_up",
        "--cron",
        "@hourly",
        "--database",
        env.url,
    )
    assert again.returncode == 2
    assert "a schedule named 'nightly' already exists" in again.stderr
    assert [tuple(r) for r in env.query("SELECT * FROM schedules")] == [tuple(r) for r in before]
    for verb in ("pause", "resume", "delete"):
        done = env.bosun("schedules", verb, "nope", "--database", env.url)
        assert done.returncode == 2, (verb, done.stderr)
        assert "no schedule named 'nope'" in done.stderr
