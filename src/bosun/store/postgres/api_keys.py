"""API keys on PostgreSQL (hashes only; see `bosun.server.auth`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from bosun.records import ApiKeyRecord
from bosun.store.postgres.io import Conn, Q, T
from bosun.store.rows import api_key_from_row, api_key_params


class PostgresApiKeys:
    """The API-key operations of `PostgresStore`."""

    async def _run(self, op: Callable[[Conn], Awaitable[T]], *, idempotent: bool = False) -> T:
        raise NotImplementedError

    async def create_api_key(self, key: ApiKeyRecord) -> None:
        async def op(conn: Conn) -> None:
            await conn.execute(Q["insert_api_key"], api_key_params(key))

        await self._run(op)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        async def op(conn: Conn) -> ApiKeyRecord | None:
            row = await (await conn.execute(Q["get_api_key"], {"id": key_id})).fetchone()
            return None if row is None else api_key_from_row(row)

        return await self._run(op, idempotent=True)

    async def list_api_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        async def op(conn: Conn) -> list[ApiKeyRecord]:
            cur = await conn.execute(Q["list_api_keys"], {"tenant": tenant})
            return [api_key_from_row(r) for r in await cur.fetchall()]

        return await self._run(op, idempotent=True)

    async def revoke_api_key(self, key_id: str) -> bool:
        async def op(conn: Conn) -> bool:
            cur = await conn.execute(Q["revoke_api_key"], {"id": key_id, "now": time.time()})
            return cur.rowcount == 1

        return await self._run(op, idempotent=True)
