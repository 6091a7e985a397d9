"""What the UI computes from store records: the run timeline, folded JSON, durations, chat
lines and the workers' leases."""

from __future__ import annotations

import json
from dataclasses import replace

from bosun.records import EventRecord, JournalEntry, RunRecord, WorkerRecord
from bosun.server.ui.access import safe_next
from bosun.server.ui.views import (
    BAR_WIDTH,
    chat_line,
    duration,
    error_text,
    pretty,
    timeline,
)
from bosun.server.ui.workers import worker_rows

T0 = 1_800_000_000.0


def _run(**changes: object) -> RunRecord:
    run = RunRecord(
        id="r1",
        workflow="wf",
        queue="default",
        status="completed",
        input="{}",
        result="1",
        error=None,
        priority=0,
        idempotency_key=None,
        parent_id=None,
        parent_seq=None,
        deadline=None,
        ready_at=None,
        lease_owner=None,
        lease_expires_at=None,
        attempts=1,
        created_at=T0,
        updated_at=T0 + 10,
        finished_at=T0 + 10,
        tenant="acme",
    )
    return replace(run, **changes)  # type: ignore[arg-type]


def _event(position: int, kind: str, **data: object) -> EventRecord:
    return EventRecord(position, "r1", kind, json.dumps(data), T0 + position)


def test_the_timeline_shows_timed_entries_with_every_failed_attempt() -> None:
    journal = [
        JournalEntry("1", "step", "fetch", "completed", "{}", None, 3, T0 + 1, T0 + 5),
        JournalEntry("2", "now", "now", "completed", "1.0", None, 1, T0 + 5, T0 + 5),
        JournalEntry("3", "signal", "approve", "waiting", None, None, 1, T0 + 6, None),
    ]
    events = [
        _event(1, "step.retrying", seq="1", attempt=1, error={"type": "OSError", "message": "a"}),
        _event(2, "step.retrying", seq="1", attempt=2, error={"type": "OSError", "message": "b"}),
        _event(3, "step.completed", seq="1", attempt=3, duration=0.25),
        _event(4, "progress", seq="9"),  # a workflow's own event with a `seq` is ignored
    ]
    run = _run(status="suspended", finished_at=None)
    shown = timeline(run, journal, events, now=T0 + 10)
    assert [r.seq for r in shown.rows] == ["1", "3"]  # `now` is bookkeeping, not timed
    fetch, wait = shown.rows
    assert fetch.errors == ["attempt 1: OSError: a", "attempt 2: OSError: b"]
    assert fetch.attempts == 3 and fetch.duration == 4.0 and fetch.last_attempt == 0.25
    assert (fetch.bar_x, fetch.bar_width) == (100, 400)  # 1 s..5 s of a 10 s span
    assert wait.duration is None and wait.bar_x == 600 and wait.bar_width == 400  # to now
    assert shown.span == 10.0


def test_a_failed_step_without_events_shows_the_journal_error() -> None:
    error = {"type": "ValueError", "message": "bad", "traceback": "…"}
    journal = [JournalEntry("1", "step", "s", "failed", None, error, 1, T0, T0 + 1)]
    row = timeline(_run(status="failed"), journal, [], now=T0 + 20).rows[0]
    assert row.errors == ["attempt 1: ValueError: bad"]


def test_timeline_bars_stay_inside_the_box() -> None:
    journal = [
        JournalEntry("1", "step", "early", "completed", "1", None, 1, T0 - 5, T0 - 4),
        JournalEntry("2", "step", "instant", "completed", "1", None, 1, T0 + 10, T0 + 10),
    ]
    for row in timeline(_run(), journal, [], now=T0 + 10).rows:
        assert row.bar_x >= 0 and row.bar_width >= 2
        assert row.bar_x + row.bar_width <= BAR_WIDTH


def test_pretty_folds_long_json_and_keeps_plain_text() -> None:
    short = pretty('{"a": 1}')
    assert short.text == '{\n  "a": 1\n}' and not short.long
    long = pretty(json.dumps({"rows": list(range(30))}))
    assert long.long and long.preview.endswith("…") and len(long.preview) == 80
    assert pretty("not json").text == "not json"
    assert pretty({"ü": None}).text == '{\n  "ü": null\n}'


def test_durations_read_well() -> None:
    assert [duration(s) for s in (0.0004, 0.012, 1.44, 185, 7800, 200_000)] == [
        "400 µs",
        "12 ms",
        "1.4 s",
        "3 min 5 s",
        "2 h 10 min",
        "2 d 7 h",
    ]
    assert duration(None) == ""


def test_error_text() -> None:
    assert error_text({"type": "KeyError", "message": "'x'"}) == "KeyError: 'x'"
    assert error_text({"message": "only"}) == "only"
    assert error_text(None) == "" and error_text("plain") == "plain"


def test_chat_lines_show_roles_and_tool_calls() -> None:
    call = {"id": "c1", "name": "lookup", "arguments": '{"n": 7}'}
    line = chat_line(3, "r1", T0, json.dumps({"role": "assistant", "tool_calls": [call]}))
    assert line.role == "assistant" and line.content == ""
    assert line.tool_calls == ['lookup({"n": 7})']
    tool = chat_line(4, "r1", T0, json.dumps({"role": "tool", "name": "lookup", "content": "ok"}))
    assert tool.role == "tool · lookup" and tool.content == "ok"
    assert chat_line(5, None, T0, "[1]").content == "[1]"


def test_workers_show_only_their_own_tenants_leases() -> None:
    worker = WorkerRecord(
        id="host:1:aa",
        host="host",
        pid=1,
        queues=("default",),
        concurrency=4,
        busy=0,
        version="v1",
        compatible=(),
        draining=False,
        started_at=T0,
        last_seen=T0 + 9,
        expires_at=T0 + 20,
    )
    mine = _run(id="m", status="running", lease_owner="host:1:aa", lease_expires_at=T0 + 15)
    theirs = _run(id="t", status="running", lease_owner="host:1:aa", tenant="globex")
    stray = _run(id="s", status="running", lease_owner="old:2:bb", tenant="acme")
    gone = replace(worker, id="dead:3:cc", expires_at=T0 + 1)
    rows = worker_rows([worker, gone], [mine, theirs, stray], "acme", now=T0 + 10)
    by_id = {r.id: r for r in rows}
    live = by_id["host:1:aa"]
    assert live.state == "alive" and [lease["id"] for lease in live.leases] == ["m"]
    assert live.hidden_leases == 1 and live.busy == 2  # more than the stale announcement
    assert live.leases[0]["expires_in"] == 5.0
    assert by_id["dead:3:cc"].state == "gone"
    assert by_id["old:2:bb"].state == "unregistered" and by_id["old:2:bb"].record is None


def test_after_login_only_ui_paths_are_followed() -> None:
    assert safe_next("/ui/runs/abc?x=1") == "/ui/runs/abc?x=1"
    for target in (
        None,
        "",
        "/v1/runs",
        "https://evil.example",
        "//evil",
        "/ui//evil",
        "/ui/\\x",
        "/ui/login",
    ):
        assert safe_next(target) == "/ui/runs"
