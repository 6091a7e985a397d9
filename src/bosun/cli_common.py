"""What every `bosun` command group shares: the root Typer app, consoles, option types and
helpers. `bosun.cli` and the `cli_*` modules register their commands on `cli`; none of them
imports another, so the command groups form no import cycle."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from bosun import serde, settings
from bosun.errors import BosunError, ConfigurationError
from bosun.store import Store, store_for_url
from bosun.store.records import (
    RunRecord,
)

if TYPE_CHECKING:
    from bosun.client import Client

T = TypeVar("T")

_ENV_HELP = "\n\n".join(f"{k}: {v}" for k, v in settings.ENVIRONMENT.items())
cli = typer.Typer(
    name="bosun",
    help=f"bosun: a durable runtime for AI agents.\n\nEnvironment variables:\n\n{_ENV_HELP}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
runs_cli = typer.Typer(help="Inspect and operate on runs.", no_args_is_help=True)
db_cli = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
cli.add_typer(runs_cli, name="runs")
cli.add_typer(db_cli, name="db")

out = Console()
err = Console(stderr=True)

DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="BOSUN_DATABASE_URL",
        show_envvar=True,
        help=f"Database URL (default {settings.DEFAULT_DATABASE_URL}).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="BOSUN_URL",
        show_envvar=True,
        help="Use the bosun server at this URL (its HTTP API) instead of the database.",
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", envvar="BOSUN_API_KEY", show_envvar=True, help="API key for --url."),
]
AppRef = Annotated[
    str, typer.Argument(help="path/to/file.py or package.module:app", show_default=False)
]


def _log_format(value: str) -> str:
    if value not in ("auto", "json", "text"):
        raise typer.BadParameter(f"{value!r} is not one of auto, json, text")
    return value


LogFormatOpt = Annotated[
    str,
    typer.Option(
        "--log-format",
        callback=_log_format,
        help="Log lines as JSON objects or text (auto, json, text); auto: JSON unless stderr "
        "is a terminal.",
    ),
]
MetricsTokenOpt = Annotated[
    str | None,
    typer.Option(
        "--metrics-token",
        envvar="BOSUN_METRICS_TOKEN",
        show_envvar=True,
        help="Require 'Authorization: Bearer TOKEN' on /metrics (default: open).",
    ),
]


class Loop(StrEnum):
    """The event loop `bosun worker` runs on."""

    auto = "auto"
    asyncio = "asyncio"
    uvloop = "uvloop"


LoopOpt = Annotated[
    Loop,
    typer.Option(
        "--loop",
        envvar="BOSUN_LOOP",
        show_envvar=True,
        help="Event loop: auto (uvloop when installed, as with the 'fast' extra), asyncio or "
        "uvloop.",
    ),
]


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _run(main: Callable[[], Awaitable[T]], loop_factory: LoopFactory | None = None) -> T:
    """Run a coroutine (on asyncio's loop unless `loop_factory` makes another), turning
    bosun errors into a clear message and exit code 1."""
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(main())  # type: ignore[arg-type]
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    except BosunError as exc:
        _fail(str(exc))


def _loop_factory(choice: Loop) -> LoopFactory | None:
    """uvloop's loop for 'uvloop', and for 'auto' when it is installed; else asyncio's."""
    if choice is Loop.asyncio:
        return None
    try:
        import uvloop
    except ImportError:
        if choice is Loop.uvloop:
            _fail("--loop uvloop needs the uvloop package: pip install 'bosun[fast]'", 2)
        return None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def _remote(url: str, api_key: str | None, action: Callable[[Client], T]) -> T:
    """Call `action` with a client of the server at `url`; errors exit as in `_run`."""
    from bosun.client import Client

    try:
        with Client(url, api_key) as client:
            return action(client)
    except ConfigurationError as exc:
        _fail(str(exc), 2)
    except BosunError as exc:
        _fail(str(exc))


def _parse_json(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return serde.loads(text, what)  # bosun's JSON policy: NaN and Infinity are refused
    except json.JSONDecodeError as exc:
        _fail(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", 2)
    except RecursionError:
        _fail(f"{what} is not valid JSON (nested too deeply)", 2)
    except ConfigurationError as exc:
        _fail(str(exc), 2)


def _setup_logging(log_format: str = "text") -> None:
    from bosun.observe.logs import configure

    configure(settings.log_level(), log_format, sys.stderr)  # type: ignore[arg-type]


def _load(ref: str) -> Any:
    from bosun.loader import load_app

    try:
        return load_app(ref)
    except ConfigurationError as exc:
        _fail(str(exc), 2)


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _record_json(record: RunRecord) -> dict[str, Any]:
    data = dataclasses.asdict(record)
    data["input"] = json.loads(record.input)
    data["result"] = None if record.result is None else json.loads(record.result)
    return data


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


async def _with_store(
    url: str | None, action: Callable[[Store], Awaitable[T]], *, create: bool = False
) -> T:
    """Open the store, run `action`, close. Without `create`, a missing SQLite file is an
    error rather than a new empty database (a mistyped path should not look like no runs)."""
    url = url or settings.database_url()
    if not create and url.startswith("sqlite:"):
        from bosun.store.sqlite_io import SqliteConfig

        path = SqliteConfig.from_url(url).path
        if not os.path.exists(path):  # noqa: ASYNC240 (one stat before any I/O)
            raise ConfigurationError(
                f"no bosun database at {path}: check --database / BOSUN_DATABASE_URL "
                "(it is created when a run is first started)"
            )
    store = store_for_url(url)
    await store.open()
    try:
        return await action(store)
    finally:
        await store.close()
