"""What a store reports about its recent workload, for `bosun plan --from-db`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WORKLOAD_SAMPLE_LIMIT = 20_000  # newest runs read in detail; counts cover every run


@dataclass(frozen=True)
class WorkloadRun:
    """One run as the planner sees it (times are UNIX seconds)."""

    queue: str
    status: str
    attempts: int
    created_at: float
    started_at: float | None  # its first journal entry's start
    finished_at: float | None
    steps: int  # journal entries of kind step or tool
    llm_calls: int
    waiting_s: float  # in sleeps, signals and child runs: time holding no worker
    longest_step_s: float
    state_bytes: int  # input, result and journal outputs

    @classmethod
    def from_row(cls, row: Any) -> WorkloadRun:
        return cls(
            queue=row["queue"],
            status=row["status"],
            attempts=int(row["attempts"]),
            created_at=float(row["created_at"]),
            started_at=None if row["started_at"] is None else float(row["started_at"]),
            finished_at=None if row["finished_at"] is None else float(row["finished_at"]),
            steps=int(row["steps"]),
            llm_calls=int(row["llm_calls"]),
            waiting_s=float(row["waiting_s"]),
            longest_step_s=float(row["longest_step_s"]),
            state_bytes=int(row["state_bytes"]),
        )


@dataclass(frozen=True)
class WorkloadSample:
    """Runs created since a time: hourly counts of all of them, details of the newest."""

    hourly: list[tuple[int, int]]  # (UNIX hour, runs created in it), oldest first
    first_created: float | None
    runs: list[WorkloadRun]  # newest first, at most the limit asked for
    queues: list[str]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.hourly)
