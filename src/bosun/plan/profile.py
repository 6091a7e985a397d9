"""The workload profile: how runs arrive, how long they take, what they need.

Written by hand as YAML (`examples/profiles/*.yaml`) or fitted from a bosun database
(`bosun.plan.measure`). Give the arrival rate either as `arrivals.runs_per_hour` or as
`concurrency` (mean runs executing at once); a bursty profile may give neither, and then
its bursts are all its traffic.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bosun.errors import ConfigurationError
from bosun.plan.prices import GPU_TYPES

Pattern = Literal["steady", "diurnal", "bursty"]
Z95 = 1.6449  # the standard normal's 95th percentile


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arrivals(_Part):
    """When runs start: a steady Poisson stream, a daily wave, or bursts on a background."""

    pattern: Pattern = "steady"
    runs_per_hour: float | None = Field(default=None, ge=0)
    peak_to_mean: float = Field(default=1.8, ge=1, le=2)  # diurnal: busiest hour / mean hour
    peak_hour: float = Field(default=14, ge=0, lt=24)
    burst_size: int = Field(default=10, ge=1, le=100_000)  # bursty: runs arriving together
    bursts_per_day: float = Field(default=4, gt=0)
    burst_spread_s: float = Field(default=30, ge=0)  # a burst's runs arrive within this


class Duration(_Part):
    """Seconds a run holds a worker (suspensions excluded): lognormal from p50 and p95."""

    p50: float = Field(gt=0)
    p95: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Duration:
        if self.p95 < self.p50:
            raise ValueError("duration p95 must be at least p50")
        return self

    @property
    def sigma(self) -> float:
        return math.log(self.p95 / self.p50) / Z95

    @property
    def mean(self) -> float:
        return self.p50 * math.exp(self.sigma**2 / 2)


class Runs(_Part):
    """One run's shape and needs."""

    duration_s: Duration
    steps: int = Field(default=5, ge=0)
    llm_calls: int = Field(default=3, ge=0)
    longest_step_s: float | None = Field(default=None, gt=0)
    cpu: float = Field(default=0.1, gt=0)  # vCPU a run keeps busy on average
    memory_gb: float = Field(default=0.1, gt=0)  # memory each run adds to a worker process
    process_memory_gb: float = Field(default=0.2, gt=0)  # a worker process before any run
    state_kb: float = Field(default=10, ge=0)  # input, step outputs and result

    @property
    def longest_step(self) -> float:
        """The longest single step: given, else the p95 duration over the step count."""
        if self.longest_step_s is not None:
            return self.longest_step_s
        return self.duration_s.p95 / max(1, self.steps + self.llm_calls)

    @property
    def function_memory_gb(self) -> float:
        """Memory a function running one run alone needs: a process and the run."""
        return self.process_memory_gb + self.memory_gb


class Gpu(_Part):
    """GPU steps each run makes, in a chain, on a GPU pool."""

    steps: int = Field(default=0, ge=0)
    step_s: float = Field(default=5, gt=0)
    type: str = "l4"
    model_load_s: float = Field(default=25, ge=0)  # weights into GPU memory on a cold container

    @model_validator(mode="after")
    def _known(self) -> Gpu:
        if self.type not in GPU_TYPES:
            raise ValueError(f"gpu.type must be one of {', '.join(GPU_TYPES)}")
        return self


class Team(_Part):
    """Who will run it: Kubernetes without a platform team costs many more hours."""

    platform_engineers: int = Field(default=0, ge=0)
    devops: int = Field(default=0, ge=0)


class Targets(_Part):
    """What the team will accept."""

    p95_wait_s: float = Field(default=60, gt=0)


