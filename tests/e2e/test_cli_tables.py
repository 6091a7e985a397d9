"""`bosun runs list`, `runs show`, `workers`, `queues` and `schedules list` as printed: whole
ids and names in a pipe (tab-separated lines) and in a narrow terminal (columns left out,
never cut short)."""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
import uuid

import pytest
from rich.cells import cell_len
from tests.helpers.processes import Env
from tests.helpers.records import worker_record

from bosun.records import NewRun
from bosun.store import store_for_url

WORKFLOW = "publish_quarterly_report_by_region"  # 34 characters: wider than a squeezed column
STEP = "summarise_the_figures_of_each_region"
QUEUE = "quarterly_reports_for_each_region"
WORKER = "build-host-042.internal.example.com:123456:0123abcd"
SCHEDULE = "every_monday_morning_for_the_board"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BOX = re.compile("[┃│━─┏┓└┘]")

APP = f"""
import bosun

app = bosun.App("tables")


@app.step()
async def {STEP}() -> str:
    return "x" * 200


@app.workflow()
async def {WORKFLOW}(ctx: bosun.Context) -> str:
    return await {STEP}()
"""


def seed(env: Env) -> tuple[str, str]:
    """A completed run (with a journal) of WORKFLOW, a ready run on QUEUE, a live worker
    WORKER and a schedule SCHEDULE; returns the two runs' ids."""
    app = env.tmp / "tables_app.py"
    app.write_text(textwrap.dedent(APP))
    done = json.loads(
        env.ok("run", str(app), WORKFLOW, "--worker", "--json", "--database", env.url)
    )
    assert done["status"] == "completed"

    async def more() -> str:
        store = store_for_url(env.url)
        await store.open()
        try:
            worker = worker_record(
                WORKER,
                ttl=3600,
                host="build-host-042.internal.example.com",
                pid=123456,
                concurrency=16,
                version="blue",
            )
            await store.announce_worker(worker)
            run = NewRun(id=uuid.uuid4().hex, workflow=WORKFLOW, queue=QUEUE, input="{}")
            return (await store.create_run(run))[0]
        finally:
            await store.close()

    ready = asyncio.run(more())
    env.ok(
        "schedules", "add", SCHEDULE, "-w", WORKFLOW, "--cron", "0 9 * * 1", "--database", env.url
    )
    return done["run_id"], ready


def tsv(text: str) -> list[list[str]]:
    lines = text.splitlines()
    assert lines and not any(BOX.search(line) for line in lines), text
    return [line.split("\t") for line in lines]


@pytest.mark.timeout(90)
def test_a_pipe_gets_tab_separated_lines_with_every_value_whole(env: Env) -> None:
    done, ready = seed(env)
    runs = tsv(env.ok("runs", "list", "--database", env.url))
    assert runs[0] == ["run id", "workflow", "status", "created", "attempts", "version"]
    assert {(row[0], row[1], row[2]) for row in runs[1:]} == {
        (done, WORKFLOW, "completed"),
        (ready, WORKFLOW, "queued"),
    }
    assert all(len(row) == 6 and len(row[0]) == 32 for row in runs[1:])

    shown = env.ok("runs", "show", done, "--database", env.url).splitlines()
    assert shown[0] == f"{done} {WORKFLOW} — completed"
    journal = tsv("\n".join(shown[2:]))  # after the header and `result:` lines
    assert journal[0] == ["seq", "kind", "name", "status", "attempt", "output"]
    assert journal[1][1:5] == ["step", STEP, "completed", "1"]
    assert journal[1][5] == json.dumps("x" * 200)  # the whole output, not its first 60

    [header, worker] = tsv(env.ok("workers", "--database", env.url))
    assert header == ["worker", "version", "queues", "busy", "state", "last seen"]
    assert worker[:5] == [WORKER, "blue", "default", "0/16", "alive"]

    queues = tsv(env.ok("queues", "--database", env.url))
    assert queues[0] == ["queue", "ready", "in flight", "waiting", "oldest ready (s)"]
    assert [row[:2] for row in queues[1:] if row[0] == QUEUE] == [[QUEUE, "1"]]

    [header, schedule] = tsv(env.ok("schedules", "list", "--database", env.url))
    assert header == ["name", "workflow", "cron", "next tick", "state", "last error"]
    assert schedule[:3] == [SCHEDULE, WORKFLOW, "0 9 * * 1"]


def terminal(env: Env, columns: int, *args: str) -> list[str]:
    """The command's lines as a terminal `columns` wide gets them (escape codes removed)."""
    env.extra.update({"COLUMNS": str(columns), "TTY_COMPATIBLE": "1"})
    return ANSI.sub("", env.ok(*args, "--database", env.url)).splitlines()


@pytest.mark.timeout(90)
def test_a_narrow_terminal_leaves_columns_out_rather_than_cut_ids_and_names(env: Env) -> None:
    done, ready = seed(env)
    runs = terminal(env, 80, "runs", "list")
    assert all(cell_len(line) <= 80 for line in runs), "\n".join(runs)
    assert BOX.search(runs[0]), "not a table"
    assert any(done in line and WORKFLOW in line for line in runs), "\n".join(runs)
    assert any(ready in line and WORKFLOW in line for line in runs), "\n".join(runs)
    assert "…" not in "\n".join(runs)
    assert runs[-1] == (
        "status, created, attempts, version hidden at 80 columns; --json shows everything"
    )
    wide = terminal(env, 200, "runs", "list")
    assert "hidden" not in "\n".join(wide) and "code-" in "\n".join(wide)  # version shown

    workers = terminal(env, 80, "workers")
    assert any(WORKER in line and "alive" in line for line in workers), "\n".join(workers)
    assert workers[-1] == "version, last seen hidden at 80 columns; --json shows everything"

    journal = terminal(env, 80, "runs", "show", done)
    assert any(STEP in line for line in journal), "\n".join(journal)
    assert all(cell_len(line) <= 80 for line in journal if BOX.search(line))

    schedules = terminal(env, 80, "schedules", "list")
    assert any(SCHEDULE in line and WORKFLOW in line for line in schedules), "\n".join(schedules)
    assert schedules[-1].endswith("hidden at 80 columns; --json shows everything")

    # Too narrow even for the ids and names: the tab-separated lines, whole.
    squeezed = terminal(env, 60, "runs", "list")
    assert [row[:2] for row in tsv("\n".join(squeezed))[1:]] == [
        [ready, WORKFLOW],
        [done, WORKFLOW],
    ]
