"""Seeing inside an App: Prometheus metrics, OpenTelemetry traces, structured logs.

- `metrics`: counters, histograms and gauges in the App's own registry, served at
  `/metrics` by the API server and by `bosun worker --metrics-port`.
- `tracing`: spans of runs, steps, LLM and tool calls (the `bosun[otel]` extra), configured
  by the standard `OTEL_*` variables; off when they configure no exporter.
- `logs`: JSON lines (or text) carrying the run, step, worker and trace id.

See docs/metrics.md and docs/observability.md.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bosun.observe.observer import Observer
from bosun.observe.tracecontext import TraceParent, parse_traceparent

if TYPE_CHECKING:
    from bosun.observe.metrics import Metrics
    from bosun.observe.tracing import Tracing
    from bosun.records import RunRecord

__all__ = ["Metrics", "Observability", "Observer", "TraceParent", "parse_traceparent"]

log = logging.getLogger("bosun.observe")
TRACING_VARIABLES = ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT")


class Observability:
    """The metrics and tracing of one App (`app.observability`).

    Args:
        service_name: `service.name` of the App's spans unless `OTEL_SERVICE_NAME` says.
        environ: where `OTEL_*` settings are read, on first use of `tracing` (default: the
            process environment).
    """

    def __init__(self, service_name: str, environ: Mapping[str, str] | None = None) -> None:
        self._metrics: Metrics | None = None
        self._counting = True
        self.service_name = service_name
        self._environ = environ
        self._tracing: Tracing | None = None
        self._tracing_read = False

    @property
    def metrics(self) -> Metrics:
        """The App's metrics (prometheus_client is imported on first use)."""
        if self._metrics is None:
            from bosun.observe.metrics import Metrics

            self._metrics = Metrics()
        return self._metrics

    def discard_metrics(self) -> None:
        """Count nothing from now on: this process never exposes its metrics (a CLI command
        that exits when done, a worker without `--metrics-port`), so it neither imports
        prometheus_client (~18 ms of a cold start) nor spends time on counters nobody reads.
        Call it before workers start; `metrics` still answers, with what was counted."""
        self._counting = False

    @property
    def tracing(self) -> Tracing | None:
        """The App's tracing, configured from `OTEL_*` on first use; None when off."""
        if not self._tracing_read:
            self._tracing_read = True
            environ = os.environ if self._environ is None else self._environ
            if any(name in environ for name in TRACING_VARIABLES) or any(
                name.startswith("OTEL_EXPORTER_OTLP_TRACES") for name in environ
            ):
                self._tracing = _tracing_from(environ, self.service_name)
        return self._tracing

    def use_tracing(self, tracing: Tracing | None) -> None:
        """Trace with `tracing` (e.g. `Tracing(InMemorySpanExporter(), batch=False)`), or
        not at all with None, whatever the environment says. Call before workers start."""
        self._tracing = tracing
        self._tracing_read = True

    def run_observer(self, concurrency: int, is_draining: Callable[[], bool]) -> Observer:
        """The observer a worker with `concurrency` slots installs in its runs."""
        metrics = self.metrics if self._counting else None
        return Observer(metrics, self.tracing, concurrency, is_draining)

    def submission_traceparent(self, given: str | None) -> str | None:
        """The trace context to store with a new run: a valid `given` one (a W3C
        `traceparent` header), else the current OpenTelemetry span's when there is one."""
        parsed = parse_traceparent(given)
        if parsed is not None:
            return parsed.header()
        # A current span exists only in a process that imported OpenTelemetry's API: one
        # that never did (a CLI process, most workers) is spared importing it (~5 ms).
        otel_trace: Any = sys.modules.get("opentelemetry.trace")
        if otel_trace is None:
            return None
        context = otel_trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        current = TraceParent(
            f"{context.trace_id:032x}", f"{context.span_id:016x}", int(context.trace_flags)
        )
        return current.header()

    def run_submitted(self, workflow: str) -> None:
        if self._counting:
            self.metrics.count(self.metrics.runs_submitted, workflow)

    def run_cancelled(self, run: RunRecord) -> None:
        """Count a cancelled run as finished and send its root span."""
        if self._counting:
            self.metrics.runs_finished.labels(run.workflow, "cancelled").inc()
        tracing = self.tracing
        if tracing is not None:
            ended = run.finished_at if run.finished_at is not None else time.time()
            tracing.run_finished(run, "cancelled", None, ended)


def _tracing_from(environ: Mapping[str, str], service_name: str) -> Tracing | None:
    try:
        from bosun.observe.tracing import Tracing
    except ImportError:
        if environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true":
            log.warning(
                "OTEL_* variables ask for traces, but OpenTelemetry's SDK is not installed: "
                "pip install 'bosun[otel]'. Tracing is off."
            )
        return None
    return Tracing.from_environment(environ, service_name)


def __getattr__(name: str) -> Any:
    # `bosun.observe.Metrics` stays importable without importing prometheus_client with bosun.
    if name == "Metrics":
        from bosun.observe.metrics import Metrics

        return Metrics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
