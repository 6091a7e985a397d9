"""The recent workload, measured for `bosun plan --from-db`."""

from __future__ import annotations

from typing import Protocol

from bosun.store.workload import WorkloadSample


class WorkloadStore(Protocol):
    """A sample of the runs created recently."""

    async def workload_sample(self, since: float, limit: int = 20_000) -> WorkloadSample:
        """Runs created since `since`: hourly counts of all, details of the newest `limit`
        (for `bosun plan --from-db`)."""
