"""Log lines that say which run, step and worker they come from.

`JsonFormatter` writes one JSON object per line (for log collectors); `TextFormatter` the
same facts for people. Inside an execution both add the run id, the step (its position and
name), the worker and the run's trace id, read from the engine's context variables, which
the worker sets around each execution and step; so every line logged by workflow and step
code, by bosun or by a library, carries them with no effort from the caller.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from bosun.engine.execution import current_execution, current_step
from bosun.observe.tracecontext import run_trace

LogFormat = Literal["json", "text", "auto"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run_context() -> dict[str, Any]:
    """The run, step, worker and trace id of the code logging now (empty outside a run)."""
    execution = current_execution.get()
    if execution is None:
        return {}
    run = execution.run
    facts: dict[str, Any] = {
        "run_id": run.id,
        "workflow": run.workflow,
        "worker": execution.lease.owner,
        "trace_id": run_trace(run.id, run.traceparent).trace_id,
    }
    step = current_step.get()
    if step is not None:
        facts["step"] = step.name
        facts["seq"] = step.seq
        facts["attempt"] = step.attempt
    return facts


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time` (ISO 8601, UTC), `level`, `logger`, `message`, the
    run context when there is one, and `exception` with the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(run_context())
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, then `[run=… step=…]` inside a run."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        facts = run_context()
        if not facts:
            return text
        where = f"run={facts['run_id']}"
        if "step" in facts:
            where += f" step={facts['step']}#{facts['seq']}"
        first, newline, rest = text.partition("\n")
        return f"{first} [{where}]{newline}{rest}"


def configure(level: str, log_format: LogFormat = "text", stream: TextIO | None = None) -> None:
    """Send the root logger's records to `stream` (stderr) at `level`, as JSON lines or text.

    `auto` is JSON unless the stream is a terminal. Replaces handlers a previous call added.
    """
    stream = stream or sys.stderr
    if log_format == "auto":
        log_format = "text" if stream.isatty() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "bosun", False):
            root.removeHandler(old)
    handler.bosun = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