class Profile(_Part):
    """A workload: arrivals, runs, GPU needs, team and targets."""

    name: str = "workload"
    description: str = ""
    arrivals: Arrivals = Arrivals()
    concurrency: float | None = Field(default=None, gt=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    runs: Runs
    gpu: Gpu = Gpu()
    team: Team = Team()
    targets: Targets = Targets()
    measured: dict[str, Any] | None = None  # what `--from-db` saw, for the report

    @model_validator(mode="after")
    def _one_rate(self) -> Profile:
        given = self.arrivals.runs_per_hour is not None
        if given and self.concurrency is not None:
            raise ValueError("give arrivals.runs_per_hour or concurrency, not both")
        if not given and self.concurrency is None and self.arrivals.pattern != "bursty":
            raise ValueError("give arrivals.runs_per_hour or concurrency (mean runs at once)")
        bursts = self.burst_rate_per_hour
        if self.arrivals.pattern == "bursty" and bursts > self.rate_per_hour * (1 + 1e-9):
            raise ValueError(
                "bursts bring more runs than the arrival rate: burst_size * bursts_per_day / 24 "
                "must not exceed runs_per_hour"
            )
        return self

    @property
    def burst_rate_per_hour(self) -> float:
        """Runs an hour that arrive in bursts (bursty pattern only)."""
        if self.arrivals.pattern != "bursty":
            return 0.0
        return self.arrivals.burst_size * self.arrivals.bursts_per_day / 24

    @property
    def rate_per_hour(self) -> float:
        """Mean runs started per hour."""
        if self.arrivals.runs_per_hour is not None:
            return self.arrivals.runs_per_hour
        if self.concurrency is not None:
            return self.concurrency * 3600 / self.runs.duration_s.mean
        return self.burst_rate_per_hour

    @property
    def mean_concurrency(self) -> float:
        """Mean runs executing at once (Little's law)."""
        return self.rate_per_hour / 3600 * self.runs.duration_s.mean

    @property
    def peak_concurrency(self) -> int:
        """Runs at once a fixed-size deployment must hold: the measured peak for a measured
        profile, else the busy moment plus Poisson headroom; capped by `max_concurrency`."""
        measured = (self.measured or {}).get("peak_concurrency")
        if isinstance(measured, int) and measured > 0:
            return min(measured, self.max_concurrency) if self.max_concurrency else measured
        mean = self.mean_concurrency
        if self.arrivals.pattern == "diurnal":
            mean *= self.arrivals.peak_to_mean
        elif self.arrivals.pattern == "bursty":
            background = (self.rate_per_hour - self.burst_rate_per_hour) / 3600
            burst = background * self.runs.duration_s.mean + self.arrivals.burst_size
            mean = max(mean, burst)  # bursts so frequent they overlap: the mean is the floor
        peak = math.ceil(mean + 2 * math.sqrt(mean)) if mean > 0 else 1
        return min(peak, self.max_concurrency) if self.max_concurrency else peak

    def scaled(self, *, concurrency: float | None = None, burst_size: int | None = None) -> Profile:
        """This profile at another mean concurrency (a bursty one's bursts come more or less
        often), or bursty with bursts of another size."""
        data = self.model_dump()
        if concurrency is not None:
            factor = concurrency / max(self.mean_concurrency, 1e-9)
            arrivals = data["arrivals"]
            arrivals["runs_per_hour"] = self.rate_per_hour * factor
            data["concurrency"] = None
            if self.arrivals.pattern == "bursty":
                # The same bursts, more or less often: the spikes keep their size.
                arrivals["bursts_per_day"] = self.arrivals.bursts_per_day * factor
        if burst_size is not None:
            arrivals = data["arrivals"]
            arrivals.update(pattern="bursty", burst_size=burst_size)
            bursts = burst_size * arrivals["bursts_per_day"] / 24
            arrivals["runs_per_hour"] = max(self.rate_per_hour, bursts)
            data["concurrency"] = None
        data["max_concurrency"] = None
        data["measured"] = None  # another workload: its peak is the model's, not the one seen
        return Profile.model_validate(data)


def parse_profile(data: Any, where: str = "profile") -> Profile:
    """Validate a profile from parsed YAML/JSON, with errors that name the field.

    Raises:
        ConfigurationError: a field is missing, unknown, or out of range.
    """
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where} must be a mapping of fields (see docs/plan.md)")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'profile'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"{where} is not a valid workload profile: {problems}") from None


def load_profile(path: str | Path) -> Profile:
    """Read a workload profile from a YAML file.

    Raises:
        ConfigurationError: the file is missing, not YAML, or not a valid profile.
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigurationError(f"cannot read profile {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"profile {path} is not valid YAML: {exc}") from None
    return parse_profile(data, f"profile {path}")
