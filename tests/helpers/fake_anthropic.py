"""A local server that speaks Anthropic's Messages API on the wire: `POST /v1/messages`, a JSON
`Message` or an SSE stream of `message_start`, `content_block_start`, `content_block_delta`
(`text_delta`, `thinking_delta`, `signature_delta`, `input_json_delta`), `content_block_stop`,
`message_delta`, `message_stop` (with a `ping` after the start, as the API sends one), and error
answers (`{"type": "error", "error": {...}}`, 429 and 529 with their headers, an `error` event
mid-stream).

Every payload is built with the `anthropic` package's own types (`Message`, the
`RawMessageStreamEvent` members, `ErrorResponse`…) and dumped as that package models them,
nulls included. What it answers is picked by the request's `model` (`FakeAnthropic.reply`), or
by a function a test gives (`FakeAnthropic.answer`), e.g. a stand-in for Claude in an example.
Every request is recorded, so tests count calls on the server's side."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from anthropic.types import APIErrorObject as APIErrorBody
from anthropic.types import (
    AuthenticationErrorObject,
    ContentBlock,
    ErrorResponse,
    InputJSONDelta,
    InvalidRequestErrorObject,
    Message,
    MessageDeltaUsage,
    OverloadedErrorObject,
    RateLimitErrorObject,
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    RedactedThinkingBlock,
    RefusalStopDetails,
    SignatureDelta,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
    Usage,
)
from anthropic.types.raw_message_delta_event import Delta
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.helpers.serving import serve_asgi

MESSAGES = "/v1/messages"
USAGE = Usage(
    input_tokens=12, output_tokens=9, cache_read_input_tokens=4, cache_creation_input_tokens=2
)
THOUGHT = "The user wants the weather in two cities. I will ask for both at once."
SIGNATURE = "EqQBCkYIBxgCKkBsig+nature=="
FINAL_THOUGHT = "Both forecasts are in: Paris is sunny, the clock says CET."
PARALLEL = [
    ToolUseBlock(type="tool_use", id="toolu_01A", name="weather", input={"city": "Paris"}),
    ToolUseBlock(type="tool_use", id="toolu_01B", name="clock", input={"tz": "CET"}),
]


@dataclass
class Reply:
    """One answer: its content blocks (the `anthropic` types), why it stopped, its usage."""

    blocks: list[ContentBlock]
    stop_reason: Any = "end_turn"
    usage: Usage = field(default_factory=lambda: USAGE.model_copy())
    stop_details: RefusalStopDetails | None = None


@dataclass
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]


def text(value: str) -> TextBlock:
    return TextBlock(type="text", text=value, citations=None)


def thinking(value: str, signature: str = SIGNATURE) -> ThinkingBlock:
    return ThinkingBlock(type="thinking", thinking=value, signature=signature)


def error_body(error: Any) -> dict[str, Any]:
    return ErrorResponse(type="error", error=error, request_id="req_011").model_dump(mode="json")


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def pieces(value: str, size: int = 7) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `tool_result` blocks of the request's last user turn."""
    last = body["messages"][-1]
    content = last["content"] if isinstance(last["content"], list) else []
    return [b for b in content if last["role"] == "user" and b.get("type") == "tool_result"]


