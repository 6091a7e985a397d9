"""Budgets: limits on the tokens and dollars a run, or a tenant, may spend on LLM calls.

A run's budget (`@app.workflow(budget=Budget(...))`) counts every call the run made: those
its journal recorded when the worker claimed it (so a replay, or another worker taking over
after a crash, starts from what was spent), plus each call made since, whatever steps lie
between them. A tenant's (`app.tenant_budget(Budget(..., per=timedelta(days=1)))`) counts
every call of the tenant's runs within the window: the `usage` table, plus this run's calls
not yet written. Both are checked before each LLM call that is about to be made (a replayed
call is never re-checked): once a limit is reached the run fails with `BudgetExceeded`, which
names the limit and what was used. The call that crosses a limit completes; the next one is
refused.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bosun.agents.errors import BudgetExceeded
from bosun.engine.execution import Spent
from bosun.engine.extensions import Extension
from bosun.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from bosun.engine.execution import Execution
    from bosun.records import JournalEntry


@dataclass(frozen=True)
class Budget:
    """At most `tokens` (prompt + completion) and/or `cost` US dollars; for a tenant, within
    each rolling window of `per` (all time when None)."""

    tokens: int | None = None
    cost: float | None = None
    per: timedelta | None = None

    def __post_init__(self) -> None:
        if self.tokens is None and self.cost is None:
            raise ConfigurationError("Budget needs tokens=, cost= or both")
        if (self.tokens is not None and self.tokens <= 0) or (
            self.cost is not None and self.cost <= 0
        ):
            raise ConfigurationError(f"{self}: limits must be positive")
        if self.per is not None and self.per.total_seconds() <= 0:
            raise ConfigurationError(f"{self}: per must be a positive duration")

    def reached(self, tokens: int, cost: float) -> str | None:
        """Which limit `tokens` and `cost` have reached, in words; None if neither."""
        window = "" if self.per is None else f" per {_window(self.per)}"
        if self.tokens is not None and tokens >= self.tokens:
            return f"token limit {self.tokens:,}{window} reached ({tokens:,} used)"
        if self.cost is not None and cost >= self.cost:
            return f"cost limit ${self.cost:,.4f}{window} reached (${cost:,.4f} used)"
        return None


TENANT_BUDGETS: Extension[Mapping[str | None, Budget]] = Extension("bosun.agents.tenant_budgets")
"""The App's tenant budgets (`app.tenant_budget`), by tenant; None holds every tenant's."""


def _window(per: timedelta) -> str:
    seconds = per.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = int(seconds // size)
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds:g} s"


def _recorded(entries: Iterable[JournalEntry]) -> Spent:
    """What the completed LLM calls among `entries` spent, from their recorded usage."""
    spent = Spent()
    for entry in entries:
        if entry.kind != "llm" or entry.status != "completed":
            continue
        output = json.loads(entry.output or "{}")
        usage = output.get("response", {}).get("usage", {})
        spent.tokens += int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
        spent.cost += float(output.get("cost", 0.0))
    return spent


def _run_spent(execution: Execution) -> Spent:
    # The journal is summed once per claim: it holds every call before this execution, and
    # `spend` adds each call made since, so a write of progress (which empties the pending
    # list) forgets nothing.
    if execution.spent is None:
        execution.spent = _recorded(execution.journal.values())
    return execution.spent


def spend(execution: Execution, tokens: int, cost: float) -> None:
    """Count a call the run just made (not a replayed one) against its budget."""
    if execution.workflow.budget is None:
        return
    spent = _run_spent(execution)
    spent.tokens += tokens
    spent.cost += cost


def run_usage(execution: Execution) -> tuple[int, float]:
    """Tokens and cost of the run's LLM calls so far (recorded and new)."""
    spent = _run_spent(execution)
    return spent.tokens, spent.cost


async def check(execution: Execution) -> None:
    """Raise `BudgetExceeded` if the run's or its tenant's budget is used up."""
    run = execution.run
    budget = execution.workflow.budget
    if budget is not None:
        problem = budget.reached(*run_usage(execution))
        if problem is not None:
            raise BudgetExceeded(f"run {run.id}: {problem}")
    budgets = execution.env.extensions.get(TENANT_BUDGETS) or {}
    tenant_budget = budgets.get(run.tenant) or budgets.get(None)
    if tenant_budget is not None:
        since = (
            0.0 if tenant_budget.per is None else time.time() - tenant_budget.per.total_seconds()
        )
        # Calls not written yet are in no `usage` row: add them (read before the query, so a
        # write finishing meanwhile can only count one twice, never miss it).
        unwritten = _recorded(execution.pending.journal)
        totals = await execution.env.store.usage_totals(tenant=run.tenant, since=since)
        problem = tenant_budget.reached(
            totals.tokens + unwritten.tokens, totals.cost + unwritten.cost
        )
        if problem is not None:
            raise BudgetExceeded(f"tenant {run.tenant}: {problem}")
