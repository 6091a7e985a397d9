"""What a worker did before it stopped, and the exit status that tells a platform about it.

Exit status of `bosun worker` (and the `exit_code` of the Lambda handler's summary):

| code | meaning |
|---|---|
| 0 | stopped cleanly: every run it held finished, suspended, or was handed back to the queue |
| 1 | a bosun error stopped it (e.g. the database could not be opened) |
| 2 | a usage or configuration error (bad option, app not found) |
| 3 | it could not hand some runs back (the database was away at the end): they resume |
|   | elsewhere once their leases expire, up to one lease TTL later, nothing is lost |
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bosun.records import Outcome

EXIT_CLEAN = 0
EXIT_LEASES_KEPT = 3


@dataclass
class WorkerSummary:
    """Counts of how the runs a worker held left it.

    Attributes:
        completed: runs that completed on this worker.
        failed: runs that failed on this worker.
        suspended: runs that began a durable wait (sleep, signal, child, retry backoff).
        blocked: runs parked by a determinism error.
        handed_back: runs returned to the queue for another worker to resume at once, at a
            step boundary or cut short at the end of the grace period.
        abandoned: steps cut short at the end of the grace period (they run again: steps run
            at least once); their runs are among `handed_back` unless `kept` counts them.
        lost: runs given up without an outcome, their lease taken over or the database out
            of reach for too long; another worker resumes them.
        kept: runs still leased to this worker when it stopped, the database being out of
            reach; they resume once their leases expire.
    """

    completed: int = 0
    failed: int = 0
    suspended: int = 0
    blocked: int = 0
    handed_back: int = 0
    abandoned: int = 0
    lost: int = 0
    kept: int = 0
    started: float = field(default_factory=time.monotonic, repr=False)
    seconds: float = 0.0

    def record(self, outcome: Outcome | None) -> None:
        """Count the outcome of one execution (None: the run was abandoned, lease lost)."""
        if outcome is None:
            self.lost += 1
        elif outcome.kind == "complete":
            self.completed += 1
        elif outcome.kind == "fail":
            self.failed += 1
        elif outcome.kind == "suspend":
            self.suspended += 1
        elif outcome.kind == "block":
            self.blocked += 1
        else:  # "release": drained at a step boundary
            self.handed_back += 1

    @property
    def settled(self) -> int:
        """Runs left with a durable outcome: finished, waiting, parked or handed back."""
        return self.completed + self.failed + self.suspended + self.blocked + self.handed_back

    def stop(self) -> None:
        """Stamp how long the worker ran."""
        self.seconds = time.monotonic() - self.started

    @property
    def exit_code(self) -> int:
        """0 when every run held was settled or handed back, 3 when some leases were kept."""
        return EXIT_LEASES_KEPT if self.kept else EXIT_CLEAN

    def as_dict(self) -> dict[str, Any]:
        """The counts, the seconds run and the exit code, for JSON."""
        return {
            "completed": self.completed,
            "failed": self.failed,
            "suspended": self.suspended,
            "blocked": self.blocked,
            "handed_back": self.handed_back,
            "abandoned": self.abandoned,
            "lost": self.lost,
            "kept": self.kept,
            "seconds": round(self.seconds, 3),
            "exit_code": self.exit_code,
        }

    def line(self) -> str:
        """One log line: `3 completed, 0 failed, … in 1.92 s`."""
        counts = ", ".join(
            f"{value} {name.replace('_', ' ')}"
            for name, value in self.as_dict().items()
            if name not in ("seconds", "exit_code")
        )
        return f"{counts} in {self.seconds:.2f} s"
