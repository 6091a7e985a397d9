"""`bosun run`: start a run of a workflow, on the local database or (`--url`) a server."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bosun import serde
from bosun.cli import common
from bosun.cli.common import (
    ApiKeyOpt,
    AppRef,
    DatabaseOpt,
    JsonOpt,
    UrlOpt,
    call_server,
    fail,
    load_app,
    parse_json,
    print_json,
    run_async,
)
from bosun.errors import ConfigurationError

if TYPE_CHECKING:
    from bosun.app import App
    from bosun.handles import RunHandle

HINT_AFTER = 2.0  # seconds a `--wait` without a worker waits before checking that one serves


def _worker_with_url(ctx: typer.Context, url: str) -> str:
    """Why --worker and a server URL do not mix, naming BOSUN_URL when that is where the URL
    came from (a shell that exported it for another command)."""
    message = "--worker runs a worker in this process: it cannot be used with --url"
    source = ctx.get_parameter_source("url")  # click's enum (typer may carry its own click)
    if source is not None and source.name == "ENVIRONMENT":
        message += (
            f". The URL comes from BOSUN_URL={url} in your environment: "
            "`unset BOSUN_URL BOSUN_API_KEY` to run against the local database"
        )
    return message


def run(
    ctx: typer.Context,
    app_ref: AppRef,
    workflow: Annotated[
        str | None,
        typer.Argument(
            help="Name of the workflow to start. With --url, APP_REF may be left out.",
            show_default=False,
        ),
    ] = None,
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="JSON object (named) or array of inputs.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result.")] = False,
    with_worker: Annotated[
        bool,
        typer.Option("--worker", help="Also run a worker in this process until the run ends."),
    ] = False,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait for the result.")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Start at most one run per key.")
    ] = None,
    session: Annotated[
        str | None,
        typer.Option(
            "--session",
            help="Run in this conversation (an agent goes on from its history); "
            "created on first use.",
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Print the run's events as they happen, then wait.")
    ] = False,
    database: DatabaseOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a run of WORKFLOW with --input, optionally waiting for its result.

    With --url the run is submitted to that server: `bosun run --url URL WORKFLOW`. With
    --follow --json every line printed is one JSON object: the events, then the report."""
    if url:
        from bosun.cli.remote import event_printer, run_workflow

        if with_worker:
            fail(_worker_with_url(ctx, url), 2)
        data = parse_json(input, "--input")
        show = event_printer(as_json) if follow else None
        report, submitted = call_server(
            url,
            api_key,
            lambda c: run_workflow(
                c,
                workflow or app_ref,
                data,
                idempotency_key=idempotency_key,
                session=session,
                wait=wait,
                timeout=timeout,
                on_event=show,
            ),
        )
        repeat = None if submitted.created else submitted.status
        _print_report(report, as_json, lines=follow, existed=repeat)
        return
    if workflow is None:
        fail("Missing argument 'WORKFLOW'.", 2)
    if follow:
        fail("--follow streams events from a server: give --url (or BOSUN_URL)", 2)
    app = load_app(app_ref)
    app.observability.discard_metrics()  # this process exits when done: nobody reads them
    if database:
        app.use_database(database)
    data = parse_json(input, "--input")
    try:
        definition = app.registry.workflow(workflow)
        definition.encode_json_input(data)  # validate before touching the database
    except ConfigurationError as exc:
        fail(str(exc), 2)

    existed: str | None = None  # the status of the key's run, if it was there already
    announced = False  # "run … started" printed already

    async def main() -> dict[str, Any]:
        nonlocal existed, announced
        async with app:
            handle = await app.start_json(
                workflow, data, idempotency_key=idempotency_key, session=session
            )
            if not handle.created:
                existed = (await handle.status()).status
            report: dict[str, Any] = {"run_id": handle.run_id}
            if not (wait or with_worker):
                return report
            if with_worker:
                async with app.worker(queues=[definition.queue]):
                    value = await handle.result(timeout=timeout)
            else:
                if not as_json and existed is None:
                    _print_started(handle.run_id)  # now: the wait may be long
                    announced = True
                value = await _result_or_hint(app, handle, workflow, definition.queue, timeout)
            report["status"] = "completed"
            report["result"] = json.loads(serde.dump(value, definition.return_hint, "result"))
            return report

    report = run_async(main)
    _print_report(report, as_json, existed=existed, announced=announced)


async def _result_or_hint(
    app: App, handle: RunHandle[Any], workflow: str, queue: str, timeout: float | None
) -> Any:
    """The run's result; if it has not started within `HINT_AFTER` seconds and no live
    worker serves its workflow on its queue, say so on stderr (and go on waiting: one may
    start)."""
    result = asyncio.ensure_future(handle.result(timeout=timeout))
    try:
        await asyncio.wait((result,), timeout=HINT_AFTER)
        if not result.done():
            unserved = await app.store.unserved_work(time.time(), grace=0)
            if any(w.queue == queue and w.workflow == workflow for w in unserved):
                common.err.print(
                    f"waiting: no worker serves workflow {workflow!r} on queue {queue!r}, so "
                    "the run waits until one starts (`bosun worker APP`), or pass --worker "
                    "to run one in this process",
                    highlight=False,
                    soft_wrap=True,
                )
        return await result
    finally:
        result.cancel()


def _print_started(run_id: str) -> None:
    common.out.print(f"run [bold]{run_id}[/] started", highlight=False)
    common.out.file.flush()  # seen at once through a pipe too (`| tee`), before a long wait


def _print_report(
    report: dict[str, Any],
    as_json: bool,
    lines: bool = False,
    existed: str | None = None,
    announced: bool = False,
) -> None:
    """`bosun run`'s report; `existed` is the status of the run the idempotency key already
    named (nothing new started), None when this command started the run; `announced`: its
    start was printed already."""
    if as_json and lines:  # --follow --json: one JSON object per line
        print(json.dumps(report, default=str))
    elif as_json:
        print_json(report)
    else:
        if existed is None:
            if not announced:
                _print_started(report["run_id"])
        else:
            common.out.print(
                f"run [bold]{report['run_id']}[/] already existed for this idempotency key "
                f"(status {existed}): nothing new started",
                highlight=False,
                soft_wrap=True,  # one line, however narrow the terminal
            )
        if "result" in report:
            common.out.print("result:", json.dumps(report["result"], indent=2), highlight=False)