@dataclass
class FakeAnthropic:
    """Anthropic's Messages API, played by rules: by `model` (`reply`), or by `answer`."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    answer: Callable[[dict[str, Any]], Reply] | None = None
    # A stalled answer is held back until this is set (at the end of each test).
    release: threading.Event = field(default_factory=threading.Event)

    def count(self) -> int:
        return len(self.requests)

    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    async def messages(self, request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        self.requests.append(Recorded(body, dict(request.headers)))
        model = body["model"]
        failure = self._failure(model)
        if failure is not None:
            return failure
        reply = self.answer(body) if self.answer is not None else self.reply(model, body)
        if body.get("stream"):
            return StreamingResponse(self._events(model, reply), media_type="text/event-stream")
        return JSONResponse(self._message(model, reply).model_dump(mode="json"))

    def _failure(self, model: str) -> Response | None:
        later = (datetime.now(UTC) + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
        errors: dict[str, tuple[int, dict[str, str], Any]] = {
            "claude-rate-limited": (
                429,
                {"retry-after": "7", "anthropic-ratelimit-requests-remaining": "0"},
                RateLimitErrorObject(
                    type="rate_limit_error",
                    message="Number of requests has exceeded your rate limit",
                ),
            ),
            "claude-rate-limited-reset": (
                429,
                {
                    "anthropic-ratelimit-tokens-remaining": "0",
                    "anthropic-ratelimit-tokens-reset": later,
                    "anthropic-ratelimit-requests-remaining": "49",
                },
                RateLimitErrorObject(
                    type="rate_limit_error", message="Output tokens per minute exceeded"
                ),
            ),
            "claude-overloaded": (
                529,
                {"x-should-retry": "true"},
                OverloadedErrorObject(type="overloaded_error", message="Overloaded"),
            ),
            "claude-broken": (
                500,
                {"x-should-retry": "true"},
                APIErrorBody(type="api_error", message="Internal server error"),
            ),
            "claude-bad-request": (
                400,
                {},
                InvalidRequestErrorObject(
                    type="invalid_request_error",
                    message="messages.1.content.0: unexpected `tool_use_id`",
                ),
            ),
            "claude-unauthorized": (
                401,
                {},
                AuthenticationErrorObject(type="authentication_error", message="invalid x-api-key"),
            ),
        }
        if model == "claude-flaky" and self.count() == 1:  # overloaded, then fine
            model = "claude-overloaded-briefly"
            errors[model] = (
                529,
                {"retry-after": "1"},
                OverloadedErrorObject(type="overloaded_error", message="Overloaded"),
            )
        if model not in errors and model != "claude-spend-limit":
            return None
        if model == "claude-spend-limit":
            body = error_body(
                RateLimitErrorObject(type="rate_limit_error", message="Spend limit reached")
            )
            body["error"]["details"] = {"error_code": "enforced_spend_limit_reached"}
            return JSONResponse(body, status_code=429)
        status, headers, error = errors[model]
        return JSONResponse(error_body(error), status_code=status, headers=headers)

    def reply(self, model: str, body: dict[str, Any]) -> Reply:
        """The answer of each test model; plain text for any other."""
        if model == "claude-tools":
            if tool_results(body):  # the tool loop's second turn
                return Reply([thinking(FINAL_THOUGHT), text("Sunny in Paris; it is 14:00 CET.")])
            return Reply([thinking(THOUGHT), text("Let me check both."), *PARALLEL], "tool_use")
        if model == "claude-redacted":
            redacted = RedactedThinkingBlock(type="redacted_thinking", data="c2VjcmV0IHRob3VnaHRz")
            return Reply([redacted, thinking("Then I answer."), text("Done.")])
        if model == "claude-refusal":
            details = RefusalStopDetails(
                type="refusal", category="cyber", explanation="This could enable malware."
            )
            return Reply([text("I can")], "refusal", stop_details=details)
        if model == "claude-refusal-silent":
            return Reply([], "refusal")
        if model == "claude-truncated":
            return Reply([text('{"city": "Par')], "max_tokens")
        if model == "claude-cache":
            usage = Usage(
                input_tokens=50,
                output_tokens=20,
                cache_creation_input_tokens=1000,
                cache_read_input_tokens=2000,
            )
            return Reply([text("Cached.")], usage=usage)
        return Reply([text("Hello there")])

    def _message(self, model: str, reply: Reply) -> Message:
        return Message(
            id="msg_01XFDUDYJgAACzvnptvVoYEL",
            type="message",
            role="assistant",
            model=f"{model}-20260101",
            content=reply.blocks,
            stop_reason=reply.stop_reason,
            stop_sequence=None,
            stop_details=reply.stop_details,
            usage=reply.usage,
        )

    async def _events(self, model: str, reply: Reply) -> AsyncIterator[bytes]:
        whole = self._message(model, reply)
        start = whole.model_copy(
            update={
                "content": [],
                "stop_reason": None,
                "stop_details": None,
                "usage": reply.usage.model_copy(update={"output_tokens": 1}),
            }
        )
        yield sse(
            "message_start",
            RawMessageStartEvent(type="message_start", message=start).model_dump(mode="json"),
        )
        yield sse("ping", {"type": "ping"})
        if model == "claude-stall":
            await asyncio.to_thread(self.release.wait, 25)
            return
        for index, block in enumerate(reply.blocks):
            for event, data in _block_events(index, block):
                yield sse(event, data)
            if model == "claude-overloaded-mid-stream":
                error = OverloadedErrorObject(type="overloaded_error", message="Overloaded")
                yield sse("error", error_body(error))
                return
            if model == "claude-cut-short":
                return
        usage = MessageDeltaUsage(
            output_tokens=reply.usage.output_tokens,
            input_tokens=reply.usage.input_tokens,
            cache_read_input_tokens=reply.usage.cache_read_input_tokens,
            cache_creation_input_tokens=reply.usage.cache_creation_input_tokens,
        )
        delta = RawMessageDeltaEvent(
            type="message_delta",
            delta=Delta(
                stop_reason=reply.stop_reason, stop_sequence=None, stop_details=reply.stop_details
            ),
            usage=usage,
        )
        yield sse("message_delta", delta.model_dump(mode="json"))
        yield sse("message_stop", RawMessageStopEvent(type="message_stop").model_dump(mode="json"))


def _block_events(index: int, block: ContentBlock) -> Iterator[tuple[str, dict[str, Any]]]:
    """A block as the API streams it: started empty, filled by deltas, stopped."""

    def delta(value: Any) -> tuple[str, dict[str, Any]]:
        event = RawContentBlockDeltaEvent(type="content_block_delta", index=index, delta=value)
        return "content_block_delta", event.model_dump(mode="json")

    empty: Any = block
    if isinstance(block, TextBlock):
        empty = TextBlock(type="text", text="", citations=None)
    elif isinstance(block, ThinkingBlock):
        empty = ThinkingBlock(type="thinking", thinking="", signature="")
    elif isinstance(block, ToolUseBlock):
        empty = ToolUseBlock(type="tool_use", id=block.id, name=block.name, input={})
    started = RawContentBlockStartEvent(
        type="content_block_start", index=index, content_block=empty
    )
    yield "content_block_start", started.model_dump(mode="json")
    if isinstance(block, TextBlock):
        for piece in pieces(block.text):
            yield delta(TextDelta(type="text_delta", text=piece))
    elif isinstance(block, ThinkingBlock):
        for piece in pieces(block.thinking, 11):
            yield delta(ThinkingDelta(type="thinking_delta", thinking=piece))
        yield delta(SignatureDelta(type="signature_delta", signature=block.signature))
    elif isinstance(block, ToolUseBlock):
        yield delta(InputJSONDelta(type="input_json_delta", partial_json=""))
        for piece in pieces(json.dumps(block.input), 5):
            yield delta(InputJSONDelta(type="input_json_delta", partial_json=piece))
    stopped = RawContentBlockStopEvent(type="content_block_stop", index=index)
    yield "content_block_stop", stopped.model_dump(mode="json")


@contextmanager
def serve_anthropic(fake: FakeAnthropic | None = None) -> Iterator[FakeAnthropic]:
    """Run `fake` (a new one when omitted) on a free loopback port until the block ends."""
    fake = fake or FakeAnthropic()
    app = Starlette(routes=[Route(MESSAGES, fake.messages, methods=["POST"])])
    with serve_asgi(app, "fake Anthropic") as url:
        fake.url = url
        try:
            yield fake
        finally:
            fake.release.set()  # handlers a test left stalled end
