"""Server-Sent Events framing, as the WHATWG HTML standard parses it.

A message is a block of `field: value` lines ended by a blank line. The parser splits lines
at CRLF, LF or a lone CR, and joins a message's `data:` lines with LF; so `format_event`
writes each line of the data as its own `data:` line, and any line break in the data reaches
the client as LF. Lines starting with `:` are comments, which keep idle connections open.

Each event of the API's streams names its type twice: in the JSON `type`, and in the SSE
`event:` field, so a browser's `EventSource.addEventListener("llm.delta", …)` gets just those
(`onmessage` then gets only events without a type). `event_name` says what goes in the field.

`Last-Event-ID` (or `?after=`) holds the position of the last event the client saw; the
stream resumes after it.
"""

from __future__ import annotations

import re

from bosun.errors import InvalidRequest

__all__ = ["comment", "event_name", "format_event", "parse_last_event_id"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # only these; str.splitlines also splits at \x0c, \u2028…
_MAX_POSITION = 2**63 - 1  # positions are stored as 64-bit integers


def _lines(text: str) -> list[str]:
    return _LINE_BREAK.split(text)


def format_event(event_id: int | str | None, data: str, event: str | None = None) -> bytes:
    """One SSE message: an optional `id:` and `event:`, then one `data:` line per line of data.

    Each `data:` line has a space after the colon, which the parser strips, so data that
    starts with a space keeps it. Empty data still makes a message (with empty data).

    Raises:
        ValueError: `event` is empty or contains a line break, which would end the field, or
            a text `event_id` holds a line break or NUL (which a client would drop).
    """
    parts: list[str] = []
    if isinstance(event_id, str):
        if _LINE_BREAK.search(event_id) or "\0" in event_id:
            raise ValueError(f"SSE event id {event_id!r} must be on one line, without NUL")
        parts.append(f"id: {event_id}\n")
    elif event_id is not None:
        parts.append(f"id: {int(event_id)}\n")
    if event is not None:
        if not event or _LINE_BREAK.search(event):
            raise ValueError(f"SSE event type {event!r} must be non-empty and on one line")
        parts.append(f"event: {event}\n")
    parts.extend(f"data: {line}\n" for line in _lines(data))
    parts.append("\n")
    return "".join(parts).encode()


def event_name(event_type: str) -> str | None:
    """The SSE `event:` field of an event of `event_type`: the type itself, or `None` (no
    field, a plain `message`) for one the field cannot carry: empty, or holding a line break
    or NUL (`ctx.emit` accepts any name)."""
    if not event_type or _LINE_BREAK.search(event_type) or "\0" in event_type:
        return None
    return event_type


def comment(text: str = "keep-alive") -> bytes:
    """A comment block (`: keep-alive`), which clients ignore; it keeps proxies from closing
    an idle stream."""
    return "".join(f": {line}\n" for line in _lines(text)).encode() + b"\n"


def _position(value: str | int, source: str) -> int:
    text = value.strip() if isinstance(value, str) else str(value)
    digits = text.isascii() and text.isdigit()
    if not digits or len(text) > len(str(_MAX_POSITION)) or int(text) > _MAX_POSITION:
        raise InvalidRequest(
            f"{source} must be a whole number from 0 to {_MAX_POSITION}, the id of the last "
            f"event you received; got {text[:40]!r}"
        )
    return int(text)


def parse_last_event_id(header: str | None, query_after: int | None) -> int:
    """The position to resume after: the `Last-Event-ID` header, else `?after=`, else 0.

    An empty header counts as absent, as browsers send none before the first event.

    Raises:
        InvalidRequest: the value is not a whole number, or is negative.
    """
    if header is not None and header.strip():
        return _position(header, "the Last-Event-ID header")
    if query_after is not None:
        return _position(query_after, "the 'after' query parameter")
    return 0
