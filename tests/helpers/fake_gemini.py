"""A local server that speaks the Gemini API on the wire: `POST
/v1/models/{model}:generateContent` (or `/v1beta/…`; a JSON `GenerateContentResponse`) and
`:streamGenerateContent?alt=sse` (an SSE stream of `GenerateContentResponse` chunks: thoughts
and text piece by piece, function calls whole, the finish reason and usage on the last), and
error answers (`{"error": {"code", "message", "status", "details"}}`: 429 with a
`google.rpc.RetryInfo` or a `Retry-After` header, 503, 400, 403, 500, an error chunk
mid-stream).

Every answer is built with the `google-genai` package's own types (`GenerateContentResponse`,
`Candidate`, `Content`, `Part`, `FunctionCall`, `GenerateContentResponseUsageMetadata`,
`GoogleRpcStatus` for errors) and dumped as the API writes it (camel case, no nulls); only
the error envelope and its `status` name, which the SDK has no type for, are added by hand.
What it answers is picked by the model in the path (`FakeGemini.reply`). Every request is
recorded, so tests count calls on the server's side."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from google.genai.types import (
    BlockedReason,
    Candidate,
    Content,
    FinishReason,
    FunctionCall,
    GenerateContentResponse,
    GenerateContentResponsePromptFeedback,
    GenerateContentResponseUsageMetadata,
    GoogleRpcStatus,
    Part,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.helpers.serving import serve_asgi

USAGE = GenerateContentResponseUsageMetadata(
    prompt_token_count=12,
    cached_content_token_count=4,
    candidates_token_count=9,
    thoughts_token_count=5,
    total_token_count=26,
)
THOUGHT = "The user wants the weather in two cities. I will ask for both at once."
SIGNATURE = b"\x12\x9a signature of the first call \xfe"
ANSWER_SIGNATURE = b"\x0a\x01 signature of the answer"
FINAL_THOUGHT = "Both forecasts are in: Paris is sunny, the clock says CET."
PARALLEL = [
    FunctionCall(name="weather", args={"city": "Paris"}),
    FunctionCall(name="clock", args={"tz": "CET"}),
]
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
VERSIONS = ("v1", "v1beta")  # the SDK's 3.x releases call v1, earlier ones v1beta


@dataclass
class Reply:
    """One answer: its parts (the SDK's types), why it stopped, its usage; or a blocked
    prompt (`blocked`, and no candidate)."""

    parts: list[Part]
    finish: FinishReason = FinishReason.STOP
    usage: GenerateContentResponseUsageMetadata = field(default_factory=lambda: USAGE.model_copy())
    blocked: BlockedReason | None = None


@dataclass
class Recorded:
    path: str
    model: str
    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    query: dict[str, str]


def text(value: str, signature: bytes | None = None) -> Part:
    return Part(text=value, thought_signature=signature)


def thought(value: str) -> Part:
    return Part(text=value, thought=True)


def call(function_call: FunctionCall, signature: bytes | None = None) -> Part:
    return Part(function_call=function_call, thought_signature=signature)


def wire(model: Any) -> dict[str, Any]:
    """A `google-genai` type as the API writes it: camel case, no nulls, bytes in base64."""
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def error_body(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    """Google's error envelope around a `google.rpc.Status`."""
    rpc = wire(GoogleRpcStatus(code=code, message=message, details=list(details) or None))
    return {"error": {**rpc, "status": status}}


def sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\r\n\r\n".encode()


def pieces(value: str, size: int = 7) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


def function_responses(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `functionResponse`s of the request's last (user) turn."""
    last = body["contents"][-1]
    return [p["functionResponse"] for p in last.get("parts", []) if "functionResponse" in p]


_ERRORS: dict[str, tuple[int, dict[str, str], dict[str, Any]]] = {
    "gemini-rate-limited": (
        429,
        {},
        error_body(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaMetric": "generate_content_free_tier_requests"}],
            },
            {"@type": RETRY_INFO, "retryDelay": "7s"},
        ),
    ),
    "gemini-retry-after": (
        429,
        {"retry-after": "3"},
        error_body(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    ),
    "gemini-overloaded": (
        503,
        {},
        error_body(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    ),
    "gemini-broken": (500, {}, error_body(500, "INTERNAL", "An internal error has occurred.")),
    "gemini-bad-request": (
        400,
        {},
        error_body(
            400,
            "INVALID_ARGUMENT",
            "Please ensure that function response turn comes immediately after a function "
            "call turn.",
        ),
    ),
    "gemini-bad-key": (
        400,
        {},
        error_body(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            },
        ),
    ),
    "gemini-forbidden": (
        403,
        {},
        error_body(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."),
    ),
}
# What `gemini-flaky` answers to its first two requests: rate limited (retryDelay 1 s), then
# overloaded (Retry-After 1 s); the third succeeds.
_FLAKY = [
    (429, {}, error_body(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", {
        "@type": RETRY_INFO, "retryDelay": "1s"})),
    (503, {"retry-after": "1"}, error_body(503, "UNAVAILABLE", "The model is overloaded.")),
]  # fmt: skip


@dataclass
class FakeGemini:
    """The Gemini API, played by rules: by the model in the path (`reply`)."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    # A stalled answer is held back until this is set (at the end of each test).
    release: threading.Event = field(default_factory=threading.Event)

    def count(self, model: str | None = None) -> int:
        return len([r for r in self.requests if model is None or r.model == model])

    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    async def generate(self, request: Request) -> Response:
        target = request.path_params["target"]
        model, _, method = target.rpartition(":")
        if request.path_params["version"] not in VERSIONS:
            return JSONResponse(error_body(404, "NOT_FOUND", "no such API version"), 404)
        body: dict[str, Any] = await request.json()
        self.requests.append(
            Recorded(
                request.url.path,
                model,
                method,
                body,
                dict(request.headers),
                dict(request.query_params),
            )
        )
        failure = self._failure(model)
        if failure is not None:
            return failure
        reply = self.reply(model, body)
        if method == "streamGenerateContent":
            return StreamingResponse(self._chunks(model, reply), media_type="text/event-stream")
        return JSONResponse(wire(self._response(model, reply, reply.parts, final=True)))

    def _failure(self, model: str) -> Response | None:
        answer = _ERRORS.get(model)
        if model == "gemini-flaky" and self.count(model) <= len(_FLAKY):
            answer = _FLAKY[self.count(model) - 1]
        if answer is None:
            return None
        status, headers, body = answer
        return JSONResponse(body, status_code=status, headers=headers)

    def reply(self, model: str, body: dict[str, Any]) -> Reply:
        """The answer of each test model; plain text for any other."""
        if model == "gemini-tools":
            if function_responses(body):  # the tool loop's second turn
                final = text("Sunny in Paris; it is 14:00 CET.", ANSWER_SIGNATURE)
                return Reply([thought(FINAL_THOUGHT), final])
            calls = [call(PARALLEL[0], SIGNATURE), call(PARALLEL[1])]
            return Reply([thought(THOUGHT), text("Let me check both."), *calls])
        if model == "gemini-call-ids":
            with_ids = [c.model_copy(update={"id": f"fc-{i}"}) for i, c in enumerate(PARALLEL)]
            return Reply([call(with_ids[0], SIGNATURE), call(with_ids[1])])
        if model == "gemini-blocked":
            return Reply([], blocked=BlockedReason.PROHIBITED_CONTENT)
        if model == "gemini-safety":
            return Reply([text("Here is how")], FinishReason.SAFETY)
        if model == "gemini-recitation":
            return Reply([text("It was the best of times")], FinishReason.RECITATION)
        if model == "gemini-truncated":
            return Reply([text('{"city": "Par')], FinishReason.MAX_TOKENS)
        if model == "gemini-malformed":
            return Reply([], FinishReason.MALFORMED_FUNCTION_CALL)
        return Reply([text("Hello there")])

    def _response(
        self, model: str, reply: Reply, parts: list[Part], *, final: bool
    ) -> GenerateContentResponse:
        usage = reply.usage
        if not final:  # a stream's chunks before the last count the prompt only
            usage = GenerateContentResponseUsageMetadata(
                prompt_token_count=usage.prompt_token_count,
                total_token_count=usage.prompt_token_count,
            )
        candidates = None
        if reply.blocked is None:
            candidate = Candidate(
                content=Content(role="model", parts=parts),
                finish_reason=reply.finish if final else None,
                index=0,
            )
            candidates = [candidate]
        feedback = None
        if reply.blocked is not None:
            feedback = GenerateContentResponsePromptFeedback(block_reason=reply.blocked)
        return GenerateContentResponse(
            candidates=candidates,
            prompt_feedback=feedback,
            usage_metadata=usage,
            model_version=f"{model}-001",
            response_id="resp-7Hq2fA",
        )

    async def _chunks(self, model: str, reply: Reply) -> AsyncIterator[bytes]:
        """The answer as the API streams it: each piece of a thought or text in a chunk of
        its own, a text's signature in a last chunk with an empty text, function calls whole,
        the finish reason and the usage totals on the last chunk."""
        chunks = [part for whole in reply.parts for part in _streamed(whole)]
        if model == "gemini-stall":
            yield sse(wire(self._response(model, reply, chunks[:1], final=False)))
            await asyncio.to_thread(self.release.wait, 25)
            return
        for i, part in enumerate(chunks):
            yield sse(wire(self._response(model, reply, [part], final=False)))
            if model == "gemini-overloaded-mid-stream" and i == 0:
                yield sse(error_body(503, "UNAVAILABLE", "The model is overloaded."))
                return
            if model == "gemini-cut-short" and i == 0:
                return
        yield sse(wire(self._response(model, reply, [], final=True)))


def _streamed(part: Part) -> Iterator[Part]:
    if part.function_call is not None or part.text is None:
        yield part
        return
    for piece in pieces(part.text, 11 if part.thought else 7):
        yield Part(text=piece, thought=part.thought)
    if part.thought_signature is not None:
        yield Part(text="", thought_signature=part.thought_signature)


@contextmanager
def serve_gemini(fake: FakeGemini | None = None) -> Iterator[FakeGemini]:
    """Run `fake` (a new one when omitted) on a free loopback port until the block ends."""
    fake = fake or FakeGemini()
    routes = [Route("/{version}/models/{target:path}", fake.generate, methods=["POST"])]
    app = Starlette(routes=routes)
    with serve_asgi(app, "fake Gemini") as url:
        fake.url = url
        try:
            yield fake
        finally:
            fake.release.set()  # handlers a test left stalled end
