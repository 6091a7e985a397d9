"""`bosun runs`: list, show, cancel, resume and signal runs, and decide on their tool calls
awaiting approval, on the local database or (`--url`) a server."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bosun.cli import common
from bosun.cli.common import (
    ApiKeyOpt,
    DatabaseOpt,
    JsonOpt,
    UrlOpt,
    call_server,
    fail,
    parse_json,
    print_json,
    run_async,
    when,
    with_store,
)
from bosun.cli.tables import print_table
from bosun.records import (
    RUN_STATUSES,
    RunFilter,
    RunRecord,
)
from bosun.store import Store

if TYPE_CHECKING:
    from bosun.client import Client

runs_cli = typer.Typer(help="Inspect and operate on runs.", no_args_is_help=True)


def _record_json(record: RunRecord) -> dict[str, Any]:
    data = dataclasses.asdict(record)
    data["input"] = json.loads(record.input)
    data["result"] = None if record.result is None else json.loads(record.result)
    return data


@runs_cli.command("list")
def runs_list(
    status: Annotated[
        str | None, typer.Option(help=f"Only runs with this status ({', '.join(RUN_STATUSES)}).")
    ] = None,
    workflow: Annotated[str | None, typer.Option(help="Only runs of this workflow.")] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="Only runs on this deployment version (see workers)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    if status is not None and status not in RUN_STATUSES:
        fail(f"--status must be one of {', '.join(RUN_STATUSES)}", 2)
    if url:
        from bosun.cli.remote import list_runs

        records = call_server(
            url,
            api_key,
            lambda c: list_runs(c, status=status, workflow=workflow, limit=limit, version=version),
        )
    else:
        where = RunFilter(status=status, workflow=workflow, version=version, limit=limit)
        records = run_async(lambda: with_store(database, lambda s: s.list_runs(where)))
    if as_json:
        print_json([_record_json(r) for r in records])
        return
    print_table(
        ("run id", "workflow", "status", "created", "attempts", "version"),
        [
            (r.id, r.workflow, r.status, when(r.created_at), str(r.attempts), r.version or "-")
            for r in records
        ],
        optional=("status", "created", "attempts", "version"),
    )


@runs_cli.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a run, its tool calls awaiting approval, and its journal (not with --url)."""

    async def fetch(store: Store) -> tuple[RunRecord, list[Any]]:
        record = await store.get_run(run_id)
        if record is None:
            from bosun.errors import RunNotFound

            raise RunNotFound(f"no run with id {run_id!r}")
        return record, await store.get_journal(run_id)

    journal: list[Any] | None = None
    if url:
        from bosun.cli.remote import show_run

        record, approvals = call_server(url, api_key, lambda c: show_run(c, run_id))
    else:
        from bosun.agents.approvals import pending_approvals
        from bosun.wire import approval_view

        record, journal = run_async(lambda: with_store(database, fetch))
        approvals = [approval_view(a) for a in pending_approvals(journal)]
    if as_json:
        data = _record_json(record)
        data["pending_approvals"] = approvals
        if journal is not None:
            data["journal"] = [dataclasses.asdict(e) for e in journal]
        print_json(data)
        return
    common.out.print(f"[bold]{record.id}[/] {record.workflow} — {record.status}", highlight=False)
    if record.error:
        message = f"error: {record.error.get('message')}"
        common.out.print(message, markup=False, highlight=False, soft_wrap=True)
    if record.result is not None:
        common.out.print(f"result: {record.result}", markup=False, highlight=False, soft_wrap=True)
    _print_approvals(run_id, approvals)
    if journal is None:
        return
    print_table(
        ("seq", "kind", "name", "status", "attempt", "output"),
        [
            (
                e.seq,
                e.kind,
                e.name,
                e.status,
                str(e.attempt),
                e.output or (e.error or {}).get("message") or "",
            )
            for e in journal
        ],
        optional=("status", "kind", "output", "attempt"),
        free_text=("output",),
    )


