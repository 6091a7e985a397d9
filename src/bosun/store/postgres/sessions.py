"""Sessions on PostgreSQL: a conversation's messages, state and metadata."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bosun.records import RunRecord, SessionMessage, SessionRecord
from bosun.store.postgres.io import Conn, Q, T
from bosun.store.rows import run_from_row


class PostgresSessions:
    """The session operations of `PostgresStore`."""

    async def _run(self, op: Callable[[Conn], Awaitable[T]], *, idempotent: bool = False) -> T:
        raise NotImplementedError

    async def ensure_session(
        self, tenant: str, session_id: str, metadata: str | None = None
    ) -> SessionRecord:
        params = {"tenant": tenant, "id": session_id, "metadata": metadata, "now": time.time()}

        async def op(conn: Conn) -> SessionRecord:
            row = await (await conn.execute(Q["ensure_session"], params)).fetchone()
            return SessionRecord.from_row(row)

        return await self._run(op, idempotent=True)

    async def get_session(self, tenant: str, session_id: str) -> SessionRecord | None:
        async def op(conn: Conn) -> SessionRecord | None:
            params = {"tenant": tenant, "id": session_id}
            row = await (await conn.execute(Q["get_session"], params)).fetchone()
            return None if row is None else SessionRecord.from_row(row)

        return await self._run(op, idempotent=True)

    async def list_sessions(
        self, tenant: str, limit: int = 50, before: tuple[float, str] | None = None
    ) -> list[SessionRecord]:
        at, last = before if before is not None else (None, None)
        params = {"tenant": tenant, "limit": limit, "before_at": at, "before_id": last}

        async def op(conn: Conn) -> list[SessionRecord]:
            rows = await (await conn.execute(Q["list_sessions"], params)).fetchall()
            return [SessionRecord.from_row(r) for r in rows]

        return await self._run(op, idempotent=True)

    async def update_session(
        self, tenant: str, session_id: str, *, state: str | None, metadata: str | None
    ) -> SessionRecord | None:
        params = {
            "tenant": tenant,
            "id": session_id,
            "state": state,
            "metadata": metadata,
            "now": time.time(),
        }

        async def op(conn: Conn) -> SessionRecord | None:
            row = await (await conn.execute(Q["update_session"], params)).fetchone()
            return None if row is None else SessionRecord.from_row(row)

        return await self._run(op, idempotent=True)

    async def delete_session(self, tenant: str, session_id: str) -> bool:
        params = {"tenant": tenant, "id": session_id}

        async def op(conn: Conn) -> bool:
            async with conn.transaction():
                await conn.execute(Q["delete_session_messages"], params)
                await conn.execute(Q["delete_session_memories"], params)
                cur = await conn.execute(Q["delete_session"], params)
                return cur.rowcount == 1

        return await self._run(op)

    async def append_messages(
        self,
        tenant: str,
        session_id: str,
        messages: list[str],
        *,
        run_id: str | None = None,
        source: str | None = None,
    ) -> int:
        appended = [append_params(tenant, session_id, run_id, source, messages)]

        async def op(conn: Conn) -> int:
            async with conn.transaction():
                params = {"appends": json.dumps(appended), "now": time.time()}
                await conn.execute(Q["append_session_messages"], params)
                cur = await conn.execute(Q["get_session"], {"tenant": tenant, "id": session_id})
                row = await cur.fetchone()
                assert row is not None  # made by the append, in this transaction
                return int(row["last_seq"])

        return await self._run(op)

    async def session_messages(
        self, tenant: str, session_id: str, after: int = 0, limit: int = 1000
    ) -> list[SessionMessage]:
        params = {"tenant": tenant, "id": session_id, "after": after, "limit": limit}

        async def op(conn: Conn) -> list[SessionMessage]:
            rows = await (await conn.execute(Q["session_messages"], params)).fetchall()
            return [SessionMessage.from_row(r) for r in rows]

        return await self._run(op, idempotent=True)

    async def drop_run_messages(self, tenant: str, session_id: str, run_id: str) -> int:
        params = {"tenant": tenant, "id": session_id, "run_id": run_id}

        async def op(conn: Conn) -> int:
            return (await conn.execute(Q["drop_run_messages"], params)).rowcount

        return await self._run(op, idempotent=True)

    async def session_runs(self, tenant: str, session_id: str) -> list[RunRecord]:
        params = {"tenant": tenant, "id": session_id}

        async def op(conn: Conn) -> list[RunRecord]:
            rows = await (await conn.execute(Q["session_runs"], params)).fetchall()
            return [run_from_row(r) for r in rows]

        return await self._run(op, idempotent=True)


def append_params(
    tenant: str, session: str, run_id: str | None, source: str | None, messages: Sequence[str]
) -> dict[str, Any]:
    """One append as the `append_session_messages` function reads it."""
    return {
        "tenant": tenant,
        "session": session,
        "run_id": run_id,
        "source": source,
        "messages": list(messages),
    }
