"""W3C trace contexts, run trace ids, and the log formatters (outside a run; the e2e tests
check the run context of a real worker's lines)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bosun.observe.logs import JsonFormatter, configure
from bosun.observe.tracecontext import parse_traceparent, run_trace

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        VALID + "-extra",  # version 00 has exactly four fields
    ],
)
def test_invalid_traceparents_are_ignored(header: str | None) -> None:
    assert parse_traceparent(header) is None


def test_a_valid_traceparent_round_trips_and_a_later_version_is_read() -> None:
    parsed = parse_traceparent(VALID)
    assert parsed is not None and parsed.sampled and parsed.header() == VALID
    future = parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more")
    assert future is not None and not future.sampled


def test_a_runs_trace_is_its_own_or_the_submitters() -> None:
    run_id = "9f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
    own = run_trace(run_id, None)
    assert own.trace_id == run_id and own.parent is None
    given = run_trace(run_id, VALID)
    assert given.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert given.parent is not None and given.parent.span_id == "00f067aa0ba902b7"
    # The root span is the same for every worker, whatever the trace.
    assert own.root_span_id == given.root_span_id == run_trace(run_id, None).root_span_id
    assert len(own.root_span_id) == 16 and own.root_span_id != "0" * 16
    odd = run_trace("not-hex", None)  # ids that are not 128-bit hex still get a valid trace
    assert len(odd.trace_id) == 32 and int(odd.trace_id, 16)


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_outside_a_run(root_logger: logging.Logger) -> None:
    stream = io.StringIO()  # not a terminal: `auto` means JSON
    configure("INFO", "auto", stream)
    log = logging.getLogger("bosun.test")
    log.info("hello %s", "world")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it broke")
    log.debug("below the level")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "hello world" and first["level"] == "INFO"
    assert first["logger"] == "bosun.test" and first["time"].endswith("+00:00")
    assert "run_id" not in first
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


def test_configure_replaces_its_own_handler_and_writes_text(root_logger: logging.Logger) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure("INFO", "json", first)
    configure("WARNING", "text", second)
    logging.getLogger("bosun.test").warning("careful")
    assert first.getvalue() == ""
    assert " WARNING bosun.test: careful" in second.getvalue()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain", None, None)
    assert json.loads(JsonFormatter().format(record))["message"] == "plain"
