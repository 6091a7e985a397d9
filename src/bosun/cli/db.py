"""`bosun db`: the database schema and the pruning of finished runs."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from bosun.cli.common import DatabaseOpt, JsonOpt, fail, out, print_json, run_async, with_store
from bosun.store import RunStore, Store

if TYPE_CHECKING:
    from bosun.store.postgres.vectors import MemorySearch

db_cli = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


@db_cli.command("upgrade")
def db_upgrade(database: DatabaseOpt = None, as_json: JsonOpt = False) -> None:
    """Apply pending migrations (they also run when any bosun process starts). On
    PostgreSQL whose server offers pgvector, also move memories onto its HNSW index."""

    from bosun.store.postgres import PostgresStore  # psycopg only when it is needed

    async def upgrade(store: Store) -> tuple[int, str]:
        version = await store.schema_version()
        if isinstance(store, PostgresStore):
            described = await store.memory_search()
            if described.path == "exact" and described.extension != "missing":
                described = await store.set_memory_search("pgvector")
            return version, described.path
        return version, await store.memory_search_path()

    version, memory_search = run_async(lambda: with_store(database, upgrade, create=True))
    if as_json:
        print_json({"schema_version": version, "memory_search": memory_search})
    else:
        out.print(f"database at schema version {version}; memory search: {memory_search}")


@db_cli.command("memory-search")
def db_memory_search(
    path: Annotated[
        str | None,
        typer.Argument(
            help="Move every memory onto `pgvector` (HNSW index) or back to `exact` search; "
            "without it, say which path is in use.",
            show_default=False,
        ),
    ] = None,
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or change how memories (`ctx.memory`) are searched on PostgreSQL."""
    if path not in (None, "pgvector", "exact"):
        fail(f"the path is pgvector or exact, not {path!r}", 2)
    from bosun.store.postgres import PostgresStore

    async def act(store: Store) -> MemorySearch:
        if not isinstance(store, PostgresStore):
            fail("SQLite searches memories exactly; pgvector needs a PostgreSQL database", 2)
        if path == "pgvector":
            return await store.set_memory_search("pgvector")
        if path == "exact":
            return await store.set_memory_search("exact")
        return await store.memory_search()

    described = run_async(lambda: with_store(database, act))
    if as_json:
        print_json(dataclasses.asdict(described))
    else:
        out.print(escape(f"memory search: {described.describe()}"))


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> float:
    """Parse `90s`, `15m`, `12h`, `7d` (or plain seconds) into seconds."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        fail(f"{text!r} is not a duration: use e.g. 90s, 15m, 12h or 7d", 2)
    if seconds < 0:
        fail("durations must not be negative", 2)
    return seconds


@db_cli.command("prune")
def db_prune(
    older_than: Annotated[
        str, typer.Option(help="Delete runs that finished longer ago than this (e.g. 7d, 12h).")
    ],
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete finished runs (and their journals, signals and events) older than --older-than.

    Workers also prune on their own, after the app's `retention` (default 30 days)."""
    cutoff = time.time() - _duration(older_than)

    async def prune(store: RunStore) -> int:
        total = 0
        while (pruned := await store.prune_runs(cutoff, 1000)) > 0:
            total += pruned
        return total

    total = run_async(lambda: with_store(database, prune))
    if as_json:
        print_json({"pruned": total})
    else:
        out.print(f"pruned {total} finished run(s)")
