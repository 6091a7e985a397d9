"""API keys on SQLite (hashes only; see `bosun.server.auth`)."""

from __future__ import annotations

import sqlite3
import time

from bosun.records import ApiKeyRecord
from bosun.store.rows import api_key_from_row, api_key_params
from bosun.store.sqlite.io import GroupCommitWriter, Q, Reader


class SqliteApiKeys:
    """The API-key operations of `SqliteStore`."""

    _writer: GroupCommitWriter
    _reader: Reader

    async def create_api_key(self, key: ApiKeyRecord) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(Q["insert_api_key"], api_key_params(key))

        await self._writer.submit(op)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        def op(conn: sqlite3.Connection) -> ApiKeyRecord | None:
            row = conn.execute(Q["get_api_key"], {"id": key_id}).fetchone()
            return None if row is None else api_key_from_row(row)

        return self._reader.call(op)

    async def list_api_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        def op(conn: sqlite3.Connection) -> list[ApiKeyRecord]:
            return [
                api_key_from_row(r) for r in conn.execute(Q["list_api_keys"], {"tenant": tenant})
            ]

        return await self._reader.submit(op)

    async def revoke_api_key(self, key_id: str) -> bool:
        def op(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(Q["revoke_api_key"], {"id": key_id, "now": time.time()}).rowcount == 1
            )

        return await self._writer.submit(op)
