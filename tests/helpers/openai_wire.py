"""A scripted model server speaking the real OpenAI wire: the Responses API (`POST
/v1/responses`, the Agents SDK's default) and Chat Completions (`POST /v1/chat/completions`),
each as one JSON answer or as a server-sent event stream. Every payload is built with the
official `openai` package's types and dumped as that package models them.

What the model answers comes from a script: a function of the conversation so far (`Turn`:
the instructions, the user's messages, the tool results, the tools offered) to an `Answer`
(text, or tool calls). The server counts every request, and can hold requests (`hold`) until
released, for a test to kill a worker while a call is in flight.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from openai.types import CompletionUsage
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
)
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import (
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.chat.chat_completion_message_function_tool_call import Function
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseUsage,
)
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.responses import Response as HttpResponse
from starlette.routing import Route

from tests.helpers.serving import serve_asgi

RESPONSES = "/v1/responses"
CHAT = "/v1/chat/completions"
PROMPT_TOKENS = 40  # every answer's usage
COMPLETION_TOKENS = 10


@dataclass(frozen=True)
class Turn:
    """The conversation a request carries, whichever wire it came on."""

    instructions: str
    users: list[str]
    outputs: list[str]  # tool results, oldest first
    tools: list[str]  # names of the tools (and handoffs) offered
    model: str

    @property
    def user(self) -> str:
        return self.users[-1] if self.users else ""


@dataclass(frozen=True)
class Answer:
    text: str | None = None
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()


def say(text: str) -> Answer:
    return Answer(text=text)


def call(*calls: tuple[str, dict[str, Any]]) -> Answer:
    return Answer(calls=tuple(calls))


Script = Callable[[Turn], Answer]


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    turn: Turn


@dataclass
class FakeModelServer:
    """The server's state; `script` may be swapped between tests."""

    script: Script = lambda turn: say("ok")
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    # Requests whose Turn matches are held until `released` is set (or 60 s pass).
    hold: Callable[[Turn], bool] | None = None
    released: threading.Event = field(default_factory=threading.Event)
    # Seconds each answer waits before it is sent (a model's latency, for benchmarks).
    latency: float = 0.0

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def count(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)

    def reset(self, script: Script) -> None:
        self.script = script
        self.requests.clear()
        self.hold = None
        self.released.clear()

    async def _answer(self, request: Request, turn_of: Callable[[dict[str, Any]], Turn]) -> Any:
        body: dict[str, Any] = await request.json()
        turn = turn_of(body)
        self.requests.append(Recorded(request.url.path, body, turn))
        if self.hold is not None and self.hold(turn):
            await asyncio.to_thread(self.released.wait, 60)
        if self.latency:
            await asyncio.sleep(self.latency)
        return body, self.script(turn)

    async def responses(self, request: Request) -> HttpResponse:
        body, answer = await self._answer(request, _responses_turn)
        response = _response(body["model"], answer, len(self.requests))
        if body.get("stream"):
            return StreamingResponse(_response_events(response), media_type="text/event-stream")
        return JSONResponse(response.model_dump(mode="json"))

    async def chat(self, request: Request) -> HttpResponse:
        body, answer = await self._answer(request, _chat_turn)
        number = len(self.requests)
        if body.get("stream"):
            chunks = _chunks(body["model"], answer, number)
            return StreamingResponse(chunks, media_type="text/event-stream")
        return JSONResponse(_completion(body["model"], answer, number).model_dump(mode="json"))


# -- reading requests -------------------------------------------------------------------------


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(part.get("text", "")) for part in content or [] if isinstance(part, dict))


def _responses_turn(body: dict[str, Any]) -> Turn:
    items = body.get("input") or []
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    users = [_text(i.get("content")) for i in items if i.get("role") == "user"]
    outputs = [str(i.get("output")) for i in items if i.get("type") == "function_call_output"]
    tools = [str(t.get("name")) for t in body.get("tools") or []]
    return Turn(str(body.get("instructions") or ""), users, outputs, tools, str(body["model"]))


def _chat_turn(body: dict[str, Any]) -> Turn:
    messages = body.get("messages") or []
    system = "".join(_text(m.get("content")) for m in messages if m.get("role") == "system")
    users = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    outputs = [_text(m.get("content")) for m in messages if m.get("role") == "tool"]
    tools = [str(t["function"]["name"]) for t in body.get("tools") or []]
    return Turn(system, users, outputs, tools, str(body["model"]))


# -- the Responses API ------------------------------------------------------------------------


def _usage() -> ResponseUsage:
    return ResponseUsage(
        input_tokens=PROMPT_TOKENS,
        input_tokens_details=InputTokensDetails(cached_tokens=0, cache_write_tokens=0),
        output_tokens=COMPLETION_TOKENS,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        total_tokens=PROMPT_TOKENS + COMPLETION_TOKENS,
    )


