"""`bosun keys`: create, list and revoke the API keys a server accepts."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bosun.cli.common import (
    DatabaseOpt,
    JsonOpt,
    err,
    fail,
    out,
    print_json,
    run_async,
    when,
    with_store,
)
from bosun.cli.tables import print_table
from bosun.errors import BosunError
from bosun.records import ApiKeyRecord
from bosun.store import ApiKeyStore

keys_cli = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


def _key_json(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "tenant": record.tenant,
        "name": record.name,
        "scopes": list(record.scopes),
        "created_at": when(record.created_at),
        "revoked_at": when(record.revoked_at) if record.revoked_at else None,
    }


@keys_cli.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant the key belongs to.")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="read, submit or admin (repeatable; default: submit)."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="A note on what the key is for.")] = "",
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; the key is printed once and stored only as a hash."""
    from bosun.server.auth import new_key

    try:
        key, record = new_key(tenant, scope or ["submit"], name)
    except BosunError as exc:
        fail(str(exc), 2)

    async def create(store: ApiKeyStore) -> None:
        await store.create_api_key(record)

    run_async(lambda: with_store(database, create, create=True))
    if as_json:
        print_json({**_key_json(record), "key": key})
        return
    out.print(f"created key {record.id} for tenant {tenant} ({', '.join(record.scopes)})")
    out.print(key)
    err.print("store it now: bosun keeps only its hash and cannot show it again")


@keys_cli.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's keys.")] = None,
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List API keys (never their secrets)."""

    async def fetch(store: ApiKeyStore) -> list[ApiKeyRecord]:
        return await store.list_api_keys(tenant)

    records = run_async(lambda: with_store(database, fetch))
    if as_json:
        print_json([_key_json(r) for r in records])
        return
    print_table(
        ("id", "tenant", "name", "scopes", "created", "revoked"),
        [
            (
                r.id,
                r.tenant,
                r.name,
                ",".join(r.scopes),
                when(r.created_at),
                when(r.revoked_at) if r.revoked_at else "",
            )
            for r in records
        ],
        optional=("name", "revoked", "scopes", "created"),
    )


@keys_cli.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from `bosun keys list`).")],
    database: DatabaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API key; servers stop accepting it within 10 seconds."""

    async def revoke(store: ApiKeyStore) -> bool:
        return await store.revoke_api_key(key_id)

    if not run_async(lambda: with_store(database, revoke)):
        fail(f"no live API key with id {key_id!r}", 1)
    if as_json:
        print_json({"revoked": key_id})
    else:
        out.print(f"revoked key {key_id}")
