"""SSE framing, checked by a parser written from the WHATWG rules, and resume positions."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from bosun.errors import InvalidRequest
from bosun.server.sse import comment, event_name, format_event, parse_last_event_id

pytestmark = pytest.mark.timeout(30)


@dataclass
class Message:
    type: str
    data: str
    last_event_id: str


def split_lines(stream: bytes) -> list[str]:
    """The complete lines of a stream: each ends at CRLF, a lone LF or a lone CR; an
    unterminated last line is never processed."""
    text = stream.decode("utf-8").removeprefix("\ufeff")
    lines: list[str] = []
    line: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "\r\n":
            lines.append("".join(line))
            line = []
            if char == "\r" and text[i + 1 : i + 2] == "\n":
                i += 1
        else:
            line.append(char)
        i += 1
    return lines


def parse(stream: bytes) -> list[Message]:
    """The messages an EventSource dispatches, following "Interpreting an event stream" in
    the WHATWG HTML standard (section 9.2.6), written without reference to bosun's code."""
    messages: list[Message] = []
    data, event_type, last_event_id = "", "", ""
    for line in split_lines(stream):
        if line == "":  # dispatch; an empty data buffer dispatches nothing
            if data:
                type_ = event_type or "message"
                messages.append(Message(type_, data.removesuffix("\n"), last_event_id))
            data, event_type = "", ""
            continue
        if line.startswith(":"):
            continue
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            event_type = value
        elif field == "data":
            data += value + "\n"
        elif field == "id" and "\0" not in value:
            last_event_id = value
    return messages


def normalised(data: str) -> str:
    return data.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize(
    "data",
    [
        "plain",
        "",
        "two\nlines",
        "crlf\r\nlines",
        "lone\rcr",
        "mixed\r\n\r\n\n\rbreaks",
        "trailing newline\n",
        "\nleading newline",
        "  leading spaces kept",
        "data: looks like a field\nid: 99\n\nevent: nope",
        ": looks like a comment",
        "not a break: \x0b \x0c \x1c \x85 \u2028 \u2029",
        "unicode: é 字 🚀",
    ],
)
def test_any_data_round_trips_through_a_spec_parser(data: str) -> None:
    messages = parse(format_event(7, data))
    assert messages == [Message("message", normalised(data), "7")]


def test_the_documented_event_is_framed_as_the_api_shows() -> None:
    event = {"id": 3, "run_id": "01J", "type": "step.completed", "data": {"seq": "1"}}
    framed = format_event(3, json.dumps(event))
    assert framed == b"id: 3\ndata: " + json.dumps(event).encode() + b"\n\n"
    assert json.loads(parse(framed)[0].data) == event


def test_a_stream_of_events_and_comments() -> None:
    stream = b"".join(
        [
            comment(),
            format_event(1, "one"),
            comment("two\nline comment"),
            format_event(None, "no id keeps the last", event="progress"),
            format_event(2, "multi\nline", event="step.completed"),
            comment(),
        ]
    )
    assert parse(stream) == [
        Message("message", "one", "1"),
        Message("progress", "no id keeps the last", "1"),
        Message("step.completed", "multi\nline", "2"),
    ]


def test_comments_and_framing_bytes() -> None:
    assert comment() == b": keep-alive\n\n"
    assert comment("a\r\nb") == b": a\n: b\n\n"
    assert format_event(None, "") == b"data: \n\n"
    assert format_event(5, "x", event="e") == b"id: 5\nevent: e\ndata: x\n\n"


@pytest.mark.parametrize("event", ["", "two\nlines", "cr\rhere"])
def test_an_event_type_must_be_one_line(event: str) -> None:
    with pytest.raises(ValueError, match="one line"):
        format_event(1, "x", event=event)


@pytest.mark.parametrize(
    ("header", "after", "expected"),
    [
        (None, None, 0),
        ("3", None, 3),
        (" 3 ", None, 3),
        ("3", 10, 3),  # the header wins
        (None, 10, 10),
        ("", 10, 10),  # an empty header is no header
        ("0", None, 0),
        (None, 0, 0),
        (str(2**63 - 1), None, 2**63 - 1),
    ],
)
def test_resume_position(header: str | None, after: int | None, expected: int) -> None:
    assert parse_last_event_id(header, after) == expected


@pytest.mark.parametrize(
    ("header", "after"),
    [
        ("abc", None),
        ("-1", None),
        ("+1", None),
        ("1.5", None),
        ("1_000", None),
        ("٣", None),  # a digit, but not an ASCII one
        (str(2**63), None),
        ("9" * 5000, None),  # longer than int() accepts from a string
        (None, -1),
        (None, 2**63),
        ("x", 3),  # a bad header is refused even when the query is fine
    ],
)
def test_bad_resume_positions_are_refused(header: str | None, after: int | None) -> None:
    with pytest.raises(InvalidRequest, match="whole number"):
        parse_last_event_id(header, after)


def test_event_types_name_the_sse_event_field_where_it_can_carry_them() -> None:
    assert event_name("llm.delta") == "llm.delta"
    assert event_name("run.completed") == "run.completed"
    for unusable in ("", "two\nlines", "cr\rhere", "nul\0"):
        assert event_name(unusable) is None  # a plain `message` rather than a broken stream
    [message] = parse(format_event(None, '{"type": "llm.delta"}', event=event_name("llm.delta")))
    assert (message.type, message.data) == ("llm.delta", '{"type": "llm.delta"}')


def test_the_client_decoder_reads_typed_events() -> None:
    from bosun.sse import EventStreamDecoder

    stream = format_event(3, '{"type": "step.completed"}', event="step.completed")
    stream += format_event(None, '{"type": "llm.delta"}', event="llm.delta")
    assert EventStreamDecoder().feed(stream) == [
        '{"type": "step.completed"}',
        '{"type": "llm.delta"}',
    ]