def _print_approvals(run_id: str, approvals: list[dict[str, Any]]) -> None:
    if not approvals:
        return
    common.out.print(
        f"awaiting approval ({len(approvals)}): bosun runs approve {run_id} CALL_ID "
        f"[--reject --message TEXT | --edit-json ARGS]",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    print_table(
        ("call id", "tool", "arguments", "expires"),
        [
            (a["call_id"], a["tool"], json.dumps(a["arguments"]), a["expires_at"] or "never")
            for a in approvals
        ],
        optional=("expires",),
        free_text=("arguments",),
    )


def _operate(
    database: str | None,
    as_json: bool,
    verb: str,
    run_id: str,
    action: Callable[[Store], Awaitable[Any]],
    remote: tuple[str | None, str | None, Callable[[Client], Any]],
) -> None:
    url, api_key, over_http = remote
    if url:
        result = call_server(url, api_key, over_http)
    else:
        result = run_async(lambda: with_store(database, action))
    if as_json:
        print_json({"run_id": run_id, "action": verb, "result": result})
    else:
        common.out.print(f"{verb} run {run_id}", highlight=False)


@runs_cli.command("cancel")
def runs_cancel(
    run_id: Annotated[str, typer.Argument()],
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a run and its unfinished children."""
    from bosun.cli.remote import cancel_run

    remote = (url, api_key, lambda c: cancel_run(c, run_id))
    _operate(database, as_json, "cancelled", run_id, lambda s: s.cancel_run(run_id), remote)


@runs_cli.command("resume")
def runs_resume(
    run_id: Annotated[str, typer.Argument()],
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resume a blocked run (after deploying code that matches its journal)."""
    from bosun.cli.remote import resume_run

    remote = (url, api_key, lambda c: resume_run(c, run_id))
    _operate(database, as_json, "resumed", run_id, lambda s: s.resume_run(run_id), remote)


@runs_cli.command("signal")
def runs_signal(
    run_id: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Argument(help="Signal name.")],
    payload: Annotated[str | None, typer.Option(help="JSON payload.")] = None,
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a signal to a run."""
    from bosun.cli.remote import signal_run

    value = parse_json(payload, "--payload")
    data = json.dumps(value)
    remote = (url, api_key, lambda c: signal_run(c, run_id, name, value))
    _operate(
        database, as_json, "signalled", run_id, lambda s: s.send_signal(run_id, name, data), remote
    )


@runs_cli.command("approve")
def runs_approve(
    run_id: Annotated[str, typer.Argument()],
    call_id: Annotated[
        str, typer.Argument(help="The tool call's id (`bosun runs show` lists those waiting).")
    ],
    reject: Annotated[
        bool, typer.Option("--reject", help="Refuse the call: it does not run.")
    ] = False,
    message: Annotated[
        str | None,
        typer.Option(help="With --reject: what the model reads instead of the tool's result."),
    ] = None,
    edit_json: Annotated[
        str | None,
        typer.Option(
            "--edit-json",
            help="Run the call with these arguments (a JSON object) instead of the model's.",
        ),
    ] = None,
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a tool call awaiting a human; or --reject it, or run it with --edit-json."""
    from bosun.agents.approvals import Decision, DecisionKind, decide
    from bosun.cli.remote import decide_approval

    if reject and edit_json is not None:
        fail("choose --reject or --edit-json, not both", 2)
    if message is not None and not reject:
        fail("--message goes with --reject (it is what the model reads)", 2)
    arguments = parse_json(edit_json, "--edit-json")
    if edit_json is not None and not isinstance(arguments, dict):
        fail("--edit-json must be a JSON object of the tool's arguments", 2)
    kind: DecisionKind = "reject" if reject else "edit" if edit_json is not None else "approve"
    detail = message if reject else arguments
    decision = Decision(kind, message=message, arguments=arguments)
    remote = (url, api_key, lambda c: decide_approval(c, run_id, call_id, kind, detail))
    verb = {"approve": "approved", "reject": "rejected", "edit": "edited"}[kind]
    _operate(
        database,
        as_json,
        f"{verb} tool call {call_id} of",
        run_id,
        lambda s: decide(s, run_id, call_id, decision),
        remote,
    )
