"""A local server that speaks AWS Bedrock's runtime API on the wire: `POST
/model/{modelId}/converse` (JSON) and `POST /model/{modelId}/converse-stream`, answered in the
AWS event-stream binary encoding (`application/vnd.amazon.eventstream`: `messageStart`,
`contentBlockStart`, `contentBlockDelta` with text, tool input, reasoning text, signatures and
redacted reasoning, `contentBlockStop`, `messageStop`, `metadata`, and exception events), and
error answers as Bedrock sends them (the status, `x-amzn-ErrorType`, `{"message": …}`).

Every payload is written in botocore's parsed form (bytes for blobs), checked against botocore's
own `bedrock-runtime` service model (`ConverseResponse`, each `ConverseStreamOutput` member, each
exception's shape) with botocore's `ParamValidator`, and serialised as the model says (blobs in
base64), so nothing here is a free-hand guess at the format. `encode_event` writes the binary
frames; tests decode them with botocore's own `EventStreamBuffer`. What it answers is picked by
the model id in the path (`FakeBedrock.reply`); every request is recorded (and must be signed:
one without an `Authorization` header is refused as AWS refuses it), so tests count calls."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.model import Shape
from botocore.validate import ParamValidator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.helpers.serving import serve_asgi

SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")
CONVERSE = SERVICE.operation_model("Converse")
STREAM_EVENTS = SERVICE.operation_model("ConverseStream").output_shape.members["stream"]
USAGE = {
    "inputTokens": 12,
    "outputTokens": 9,
    "totalTokens": 27,
    "cacheReadInputTokens": 4,
    "cacheWriteInputTokens": 2,
}
THOUGHT = "The user wants the weather in two cities. I will ask for both at once."
SIGNATURE = "EqQBCkYIBxgCKkBsig+nature=="
FINAL_THOUGHT = "Both forecasts are in: Paris is sunny, the clock says CET."
REDACTED = b"\x00secret thoughts\xff"
PARALLEL = [
    {"toolUse": {"toolUseId": "tooluse_A1", "name": "weather", "input": {"city": "Paris"}}},
    {"toolUse": {"toolUseId": "tooluse_B2", "name": "clock", "input": {"tz": "CET"}}},
]
ERRORS: dict[str, tuple[str, int, str, dict[str, str]]] = {
    # model id: the exception, its status, its message, more headers
    "test.throttled-v1:0": (
        "ThrottlingException",
        429,
        "Too many requests, please wait before trying again.",
        {"Retry-After": "7"},
    ),
    "test.unavailable-v1:0": (
        "ServiceUnavailableException",
        503,
        "Bedrock is unable to process your request.",
        {},
    ),
    "test.not-ready-v1:0": ("ModelNotReadyException", 429, "Model is not ready", {}),
    "test.broken-v1:0": ("InternalServerException", 500, "Internal server error", {}),
    "test.invalid-v1:0": (
        "ValidationException",
        400,
        "The model returned the following errors: messages.1: unexpected toolResult",
        {},
    ),
    "test.denied-v1:0": (
        "AccessDeniedException",
        403,
        "You don't have access to the model with the specified model ID.",
        {},
    ),
}


def validated(value: dict[str, Any], shape: Shape) -> dict[str, Any]:
    """`value` (botocore's parsed form), after botocore's validator found it fits `shape`."""
    report = ParamValidator().validate(value, shape)
    if report.has_errors():
        raise AssertionError(f"not a valid {shape.name}: {report.generate_report()}")
    return value


def to_wire(value: Any, shape: Shape) -> Any:
    """`value` as JSON on the wire: what botocore's parser reads back as `value`."""
    if shape.type_name == "structure" and not shape.is_document_type:
        return {name: to_wire(item, shape.members[name]) for name, item in value.items()}
    if shape.type_name == "list":
        return [to_wire(item, shape.member) for item in value]
    if shape.type_name == "map":
        return {key: to_wire(item, shape.value) for key, item in value.items()}
    if shape.type_name == "blob":
        return base64.b64encode(value).decode()
    return value  # strings, numbers, booleans, documents


def encode_event(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of the AWS event-stream encoding: the prelude (total length, headers
    length, their CRC32), string headers, the payload, and the CRC32 of all before it."""
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += struct.pack("!B", len(raw_name)) + raw_name
        encoded += struct.pack("!BH", 7, len(raw_value)) + raw_value  # 7: a string
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack("!I", zlib.crc32(message))


def event(kind: str, value: dict[str, Any]) -> bytes:
    """A `ConverseStreamOutput` event (`messageStart`, `contentBlockDelta`…), validated."""
    shape = STREAM_EVENTS.members[kind]
    payload = json.dumps(to_wire(validated(value, shape), shape)).encode()
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return encode_event(headers, payload)


def exception_event(kind: str, message: str) -> bytes:
    """An exception event in a stream (`throttlingException`…), as Bedrock sends one."""
    shape = STREAM_EVENTS.members[kind]
    payload = json.dumps(validated({"message": message}, shape)).encode()
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_event(headers, payload)


def text(value: str) -> dict[str, Any]:
    return {"text": value}


def reasoning(value: str, signature: str = SIGNATURE) -> dict[str, Any]:
    return {"reasoningContent": {"reasoningText": {"text": value, "signature": signature}}}


def pieces(value: str, size: int = 7) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `toolResult` blocks of the request's last turn, when it is the user's."""
    last = body["messages"][-1]
    return [
        b["toolResult"] for b in last["content"] if last["role"] == "user" and "toolResult" in b
    ]


@dataclass
class Reply:
    """One answer: its content blocks (botocore's parsed form), why it stopped, its usage."""

    content: list[dict[str, Any]]
    stop_reason: str = "end_turn"
    usage: dict[str, Any] = field(default_factory=lambda: dict(USAGE))


@dataclass
class Recorded:
    model: str
    operation: str  # converse or converse-stream
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeBedrock:
    """Bedrock's runtime API, played by rules picked by the model id."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    # A stalled stream is held back until this is set (at the end of each test).
    release: threading.Event = field(default_factory=threading.Event)

    def count(self) -> int:
        return len(self.requests)

    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    async def converse(self, request: Request) -> Response:
        return await self._answer(request, stream=False)

    async def converse_stream(self, request: Request) -> Response:
        return await self._answer(request, stream=True)

    async def _answer(self, request: Request, *, stream: bool) -> Response:
        model = request.path_params["model_id"]
        body: dict[str, Any] = await request.json()
        operation = "converse-stream" if stream else "converse"
        self.requests.append(Recorded(model, operation, body, dict(request.headers)))
        if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return error("UnrecognizedClientException", 403, "Missing Authentication Token")
        if model in ERRORS:
            code, status, message, headers = ERRORS[model]
            return error(code, status, message, headers)
        flaky = [r for r in self.requests if r.model == model]
        if model == "test.flaky-v1:0" and len(flaky) == 1:  # throttled, then fine
            return error("ThrottlingException", 429, "Too many requests", {"Retry-After": "1"})
        reply = self.reply(model, body)
        if stream:
            return StreamingResponse(
                self._events(model, reply),
                media_type="application/vnd.amazon.eventstream",
                headers={"x-amzn-RequestId": "req-stream-1"},
            )
        answer = {
            "output": {"message": {"role": "assistant", "content": reply.content}},
            "stopReason": reply.stop_reason,
            "usage": reply.usage,
            "metrics": {"latencyMs": 321},
        }
        shape = CONVERSE.output_shape
        return JSONResponse(
            to_wire(validated(answer, shape), shape), headers={"x-amzn-RequestId": "req-1"}
        )

    def reply(self, model: str, body: dict[str, Any]) -> Reply:
        """The answer of each test model; plain text for any other."""
        if model == "test.tools-v1:0":
            if tool_results(body):  # the tool loop's second turn
                return Reply([reasoning(FINAL_THOUGHT), text("Sunny in Paris; it is 14:00 CET.")])
            return Reply([reasoning(THOUGHT), text("Let me check both."), *PARALLEL], "tool_use")
        if model == "test.redacted-v1:0":
            redacted = {"reasoningContent": {"redactedContent": REDACTED}}
            return Reply([redacted, reasoning("Then I answer."), text("Done.")])
        if model == "test.guardrail-v1:0":
            return Reply(
                [text("Sorry, the model cannot answer this question.")], "guardrail_intervened"
            )
        if model == "test.filtered-v1:0":
            return Reply([text("I can")], "content_filtered")
        if model == "test.truncated-v1:0":
            return Reply([text('{"city": "Par')], "max_tokens")
        if model == "test.malformed-v1:0":
            return Reply([text("")], "malformed_tool_use")
        if model == "test.cache-v1:0":
            usage = {
                "inputTokens": 50,
                "outputTokens": 20,
                "totalTokens": 3070,
                "cacheReadInputTokens": 2000,
                "cacheWriteInputTokens": 1000,
            }
            return Reply([text("Cached.")], usage=usage)
        return Reply([text("Hello there")])

    async def _events(self, model: str, reply: Reply) -> AsyncIterator[bytes]:
        yield event("messageStart", {"role": "assistant"})
        if model == "test.stall-v1:0":
            await asyncio.to_thread(self.release.wait, 25)
            return
        for index, block in enumerate(reply.content):
            for kind, value in block_events(index, block):
                yield event(kind, value)
            if model == "test.throttled-mid-stream-v1:0":
                yield exception_event("throttlingException", "Too many tokens, please wait.")
                return
            if model == "test.cut-short-v1:0":
                return
        yield event("messageStop", {"stopReason": reply.stop_reason})
        yield event("metadata", {"usage": reply.usage, "metrics": {"latencyMs": 321}})


def block_events(index: int, block: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """A content block as ConverseStream sends it: a tool use starts with its id and name, a
    text or reasoning block with its first delta; then deltas; then a stop."""

    def delta(value: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "contentBlockDelta", {"delta": value, "contentBlockIndex": index}

    if "toolUse" in block:
        use = block["toolUse"]
        start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
        yield "contentBlockStart", {"start": start, "contentBlockIndex": index}
        for piece in pieces(json.dumps(use["input"]), 5):
            yield delta({"toolUse": {"input": piece}})
    elif "text" in block:
        for piece in pieces(block["text"]):
            yield delta({"text": piece})
    elif "redactedContent" in block["reasoningContent"]:
        yield delta(
            {"reasoningContent": {"redactedContent": block["reasoningContent"]["redactedContent"]}}
        )
    else:
        said = block["reasoningContent"]["reasoningText"]
        for piece in pieces(said["text"], 11):
            yield delta({"reasoningContent": {"text": piece}})
        yield delta({"reasoningContent": {"signature": said["signature"]}})
    yield "contentBlockStop", {"contentBlockIndex": index}


def error(code: str, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error answer as Bedrock sends it: the status, the type in `x-amzn-ErrorType`, and a
    body of the exception's shape (checked, when the service model has the exception)."""
    body = {"message": message}
    if code in SERVICE.shape_names:
        validated(body, SERVICE.shape_for(code))
    sent = {
        "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": "req-error-1",
        **(headers or {}),
    }
    return JSONResponse(body, status_code=status, headers=sent)


@contextmanager
def serve_bedrock(fake: FakeBedrock | None = None) -> Iterator[FakeBedrock]:
    """Run `fake` (a new one when omitted) on a free loopback port until the block ends."""
    fake = fake or FakeBedrock()
    app = Starlette(
        routes=[
            Route("/model/{model_id:path}/converse", fake.converse, methods=["POST"]),
            Route("/model/{model_id:path}/converse-stream", fake.converse_stream, methods=["POST"]),
        ]
    )
    with serve_asgi(app, "fake Bedrock") as url:
        fake.url = url
        try:
            yield fake
        finally:
            fake.release.set()  # handlers a test left stalled end
