"""LLM usage totals on PostgreSQL (rows written by a trigger on the journal, migration 10)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bosun.records import UsageTotals
from bosun.store.postgres.io import Conn, Q, T


class PostgresUsage:
    """The usage queries of `PostgresStore`."""

    async def _run(self, op: Callable[[Conn], Awaitable[T]], *, idempotent: bool = False) -> T:
        raise NotImplementedError

    async def usage_totals(
        self,
        *,
        tenant: str | None = None,
        session: str | None = None,
        run_id: str | None = None,
        since: float = 0.0,
    ) -> UsageTotals:
        params = {"tenant": tenant, "session": session, "run_id": run_id, "since": since}

        async def op(conn: Conn) -> UsageTotals:
            row = await (await conn.execute(Q["usage_totals"], params)).fetchone()
            return UsageTotals.from_row(row)

        return await self._run(op, idempotent=True)
