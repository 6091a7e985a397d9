"""What the `bosun` command modules share: consoles, option types, and the helpers that turn
bosun errors into exit codes, run coroutines, open the store and print JSON. It imports no
other module of the CLI, so the command modules form no import cycle."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from bosun import serde, settings
from bosun.errors import BosunError, ConfigurationError
from bosun.store import Store, store_for_url

if TYPE_CHECKING:
    from rich.console import Console

    from bosun.client import Client

T = TypeVar("T")

out: Console  # stdout and stderr consoles, made on first use (`bosun worker` needs no
err: Console  # rich unless it fails: it starts faster without it)


def _console(name: str) -> Console:
    console: Console | None = globals().get(name)
    if console is None:
        from rich.console import Console

        console = globals()[name] = Console(stderr=name == "err")
    return console


def __getattr__(name: str) -> Any:
    if name in ("out", "err"):
        return _console(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` as an error on stderr and exit with `code` (2: a usage error)."""
    from rich.markup import escape

    _console("err").print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def run_async(main: Callable[[], Awaitable[T]], loop_factory: LoopFactory | None = None) -> T:
    """Run a coroutine (on asyncio's loop unless `loop_factory` makes another), turning
    bosun errors into a clear message and exit code 1."""
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(main())  # type: ignore[arg-type]
    except ConfigurationError as exc:
        fail(str(exc), 2)
    except BosunError as exc:
        fail(str(exc))


def call_server(url: str, api_key: str | None, action: Callable[[Client], T]) -> T:
    """Call `action` with a client of the server at `url`; errors exit as in `run_async`."""
    from bosun.client import Client

    try:
        with Client(url, api_key) as client:
            return action(client)
    except ConfigurationError as exc:
        fail(str(exc), 2)
    except BosunError as exc:
        fail(str(exc))


def parse_json(text: str | None, what: str) -> Any:
    """`text` (an option's value, named `what` in errors) parsed as JSON; None when absent."""
    if text is None:
        return None
    try:
        return serde.loads(text, what)  # bosun's JSON policy: NaN and Infinity are refused
    except json.JSONDecodeError as exc:
        fail(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", 2)
    except RecursionError:
        fail(f"{what} is not valid JSON (nested too deeply)", 2)
    except ConfigurationError as exc:
        fail(str(exc), 2)


def setup_logging(log_format: str = "text") -> None:
    from bosun.observe.logs import configure

    configure(settings.log_level(), log_format, sys.stderr)  # type: ignore[arg-type]


def load_app(ref: str) -> Any:
    """The App `ref` names (path/to/file.py or package.module:app); a bad one exits 2."""
    from bosun import loader

    try:
        return loader.load_app(ref)
    except ConfigurationError as exc:
        fail(str(exc), 2)


def when(stamp: float | None) -> str:
    """A timestamp as UTC `YYYY-MM-DD HH:MM:SS`, or `-` for none."""
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


async def with_store(
    url: str | None, action: Callable[[Store], Awaitable[T]], *, create: bool = False
) -> T:
    """Open the store, run `action`, close. Without `create`, a missing SQLite file is an
    error rather than a new empty database (a mistyped path should not look like no runs)."""
    url = url or settings.database_url()
    if not create and url.startswith("sqlite:"):
        from bosun.store.sqlite import SqliteConfig

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
