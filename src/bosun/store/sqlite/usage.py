"""LLM usage totals on SQLite (rows written by a trigger on the journal, migration 10)."""

from __future__ import annotations

import sqlite3

from bosun.records import UsageTotals
from bosun.store.sqlite.io import GroupCommitWriter, Q, Reader


class SqliteUsage:
    """The usage queries of `SqliteStore`."""

    _writer: GroupCommitWriter
    _reader: Reader

    async def usage_totals(
        self,
        *,
        tenant: str | None = None,
        session: str | None = None,
        run_id: str | None = None,
        since: float = 0.0,
    ) -> UsageTotals:
        params = {"tenant": tenant, "session": session, "run_id": run_id, "since": since}

        def op(conn: sqlite3.Connection) -> UsageTotals:
            return UsageTotals.from_row(conn.execute(Q["usage_totals"], params).fetchone())

        return await self._reader.submit(op)