def _response(model: str, answer: Answer, number: int) -> Response:
    output: list[Any] = []
    if answer.text is not None:
        text = ResponseOutputText(type="output_text", text=answer.text, annotations=[])
        output.append(
            ResponseOutputMessage(
                id=f"msg_{number}",
                type="message",
                role="assistant",
                status="completed",
                content=[text],
            )
        )
    for i, (name, arguments) in enumerate(answer.calls):
        output.append(
            ResponseFunctionToolCall(
                id=f"fc_{number}_{i}",
                type="function_call",
                call_id=f"call_{number}_{i}",
                name=name,
                arguments=json.dumps(arguments),
                status="completed",
            )
        )
    return Response(
        id=f"resp_{number}",
        object="response",
        created_at=time.time(),
        model=model,
        output=output,
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
        status="completed",
        usage=_usage(),
    )


async def _response_events(response: Response) -> AsyncIterator[bytes]:
    seq = iter(range(1000))
    started = response.model_copy(update={"output": [], "status": "in_progress", "usage": None})
    yield _sse(
        ResponseCreatedEvent(type="response.created", sequence_number=next(seq), response=started)
    )
    for index, item in enumerate(response.output):
        if isinstance(item, ResponseOutputMessage):
            text = item.content[0].text  # type: ignore[union-attr]
            for piece in _pieces(text):
                await asyncio.sleep(0)
                yield _sse(
                    ResponseTextDeltaEvent(
                        type="response.output_text.delta",
                        sequence_number=next(seq),
                        item_id=item.id,
                        output_index=index,
                        content_index=0,
                        delta=piece,
                        logprobs=[],
                    )
                )
        yield _sse(
            ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                sequence_number=next(seq),
                output_index=index,
                item=item,
            )
        )
    yield _sse(
        ResponseCompletedEvent(
            type="response.completed", sequence_number=next(seq), response=response
        )
    )


# -- Chat Completions -------------------------------------------------------------------------


def _completion(model: str, answer: Answer, number: int) -> ChatCompletion:
    calls = [
        ChatCompletionMessageFunctionToolCall(
            id=f"call_{number}_{i}",
            type="function",
            function=Function(name=name, arguments=json.dumps(arguments)),
        )
        for i, (name, arguments) in enumerate(answer.calls)
    ]
    message = ChatCompletionMessage(role="assistant", content=answer.text, tool_calls=calls or None)
    return ChatCompletion(
        id=f"chatcmpl-{number}",
        object="chat.completion",
        created=0,
        model=model,
        choices=[Choice(index=0, message=message, finish_reason="tool_calls" if calls else "stop")],
        usage=CompletionUsage(
            prompt_tokens=PROMPT_TOKENS,
            completion_tokens=COMPLETION_TOKENS,
            total_tokens=PROMPT_TOKENS + COMPLETION_TOKENS,
        ),
    )


def _chunk(
    model: str, number: int, delta: ChoiceDelta | None, finish: Any = None, **kw: Any
) -> bytes:
    choices = [] if delta is None else [ChunkChoice(index=0, delta=delta, finish_reason=finish)]
    chunk = ChatCompletionChunk(
        id=f"chatcmpl-{number}",
        object="chat.completion.chunk",
        created=0,
        model=model,
        choices=choices,
        **kw,
    )
    return _sse(chunk)


async def _chunks(model: str, answer: Answer, number: int) -> AsyncIterator[bytes]:
    yield _chunk(model, number, ChoiceDelta(role="assistant"))
    for piece in _pieces(answer.text or ""):
        await asyncio.sleep(0)
        yield _chunk(model, number, ChoiceDelta(content=piece))
    for i, (name, arguments) in enumerate(answer.calls):
        fragment = ChoiceDeltaToolCall(
            index=i,
            id=f"call_{number}_{i}",
            type="function",
            function=ChoiceDeltaToolCallFunction(name=name, arguments=json.dumps(arguments)),
        )
        yield _chunk(model, number, ChoiceDelta(tool_calls=[fragment]))
    yield _chunk(model, number, ChoiceDelta(), "tool_calls" if answer.calls else "stop")
    usage = CompletionUsage(
        prompt_tokens=PROMPT_TOKENS,
        completion_tokens=COMPLETION_TOKENS,
        total_tokens=PROMPT_TOKENS + COMPLETION_TOKENS,
    )
    yield _chunk(model, number, None, usage=usage)
    yield b"data: [DONE]\n\n"


# -- serving ----------------------------------------------------------------------------------


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else f" {w}" for i, w in enumerate(words)] if text else []


def _sse(event: Any) -> bytes:
    return f"data: {json.dumps(event.model_dump(mode='json'))}\n\n".encode()


@contextmanager
def serving(script: Script | None = None) -> Iterator[FakeModelServer]:
    """A `FakeModelServer` on a free loopback port, in a background thread."""
    fake = FakeModelServer()
    if script is not None:
        fake.script = script
    app = Starlette(
        routes=[
            Route(RESPONSES, fake.responses, methods=["POST"]),
            Route(CHAT, fake.chat, methods=["POST"]),
        ]
    )
    with serve_asgi(app, "fake model") as url:
        fake.url = url
        try:
            yield fake
        finally:
            fake.released.set()  # handlers a test left stalled end
