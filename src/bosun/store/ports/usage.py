"""LLM usage: tokens and cost of the completed `ctx.llm` calls."""

from __future__ import annotations

from typing import Protocol

from bosun.records import UsageTotals


class UsageStore(Protocol):
    """Sums of the usage journaled by LLM calls."""

    async def usage_totals(
        self,
        *,
        tenant: str | None = None,
        session: str | None = None,
        run_id: str | None = None,
        since: float = 0.0,
    ) -> UsageTotals:
        """LLM usage of the completed `ctx.llm` calls matching every filter given."""
