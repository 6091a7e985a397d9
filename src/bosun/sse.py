"""An incremental `text/event-stream` parser (foundations: sans-IO, imports nothing of bosun's).

The HTTP client reads `GET …/events` with it, and the OpenAI-compatible provider its streamed
completions; the server's side of the format is `bosun.server.sse`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass
class EventStreamDecoder:
    """Incremental parser of `text/event-stream` (WHATWG HTML, "Interpreting an event
    stream"): yields the data of each complete message; an unterminated one is dropped."""

    _pending: bytes = b""
    _data: list[str] = field(default_factory=list)
    _started: bool = False

    def feed(self, chunk: bytes) -> list[str]:
        self._pending += chunk
        messages: list[str] = []
        start = 0
        for end in _LINE_END.finditer(self._pending):
            if end.group() == b"\r" and end.end() == len(self._pending):
                break  # may be the first half of a CRLF split across chunks
            line = self._pending[start : end.start()].decode("utf-8", "replace")
            start = end.end()
            if not self._started:
                line, self._started = line.removeprefix("\ufeff"), True
            if line == "":
                if self._data:
                    messages.append("\n".join(self._data))
                self._data = []
                continue
            name, _, value = line.partition(":")
            if name == "data":
                self._data.append(value.removeprefix(" "))
            # Comments (":…") are keep-alives; `id` repeats the event's own id; `event` and
            # `retry` are not used by the API.
        self._pending = self._pending[start:]
        return messages
