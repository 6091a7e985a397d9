"""Sessions on SQLite: a conversation's messages, state and metadata."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from bosun.records import RunRecord, SessionMessage, SessionRecord
from bosun.store.rows import run_from_row
from bosun.store.sqlite.io import GroupCommitWriter, Q, Reader
from bosun.store.sqlite.payloads import resolve


class SqliteSessions:
    """The session operations of `SqliteStore`."""

    _writer: GroupCommitWriter
    _reader: Reader

    async def ensure_session(
        self, tenant: str, session_id: str, metadata: str | None = None
    ) -> SessionRecord:
        params = {"tenant": tenant, "id": session_id, "metadata": metadata, "now": time.time()}

        def op(conn: sqlite3.Connection) -> SessionRecord:
            return SessionRecord.from_row(conn.execute(Q["ensure_session"], params).fetchone())

        return await self._writer.submit(op)

    async def get_session(self, tenant: str, session_id: str) -> SessionRecord | None:
        def op(conn: sqlite3.Connection) -> SessionRecord | None:
            row = conn.execute(Q["get_session"], {"tenant": tenant, "id": session_id}).fetchone()
            return None if row is None else SessionRecord.from_row(row)

        return self._reader.call(op)

    async def list_sessions(
        self, tenant: str, limit: int = 50, before: tuple[float, str] | None = None
    ) -> list[SessionRecord]:
        at, last = before if before is not None else (None, None)
        params = {"tenant": tenant, "limit": limit, "before_at": at, "before_id": last}

        def op(conn: sqlite3.Connection) -> list[SessionRecord]:
            return [SessionRecord.from_row(r) for r in conn.execute(Q["list_sessions"], params)]

        return await self._reader.submit(op)

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

        def op(conn: sqlite3.Connection) -> SessionRecord | None:
            row = conn.execute(Q["update_session"], params).fetchone()
            return None if row is None else SessionRecord.from_row(row)

        return await self._writer.submit(op)

    async def delete_session(self, tenant: str, session_id: str) -> bool:
        params = {"tenant": tenant, "id": session_id}

        def op(conn: sqlite3.Connection) -> bool:
            conn.execute(Q["delete_session_messages"], params)
            conn.execute(Q["delete_session_memories"], params)
            return conn.execute(Q["delete_session"], params).rowcount == 1

        return await self._writer.submit(op)

    async def append_messages(
        self,
        tenant: str,
        session_id: str,
        messages: list[str],
        *,
        run_id: str | None = None,
        source: str | None = None,
    ) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return insert_messages(conn, tenant, session_id, messages, run_id, source, time.time())

        return await self._writer.submit(op)

    async def session_messages(
        self, tenant: str, session_id: str, after: int = 0, limit: int = 1000
    ) -> list[SessionMessage]:
        params = {"tenant": tenant, "id": session_id, "after": after, "limit": limit}

        def op(conn: sqlite3.Connection) -> list[SessionMessage]:
            return [SessionMessage.from_row(r) for r in conn.execute(Q["session_messages"], params)]

        return await self._reader.submit(op)

    async def drop_run_messages(self, tenant: str, session_id: str, run_id: str) -> int:
        params = {"tenant": tenant, "id": session_id, "run_id": run_id}

        def op(conn: sqlite3.Connection) -> int:
            return conn.execute(Q["drop_run_messages"], params).rowcount

        return await self._writer.submit(op)

    async def session_runs(self, tenant: str, session_id: str) -> list[RunRecord]:
        params = {"tenant": tenant, "id": session_id}

        def op(conn: sqlite3.Connection) -> list[RunRecord]:
            rows = conn.execute(Q["session_runs"], params).fetchall()
            return [run_from_row(r) for r in resolve(conn, rows)]

        return await self._reader.submit(op)


def insert_messages(
    conn: sqlite3.Connection,
    tenant: str,
    session_id: str,
    messages: Sequence[str],
    run_id: str | None,
    source: str | None,
    now: float,
) -> int:
    """Append to a session (made if missing) inside the writer's transaction; return the last
    position taken. A message whose run and `source` are already stored is not added again."""
    conn.execute(
        Q["ensure_session"], {"tenant": tenant, "id": session_id, "metadata": None, "now": now}
    ).fetchone()
    params = {"tenant": tenant, "id": session_id, "n": len(messages), "now": now}
    last = int(conn.execute(Q["take_message_seqs"], params).fetchone()[0])
    first = last - len(messages) + 1
    conn.executemany(
        Q["insert_session_message"],
        [
            {
                "tenant": tenant,
                "id": session_id,
                "seq": first + i,
                "run_id": run_id,
                "source": None if source is None else f"{source}:{i}",
                "message": message,
                "now": now,
            }
            for i, message in enumerate(messages)
        ],
    )
    return last
