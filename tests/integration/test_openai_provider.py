"""`OpenAIProvider` against a real local HTTP server that speaks the OpenAI wire protocol:
JSON and SSE answers, tool calls split across chunks, usage, 429/500/400, unreadable bodies,
stalled and slow-but-steady streams, embeddings. The server counts every request.

Every payload the server sends is built with the official `openai` package's types
(`ChatCompletion`, `ChatCompletionChunk`, …) and dumped as that package models them, nulls
included; vendor extensions (`reasoning_content`, `reasoning`) ride on those types as the extra
fields the types allow, as vLLM, DeepSeek and Ollama send them."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from openai.types import CompletionUsage, CreateEmbeddingResponse, Embedding, ErrorObject
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionUserMessageParam,
)
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import (
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)
from openai.types.chat.chat_completion_message_function_tool_call import Function
from openai.types.completion_usage import PromptTokensDetails
from openai.types.create_embedding_response import Usage as EmbeddingUsage
from pydantic import BaseModel, TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bosun.agents.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    UnsupportedContent,
)
from bosun.agents.messages import (
    ChatRequest,
    ChatResponse,
    FilePart,
    ImagePart,
    Message,
    StreamDelta,
    TextPart,
    ToolCall,
    ToolSpec,
)
from bosun.agents.openai import OpenAIProvider
from bosun.agents.pricing import load_models, provider_for
from bosun.agents.structured import validate
from tests.helpers.media import IMAGE_URL, PDF_B64, PIXEL_B64, PIXEL_PNG, vision_message
from tests.helpers.providers import collect
from tests.helpers.serving import free_port, serve_asgi
from tests.helpers.wait import wait_until

pytestmark = pytest.mark.timeout(30)

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
IDLE = 1.0  # the idle timeout the timing tests use
GAP = IDLE / 10  # between the pieces of a slow answer: well within IDLE, even on a busy machine
USAGE = CompletionUsage(
    prompt_tokens=12,
    completion_tokens=3,
    total_tokens=15,
    prompt_tokens_details=PromptTokensDetails(cached_tokens=4),
)
MALFORMED_CONTENT = (
    'Sure! Here it is:\n```json\n{"city": "Paris", "temp": 21,}\n```\nAnything else?'
)


# -- the fake server --------------------------------------------------------------------------


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    query: dict[str, str]


def _message(**fields: Any) -> ChatCompletionMessage:
    """An assistant message; extra fields (`reasoning_content`…) as vendors add them."""
    return ChatCompletionMessage(role="assistant", **fields)


def _completion(message: ChatCompletionMessage, finish: Any = "stop") -> dict[str, Any]:
    return ChatCompletion(
        id="chatcmpl-1",
        object="chat.completion",
        created=0,
        model="fake-model-2024",
        choices=[Choice(index=0, message=message, finish_reason=finish)],
        usage=USAGE,
    ).model_dump(mode="json")


def _chunk(
    delta: ChoiceDelta | None = None,
    finish: Any = None,
    *,
    choices: bool = True,
    usage: CompletionUsage | None = None,
) -> dict[str, Any]:
    listed = [ChunkChoice(index=0, delta=delta or ChoiceDelta(), finish_reason=finish)]
    return ChatCompletionChunk(
        id="chatcmpl-2",
        object="chat.completion.chunk",
        created=0,
        model="fake-model-2024",
        choices=listed if choices else [],
        usage=usage,
    ).model_dump(mode="json")


def _delta(**fields: Any) -> ChoiceDelta:
    return ChoiceDelta(**fields)


def _fragment(
    index: int, arguments: str, id: str | None = None, name: str | None = None
) -> ChoiceDeltaToolCall:
    """A tool-call fragment; id and name only in a call's first fragment (as OpenAI sends)."""
    return ChoiceDeltaToolCall(
        index=index,
        id=id,
        type="function" if id else None,
        function=ChoiceDeltaToolCallFunction(name=name, arguments=arguments),
    )


def _call(index: int, arguments: str, **first: str) -> ChoiceDelta:
    return ChoiceDelta(tool_calls=[_fragment(index, arguments, first.get("id"), first.get("name"))])


def _tool_call(id: str, name: str, arguments: str) -> ChatCompletionMessageFunctionToolCall:
    return ChatCompletionMessageFunctionToolCall(
        id=id, type="function", function=Function(name=name, arguments=arguments)
    )


def _error(message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": ErrorObject(message=message, type="x", code=code, param=None).model_dump()}


def _sse(event: dict[str, Any] | str) -> bytes:
    data = event if isinstance(event, str) else json.dumps(event)
    return f"data: {data}\n\n".encode()


TEXT_CHUNKS = [
    _chunk(_delta(role="assistant", content="")),
    _chunk(_delta(content="Hel")),
    _chunk(_delta(content="lo")),
    _chunk(_delta(content=" there")),
    _chunk(_delta(), "stop"),
]
TOOL_CHUNKS = [
    _chunk(_delta(role="assistant", tool_calls=[_fragment(0, "", id="call_a", name="weather")])),
    _chunk(_call(0, '{"ci')),
    _chunk(_call(1, '{"tz":', id="call_b", name="clock")),
    _chunk(_call(0, 'ty": "Paris"}')),
    _chunk(_call(1, ' "CET"}')),
    _chunk(_delta(), "tool_calls"),
]
USAGE_CHUNK = _chunk(choices=False, usage=USAGE)
# Ollama (>= 0.4.7) sends each parallel call whole, every one at index 0, with its own id.
OLLAMA_CALLS = [
    _fragment(0, '{"a":2,"b":3}', id="call_x1", name="add"),
    _fragment(0, '{"a":4,"b":5}', id="call_x2", name="mul"),
]
REASONING = "The user greets me. I should greet back."


@dataclass
class FakeOpenAI:
    """An OpenAI-compatible server whose behaviour is picked by the request's `model`."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    # A stalled answer is held back until this is set (at the end of each test): a call that
    # fails before then gave up by its own idle timeout, not because the server moved on.
    release: threading.Event = field(default_factory=threading.Event)

    def count(self, path: str = CHAT) -> int:
        return sum(1 for r in self.requests if r.path == path)

    async def _record(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = await request.json()
        headers = dict(request.headers)
        self.requests.append(Recorded(request.url.path, body, headers, dict(request.query_params)))
        return body

    async def _stall(self, seconds: float = 25.0) -> None:
        """Send nothing until the test ends (or `seconds` pass)."""
        await asyncio.to_thread(self.release.wait, seconds)

    async def chat(self, request: Request) -> Response:
        body = await self._record(request)
        model = body["model"]
        errors = {
            "rate-limited": (429, {"retry-after": "7"}, "Rate limit reached for requests"),
            "rate-limited-ms": (429, {"retry-after-ms": "1500"}, "Slow down"),
            "broken": (500, {}, "The server had an error while processing your request"),
            "bad-request": (400, {}, "Invalid schema for response_format 'answer'"),
            "unauthorized": (401, {}, "Incorrect API key provided"),
        }
        if model == "rate-limited-date":
            when = email.utils.formatdate(time.time() + 30, usegmt=True)
            errors[model] = (429, {"retry-after": when}, "Too many tokens")
        if model in errors:
            status, headers, message = errors[model]
            return JSONResponse(_error(message), status_code=status, headers=headers)
        if model == "not-json":
            return Response("<html>502 bad gateway</html>", media_type="text/html")
        if body.get("stream"):
            return StreamingResponse(self._events(model, body), media_type="text/event-stream")
        return await self._complete(model)

    async def _complete(self, model: str) -> Response:
        answers = {
            "tools": (
                _message(tool_calls=[_tool_call("call_a", "weather", '{"city": "Paris"}')]),
                "tool_calls",
            ),
            "malformed-content": (_message(content=MALFORMED_CONTENT), "stop"),
            "refusal": (_message(refusal="I can't help with that."), "stop"),
            "filtered": (_message(content=""), "content_filter"),
            "truncated": (_message(content='{"city": "Par'), "length"),
            "reasoning": (_message(content="Hi!", reasoning_content=REASONING), "stop"),
        }
        if model in answers:
            message, finish = answers[model]
            return JSONResponse(_completion(message, finish))
        if model == "no-choices":
            empty = ChatCompletion(
                id="x", object="chat.completion", created=0, model="m", choices=[]
            )
            return JSONResponse(empty.model_dump(mode="json"))
        if model == "stall":
            await self._stall()
            return JSONResponse(_completion(_message(content="late")))
        if model == "slow":
            return StreamingResponse(self._drip(), media_type="application/json")
        return JSONResponse(_completion(_message(content="Hello there")))

    async def _drip(self) -> AsyncIterator[bytes]:
        """A JSON body sent in pieces, each well within the idle timeout."""
        text = json.dumps(_completion(_message(content="slow but sure")))
        size = len(text) // 12 + 1  # 12 pieces: more than IDLE in all
        for start in range(0, len(text), size):
            await asyncio.sleep(GAP)
            yield text[start : start + size].encode()

    async def _events(self, model: str, body: dict[str, Any]) -> AsyncIterator[bytes]:
        scripted = self._scripted_events(model, body)
        if scripted is not None:
            for event in [*scripted, USAGE_CHUNK, "[DONE]"]:
                yield _sse(event)
        elif model == "stall":
            for event in TEXT_CHUNKS[:3]:
                yield _sse(event)
            await self._stall()
        elif model == "slow":
            for word in ["one", " two", " three", " four", " five", " six"] * 2:
                await asyncio.sleep(GAP)
                yield _sse(_chunk(_delta(content=word)))
            for event in [_chunk(_delta(), "stop"), USAGE_CHUNK, "[DONE]"]:
                yield _sse(event)
        elif model == "error-mid-stream":
            yield _sse(TEXT_CHUNKS[1])
            yield _sse(_error("the model crashed", "500"))
        elif model == "cut-short":
            yield _sse(TEXT_CHUNKS[1])
        else:
            for event in [*TEXT_CHUNKS, USAGE_CHUNK]:
                raw = _sse(event)
                # One event split across two writes: the client must buffer it.
                yield raw[:10]
                await asyncio.sleep(0.001)
                yield raw[10:]
            yield b"data: [DONE]\n\n"

    def _scripted_events(self, model: str, body: dict[str, Any]) -> list[Any] | None:
        """The chunks of a streamed answer that needs no timing, by model."""
        answered = body["messages"][-1]["role"] == "tool"  # a tool loop's second turn
        if model == "tools":
            return TOOL_CHUNKS
        if model == "ollama-parallel":  # one chunk per call, as Ollama streams them
            return [*(_chunk(_delta(tool_calls=[c])) for c in OLLAMA_CALLS), _chunk(None, "stop")]
        if model == "ollama-parallel-one-chunk":
            return [_chunk(_delta(tool_calls=OLLAMA_CALLS)), _chunk(None, "tool_calls")]
        if model == "refusal":
            pieces = ["I can't ", "help with that."]
            return [*(_chunk(_delta(refusal=p)) for p in pieces), _chunk(None, "stop")]
        if model == "filtered":
            return [_chunk(_delta(role="assistant", content="")), _chunk(None, "content_filter")]
        if model == "truncated":
            return [_chunk(_delta(content='{"city": "Par')), _chunk(None, "length")]
        if model in ("reasoning", "reasoning-ollama") or (model == "reasoning-tools" and answered):
            name = "reasoning" if model == "reasoning-ollama" else "reasoning_content"
            half = len(REASONING) // 2
            thoughts = [_delta(**{name: REASONING[:half]}), _delta(**{name: REASONING[half:]})]
            return [*map(_chunk, thoughts), _chunk(_delta(content="Hi!")), _chunk(None, "stop")]
        if model == "reasoning-tools":
            return [
                _chunk(_delta(reasoning_content="I need the weather.")),
                _chunk(_call(0, '{"city": "Paris"}', id="call_w", name="weather")),
                _chunk(None, "tool_calls"),
            ]
        return None

    async def embeddings(self, request: Request) -> Response:
        body = await self._record(request)
        data = [
            Embedding(object="embedding", index=i, embedding=[float(i), 0.5, -1.0])
            for i in range(len(body["input"]))
        ]
        answer = CreateEmbeddingResponse(
            object="list",
            data=data[::-1],
            model=body["model"],
            usage=EmbeddingUsage(prompt_tokens=9, total_tokens=9),
        )
        return JSONResponse(answer.model_dump(mode="json"))


@pytest.fixture(scope="module")
def served() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    app = Starlette(
        routes=[
            Route(CHAT, fake.chat, methods=["POST"]),
            Route(EMBEDDINGS, fake.embeddings, methods=["POST"]),
        ]
    )
    with serve_asgi(app, "fake OpenAI") as url:
        fake.url = url
        try:
            yield fake
        finally:
            fake.release.set()  # handlers a test left stalled end


@pytest.fixture
def fake(served: FakeOpenAI) -> Iterator[FakeOpenAI]:
    served.requests.clear()
    served.release.clear()
    yield served
    served.release.set()  # this test's stalled answers end


@pytest.fixture
async def provider(fake: FakeOpenAI) -> AsyncIterator[OpenAIProvider]:
    async with OpenAIProvider(f"{fake.url}/v1", "sk-test") as provider:
        yield provider


def _request(model: str = "plain", **kwargs: Any) -> ChatRequest:
    messages = [Message.system("Be brief."), Message.user("Hi")]
    return ChatRequest(model=model, messages=messages, **kwargs)


async def _collect(
    provider: OpenAIProvider, request: ChatRequest, idle_timeout: float | None = None
) -> tuple[list[str], ChatResponse]:
    deltas, final = await collect(provider, request, idle_timeout)
    return [delta.text for delta in deltas], final


# -- chat -------------------------------------------------------------------------------------


async def test_chat_sends_the_openai_request_and_reads_the_answer(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    weather = ToolSpec(
        name="weather",
        description="Weather of a city.",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    request = _request(
        tools=[weather],
        tool_choice="weather",
        response_schema={"type": "object", "properties": {"answer": {"type": "string"}}},
        schema_name="my answer!",
        temperature=0.2,
        max_tokens=50,
        extra={"seed": 7},
    )
    response = await provider.chat(request)

    assert response.message == Message(role="assistant", content="Hello there")
    assert response.usage.model_dump() == {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "cached_tokens": 4,
        "cache_write_tokens": 0,
    }
    assert (response.finish_reason, response.model, response.raw_id) == (
        "stop",
        "fake-model-2024",
        "chatcmpl-1",
    )
    assert fake.count() == 1
    sent = fake.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.body == {
        "model": "plain",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Weather of a city.",
                    "parameters": weather.parameters,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "my_answer_",
                "schema": request.response_schema,
                "strict": False,
            },
        },
        "temperature": 0.2,
        "max_tokens": 50,
        "seed": 7,
    }


async def test_chat_reads_tool_calls_and_sends_them_back(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    response = await provider.chat(_request("tools"))
    assert response.finish_reason == "tool_calls"
    assert response.message.content is None
    [call] = response.message.tool_calls
    assert (call.id, call.name, call.arguments) == ("call_a", "weather", '{"city": "Paris"}')

    history = [*_request().messages, response.message, Message.tool(call, "sunny, 21 C")]
    await provider.chat(ChatRequest(model="plain", messages=history, tool_choice="auto"))
    sent = fake.requests[1].body
    assert sent["tool_choice"] == "auto"
    assert sent["messages"][2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": "sunny, 21 C", "tool_call_id": "call_a"},
    ]
    assert fake.count() == 2


async def test_json_object_mode_headers_params_and_azure_key_header(fake: FakeOpenAI) -> None:
    async with OpenAIProvider(
        f"{fake.url}/v1/",
        "azure-key",
        api_key_header="api-key",
        headers={"X-Gateway": "g1"},
        params={"api-version": "2024-10-21"},
        json_schema=False,
    ) as provider:
        await provider.chat(_request(response_schema={"type": "object"}))
    sent = fake.requests[0]
    assert sent.body["response_format"] == {"type": "json_object"}
    assert sent.headers["api-key"] == "azure-key"
    assert "authorization" not in sent.headers
    assert sent.headers["x-gateway"] == "g1"
    assert sent.query == {"api-version": "2024-10-21"}


async def test_malformed_json_in_the_content_is_read_by_structured_parsing(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    class Weather(BaseModel):
        city: str
        temp: float

    class Strict(BaseModel):
        city: str
        wind: int

    response = await provider.chat(_request("malformed-content"))
    assert response.message.content == MALFORMED_CONTENT
    assert validate(Weather, MALFORMED_CONTENT) == (Weather(city="Paris", temp=21), None)
    value, problems = validate(Strict, MALFORMED_CONTENT)
    assert value is None
    assert problems == "1 validation error:\n- wind: Field required"
    assert fake.count() == 1


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "low", "high"),
    [("rate-limited", 7, 7), ("rate-limited-ms", 1.5, 1.5), ("rate-limited-date", 25, 31)],
)
async def test_429_is_retryable_and_carries_retry_after(
    fake: FakeOpenAI, provider: OpenAIProvider, model: str, low: float, high: float
) -> None:
    with pytest.raises(ProviderRateLimited) as caught:
        await provider.chat(_request(model))
    error = caught.value
    assert error.retryable and error.status == 429
    assert error.retry_after is not None and low <= error.retry_after <= high
    assert "429" in str(error)
    assert fake.count() == 1  # the provider never retries by itself


async def test_429_on_a_stream_request(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    with pytest.raises(ProviderRateLimited, match="Rate limit reached") as caught:
        await _collect(provider, _request("rate-limited"))
    assert caught.value.retry_after == 7
    assert fake.count() == 1


@pytest.mark.parametrize(
    ("model", "status", "retryable", "message"),
    [
        ("broken", 500, True, "The server had an error"),
        ("bad-request", 400, False, "Invalid schema for response_format 'answer'"),
        ("unauthorized", 401, False, "Incorrect API key provided; check the API key"),
    ],
)
async def test_http_errors_map_to_provider_errors(
    fake: FakeOpenAI,
    provider: OpenAIProvider,
    model: str,
    status: int,
    retryable: bool,
    message: str,
) -> None:
    with pytest.raises(ProviderError, match=message) as caught:
        await provider.chat(_request(model))
    assert type(caught.value) is ProviderError
    assert (caught.value.status, caught.value.retryable) == (status, retryable)
    assert fake.count() == 1


@pytest.mark.parametrize(
    ("model", "message"),
    [("not-json", "not JSON: '<html>502 bad gateway</html>'"), ("no-choices", "without")],
)
async def test_unreadable_answers_are_provider_errors(
    fake: FakeOpenAI, provider: OpenAIProvider, model: str, message: str
) -> None:
    with pytest.raises(ProviderError, match=message) as caught:
        await provider.chat(_request(model))
    assert not caught.value.retryable


async def test_unreachable_server_is_retryable() -> None:
    async with OpenAIProvider(f"http://127.0.0.1:{free_port()}/v1", None) as provider:
        with pytest.raises(ProviderError, match="could not be reached") as caught:
            await provider.chat(_request())
    assert caught.value.retryable and caught.value.status is None


async def test_an_error_event_mid_stream_fails_the_call(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    with pytest.raises(ProviderError, match="the model crashed") as caught:
        await _collect(provider, _request("error-mid-stream"))
    assert caught.value.retryable


async def test_a_stream_cut_short_is_retryable(provider: OpenAIProvider) -> None:
    with pytest.raises(ProviderError, match=r"before it finished \(no \[DONE\]\)") as caught:
        await _collect(provider, _request("cut-short"))
    assert caught.value.retryable


# -- streaming --------------------------------------------------------------------------------


async def test_stream_yields_text_deltas_then_the_assembled_response(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    deltas, final = await _collect(provider, _request())
    assert deltas == ["Hel", "lo", " there"]
    assert final.message == Message(role="assistant", content="Hello there")
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (12, 3)
    assert final.usage.cached_tokens == 4
    assert (final.finish_reason, final.model, final.raw_id) == (
        "stop",
        "fake-model-2024",
        "chatcmpl-2",
    )
    body = fake.requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert fake.count() == 1


async def test_stream_assembles_parallel_tool_calls_split_across_chunks(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    deltas, final = await _collect(provider, _request("tools"))
    assert deltas == []
    assert final.finish_reason == "tool_calls"
    assert final.message.content is None
    calls = [(c.id, c.name, json.loads(c.arguments)) for c in final.message.tool_calls]
    assert calls == [("call_a", "weather", {"city": "Paris"}), ("call_b", "clock", {"tz": "CET"})]
    assert final.usage.total_tokens == 15
    assert fake.count() == 1


async def test_a_stalled_stream_fails_after_the_idle_timeout(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    deltas: list[str] = []
    started = time.monotonic()
    # The server holds the rest back until the test ends: only the idle timeout ends this.
    with pytest.raises(ProviderTimeout, match=r"sent nothing for 1 s") as caught:
        async with aclosing(provider.stream(_request("stall"), idle_timeout=IDLE)) as stream:
            async for item in stream:
                assert isinstance(item, StreamDelta)
                deltas.append(item.text)
    assert deltas == ["Hel", "lo"]
    assert time.monotonic() - started >= IDLE  # not before the idle time had passed
    assert caught.value.retryable and isinstance(caught.value, TimeoutError)
    assert fake.count() == 1


async def test_a_slow_but_steady_stream_is_not_cut_off(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    started = time.monotonic()
    deltas, final = await _collect(provider, _request("slow"), idle_timeout=IDLE)
    assert time.monotonic() - started > IDLE  # longer than the idle timeout in all
    assert len(deltas) == 12
    assert final.message.content == "one two three four five six" * 2
    assert fake.count() == 1


async def test_a_stalled_non_streamed_call_fails_after_the_idle_timeout(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    # The server holds its answer back until the test ends: only the idle timeout ends this.
    with pytest.raises(ProviderTimeout, match=r"sent nothing for 1 s"):
        await provider.chat(_request("stall"), idle_timeout=IDLE)
    assert fake.count() == 1


async def test_a_slowly_sent_body_is_not_cut_off(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    started = time.monotonic()
    response = await provider.chat(_request("slow"), idle_timeout=IDLE)
    assert time.monotonic() - started > IDLE
    assert response.message.content == "slow but sure"


async def test_a_server_that_ignores_stream_true_still_streams_once(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    """Through a caller's client (an httpx MockTransport here): a JSON answer to a stream
    request becomes one delta and the response."""

    async def json_only(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_completion(_message(content="whole")))

    async with httpx.AsyncClient(transport=httpx.MockTransport(json_only)) as client:
        provider = OpenAIProvider("http://fake/v1", None, client=client)
        deltas, final = await _collect(provider, _request())
        await provider.aclose()  # leaves the caller's client open
        assert not client.is_closed
    assert deltas == ["whole"]
    assert final.message.content == "whole"


# -- embeddings and configuration -------------------------------------------------------------


async def test_embeddings_come_back_in_input_order(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    vectors, usage = await provider.embed("text-embedding-3-small", ["a", "b", "c"])
    assert vectors == [[0.0, 0.5, -1.0], [1.0, 0.5, -1.0], [2.0, 0.5, -1.0]]
    assert usage.prompt_tokens == 9
    assert fake.requests[0].body == {"model": "text-embedding-3-small", "input": ["a", "b", "c"]}
    assert await provider.embed("m", []) == ([], usage.model_copy(update={"prompt_tokens": 0}))
    assert fake.count(EMBEDDINGS) == 1


async def test_two_environment_variables_point_the_default_model_at_a_server(
    fake: FakeOpenAI,
) -> None:
    environ = {"BOSUN_LLM_BASE_URL": f"{fake.url}/v1", "BOSUN_LLM_MODEL": "plain"}
    config = load_models(environ)["default"]
    provider = provider_for(config, environ)
    try:
        response = await provider.chat(_request(config.model))
    finally:
        await provider.aclose()
    assert response.message.content == "Hello there"
    assert "authorization" not in fake.requests[0].headers


async def test_ctx_llm_over_the_wire_is_called_once_and_replayed(
    fake: FakeOpenAI, tmp_path: Any
) -> None:
    """A workflow's LLM call reaches the real wire protocol once; its replay sends nothing."""
    import bosun
    from bosun.agents.pricing import ModelConfig

    app = bosun.App("wire", database=f"sqlite:///{tmp_path / 'wire.db'}")
    config = ModelConfig(alias="default", provider="openai", model="plain")
    provider = OpenAIProvider(f"{fake.url}/v1", "sk-test")
    app.models.register("default", provider, config)

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        answer = await ctx.llm.chat("hi")
        await ctx.wait_for_signal("go")
        return answer.message.content or ""

    async with app, app.worker():
        handle = await app.start(ask)

        async def suspended() -> bool:
            return (await handle.status()).status == "suspended"

        await wait_until(suspended, 30, "the run to wait for its signal")
        assert fake.count() == 1
        await handle.signal("go")
        result = await handle.result(timeout=20)
    await provider.aclose()
    assert result == "Hello there" and fake.count() == 1
    assert fake.requests[0].body["stream"] is True  # streamed: the idle timeout is progress-based


# -- today's wire: what the openai types define, and what servers really send -----------------


def test_the_fields_read_are_those_of_the_openai_types() -> None:
    """Each wire model reads only fields the `openai` package's type of the same role has,
    under the same names; the only others are the vendors' reasoning fields."""
    from openai.types.chat import chat_completion_chunk as chunk_types
    from openai.types.completion_usage import CompletionTokensDetails

    from bosun.agents import openai as wire

    vendor = {"reasoning_content", "reasoning"}
    pairs: list[tuple[type[BaseModel], type[BaseModel]]] = [
        (wire._Completion, ChatCompletion),
        (wire._Choice, Choice),
        (wire._Message, ChatCompletionMessage),
        (wire._Message, ChoiceDelta),
        (wire._ToolCall, ChoiceDeltaToolCall),
        (wire._Function, ChoiceDeltaToolCallFunction),
        (wire._Function, Function),
        (wire._Chunk, ChatCompletionChunk),
        (wire._ChunkChoice, chunk_types.Choice),
        (wire._Usage, CompletionUsage),
        (wire._PromptTokensDetails, PromptTokensDetails),
        (wire._CompletionTokensDetails, CompletionTokensDetails),
    ]
    for ours, theirs in pairs:
        unknown = set(ours.model_fields) - set(theirs.model_fields) - vendor
        assert not unknown, f"{ours.__name__} reads {unknown}, which {theirs.__name__} lacks"
    # A message's tool call has no index; a delta's has one.
    assert set(wire._ToolCall.model_fields) - {"index"} <= set(
        ChatCompletionMessageFunctionToolCall.model_fields
    )


@pytest.mark.parametrize("model", ["ollama-parallel", "ollama-parallel-one-chunk"])
async def test_parallel_calls_at_one_index_with_their_own_ids_stay_separate(
    provider: OpenAIProvider, model: str
) -> None:
    """Ollama sends every parallel call at index 0: a new id there opens a new call (before,
    they merged into one call named "addmul" with arguments `{"a":2,"b":3}{"a":4,"b":5}`)."""
    _, final = await _collect(provider, _request(model))
    calls = [(c.id, c.name, json.loads(c.arguments)) for c in final.message.tool_calls]
    assert calls == [("call_x1", "add", {"a": 2, "b": 3}), ("call_x2", "mul", {"a": 4, "b": 5})]


@pytest.mark.parametrize("streamed", [False, True])
async def test_refusals_filters_and_cut_answers_are_not_dropped(
    provider: OpenAIProvider, streamed: bool
) -> None:
    async def answer(model: str) -> ChatResponse:
        if streamed:
            return (await _collect(provider, _request(model)))[1]
        return await provider.chat(_request(model))

    refused = await answer("refusal")
    assert refused.refusal == "I can't help with that."
    assert refused.message.content in (None, "")
    assert (await answer("filtered")).finish_reason == "content_filter"
    truncated = await answer("truncated")
    assert (truncated.finish_reason, truncated.message.content) == ("length", '{"city": "Par')


@pytest.mark.parametrize("model", ["reasoning", "reasoning-ollama"])
async def test_reasoning_streams_apart_from_the_answer(
    provider: OpenAIProvider, model: str
) -> None:
    """vLLM and DeepSeek send `reasoning_content`, Ollama `reasoning`: either streams as
    reasoning deltas and lands on the message, never in its text."""
    items: list[StreamDelta] = []
    async with aclosing(provider.stream(_request(model))) as stream:
        async for item in stream:
            if isinstance(item, StreamDelta):
                items.append(item)
            else:
                final = item
    assert "".join(i.reasoning for i in items) == REASONING
    assert [i.text for i in items if i.text] == ["Hi!"]
    assert all(not (i.text and i.reasoning) for i in items)
    assert (final.message.content, final.message.reasoning) == ("Hi!", REASONING)
    whole = await provider.chat(_request("reasoning"))
    assert (whole.message.content, whole.message.reasoning) == ("Hi!", REASONING)


async def test_reasoning_goes_back_only_within_the_tool_loop(fake: FakeOpenAI) -> None:
    from bosun.agents.openai import WireOptions, request_body

    old = Message.assistant("Earlier answer.").model_copy(update={"reasoning": "old thoughts"})
    call = Message.assistant(None, [_tool_call_of("call_w")]).model_copy(
        update={"reasoning": "I need the weather."}
    )
    messages = [
        Message.user("Hi"),
        old,
        Message.user("Weather in Paris?"),
        call,
        Message.tool(_tool_call_of("call_w"), "sunny"),
    ]
    request = ChatRequest(model="m", messages=messages)
    sent = request_body(request, stream=False)["messages"]
    assert "reasoning_content" not in sent[1]  # a finished turn's reasoning is dropped
    assert sent[3]["reasoning_content"] == "I need the weather."
    as_ollama = request_body(request, WireOptions(reasoning_field="reasoning"), stream=False)
    assert as_ollama["messages"][3]["reasoning"] == "I need the weather."
    never = request_body(request, WireOptions(reasoning_field=None), stream=False)
    assert all("reasoning" not in m and "reasoning_content" not in m for m in never["messages"])


def _tool_call_of(call_id: str) -> Any:
    from bosun.agents.messages import ToolCall

    return ToolCall(id=call_id, name="weather", arguments='{"city": "Paris"}')


async def test_max_completion_tokens_strict_mode_and_stream_options_switches(
    fake: FakeOpenAI,
) -> None:
    from bosun.agents.structured import json_schema_for

    class Answer(BaseModel):
        city: str
        note: str | None = None

    weather = ToolSpec(
        name="weather",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    schema = json_schema_for(Answer)
    async with OpenAIProvider(
        f"{fake.url}/v1",
        None,
        strict=True,
        stream_options=False,
        max_tokens_field="max_completion_tokens",
    ) as provider:
        request = _request(
            tools=[weather], response_schema=schema, schema_name="Answer", max_tokens=64
        )
        await _collect(provider, request)
    body = fake.requests[0].body
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body
    assert "stream_options" not in body and body["stream"] is True
    assert body["response_format"]["json_schema"]["strict"] is True
    sent_schema = body["response_format"]["json_schema"]["schema"]
    assert sent_schema["additionalProperties"] is False
    assert sent_schema["required"] == ["city", "note"]
    [tool] = body["tools"]
    assert tool["function"]["strict"] is True
    assert tool["function"]["parameters"]["additionalProperties"] is False


def test_max_completion_tokens_is_chosen_by_the_host() -> None:
    def field_of(url: str) -> str:
        return OpenAIProvider(url).options.max_tokens_field

    assert field_of("https://api.openai.com/v1") == "max_completion_tokens"
    assert field_of("https://my-res.openai.azure.com/openai/v1") == "max_completion_tokens"
    assert field_of("http://localhost:8000/v1") == "max_tokens"
    assert field_of("http://localhost:11434/v1") == "max_tokens"
    config = load_models(
        {
            "BOSUN_MODELS": json.dumps(
                {
                    "o": {
                        "model": "o4-mini",
                        "base_url": "http://gateway/v1",
                        "max_tokens_field": "max_completion_tokens",
                        "strict": True,
                        "stream_options": False,
                        "reasoning_field": "reasoning",
                        "body": {"reasoning_effort": "low"},
                    }
                }
            )
        }
    )["o"]
    made = provider_for(config, {})
    assert isinstance(made, OpenAIProvider)
    assert made.options.max_tokens_field == "max_completion_tokens"
    assert made.options.strict and not made.options.stream_options
    assert made.options.reasoning_field == "reasoning"


# -- through ctx.llm: journaled once, raised clearly ------------------------------------------


def _wire_app(tmp_path: Any, fake: FakeOpenAI, model: str, **config: Any) -> Any:
    import bosun
    from bosun.agents.pricing import ModelConfig

    app = bosun.App("wire", database=f"sqlite:///{tmp_path / 'wire.db'}")
    settings = ModelConfig(alias="default", provider="openai", model=model, **config)
    provider = provider_for(settings.model_copy(update={"base_url": f"{fake.url}/v1"}), {})
    app.models.register("default", provider, settings)
    return app, provider


async def _failure(app: Any, workflow: Any, *args: Any) -> dict[str, Any]:
    import bosun

    async with app, app.worker():
        handle = await app.start(workflow, *args)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
    error: dict[str, Any] = failed.value.error
    return error


@pytest.mark.parametrize(
    ("model", "error", "says"),
    [
        ("refusal", "Refused", 'refused to answer: "I can\'t help with that."'),
        ("filtered", "ContentFiltered", "content filter"),
        ("truncated", "OutputTruncated", "cut off at the token limit"),
    ],
)
async def test_structured_raises_refusals_filters_and_cut_answers_without_retrying(
    fake: FakeOpenAI, tmp_path: Any, model: str, error: str, says: str
) -> None:
    """Before: `structured()` took each as a parse failure, paid for two more calls, then
    said "the output is empty"."""
    import bosun

    class City(BaseModel):
        city: str

    app, provider = _wire_app(tmp_path, fake, model)

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> City:
        return await ctx.llm.structured(City, "Which city?")

    failure = await _failure(app, ask)
    await provider.aclose()
    assert failure["type"].endswith(error), failure
    assert says in failure["message"]
    assert fake.count() == 1


async def test_an_agent_whose_answer_is_filtered_fails_instead_of_answering_nothing(
    fake: FakeOpenAI, tmp_path: Any
) -> None:
    import bosun

    app, provider = _wire_app(tmp_path, fake, "filtered")
    agent = bosun.Agent(system="Be brief.")

    @app.workflow(name="chat")
    async def chat(ctx: bosun.Context) -> str:
        answer: str = await agent.run(ctx, "Hi")
        return answer

    failure = await _failure(app, chat)
    await provider.aclose()
    assert failure["type"].endswith("ContentFiltered")
    assert fake.count() == 1


async def test_the_errors_are_caught_by_type_and_replay_makes_no_second_call(
    fake: FakeOpenAI, tmp_path: Any
) -> None:
    import bosun

    app, provider = _wire_app(tmp_path, fake, "refusal")

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        try:
            await ctx.llm.chat("hi")
        except bosun.Refused as refused:
            text = refused.text
        await ctx.wait_for_signal("go")  # the run replays from the top after this
        return text

    async with app, app.worker():
        handle = await app.start(ask)

        async def suspended() -> bool:
            return (await handle.status()).status == "suspended"

        await wait_until(suspended, 30, "the run to wait for its signal")
        await handle.signal("go")
        assert await handle.result(timeout=20) == "I can't help with that."
    await provider.aclose()
    assert fake.count() == 1


async def test_a_cut_answer_is_returned_when_the_caller_allows_it(
    fake: FakeOpenAI, tmp_path: Any
) -> None:
    import bosun

    app, provider = _wire_app(tmp_path, fake, "truncated")

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> list[str | None]:
        response = await ctx.llm.chat("hi", max_tokens=4, allow_truncated=True)
        return [response.message.content, response.finish_reason]

    async with app, app.worker():
        handle = await app.start(ask)
        assert await handle.result(timeout=20) == ['{"city": "Par', "length"]
    await provider.aclose()


async def test_extra_and_the_models_body_defaults_reach_the_request(
    fake: FakeOpenAI, tmp_path: Any
) -> None:
    """Before: `ctx.llm.chat(extra=…)` raised TypeError, and a model had no body defaults."""
    import bosun

    body = {"seed": 7, "top_p": 0.5, "parallel_tool_calls": False}
    app, provider = _wire_app(tmp_path, fake, "plain", body=body)

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        extra = {"reasoning_effort": "low", "seed": 8}
        response = await ctx.llm.chat("hi", max_tokens=32, extra=extra)
        return response.message.content or ""

    async with app, app.worker():
        handle = await app.start(ask)
        assert await handle.result(timeout=20) == "Hello there"
    await provider.aclose()
    sent = fake.requests[0].body
    assert sent["reasoning_effort"] == "low" and sent["seed"] == 8  # the call's own wins
    assert (sent["top_p"], sent["parallel_tool_calls"], sent["max_tokens"]) == (0.5, False, 32)


async def test_structured_sends_its_schema_as_json_where_chat_templates_accept_it(
    fake: FakeOpenAI, tmp_path: Any
) -> None:
    """Before: a system message after the user message (Mistral's and Gemma's templates
    reject it) holding the schema as a Python repr."""
    import bosun

    class Reply(BaseModel):
        text: str

    app, provider = _wire_app(tmp_path, fake, "plain")

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context, system: str | None) -> str:
        # "Hello there" is no Reply: only the request matters here.
        with contextlib.suppress(bosun.RunError):
            await ctx.llm.structured(Reply, "Say hi.", system=system, attempts=1)
        return "asked"

    for system in ("Be brief.", None):
        async with app, app.worker():
            handle = await app.start(ask, system)
            assert await handle.result(timeout=20) == "asked"
    await provider.aclose()
    with_system, without = (r.body["messages"] for r in fake.requests)
    assert [m["role"] for m in with_system] == ["system", "user"]
    assert with_system[1]["content"] == "Say hi."
    assert [m["role"] for m in without] == ["user"]
    for message in (with_system[0], without[0]):
        written = message["content"][message["content"].index("{") :]
        assert json.loads(written) == Reply.model_json_schema()


async def test_reasoning_is_journaled_streamed_as_its_own_event_and_passed_back(
    fake: FakeOpenAI, tmp_path: Any
) -> None:
    import bosun

    app, provider = _wire_app(tmp_path, fake, "reasoning-tools")

    def weather(city: str) -> str:
        """The weather of a city."""
        return "sunny"

    agent = bosun.Agent(tools=[weather])

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        await ctx.wait_for_signal("go")
        answer: str = await agent.run(ctx, "Weather in Paris?")
        return answer

    async with app, app.worker():
        handle = await app.start(ask)

        async def suspended() -> bool:
            return (await handle.status()).status == "suspended"

        await wait_until(suspended, 30, "the run to wait for its signal")
        queue = app.store.notifier.subscribe(handle.run_id)
        await handle.signal("go")
        assert await handle.result(timeout=20) == "Hi!"
        journal = [e for e in await app.store.get_journal(handle.run_id) if e.kind == "llm"]
    await provider.aclose()
    published: dict[str, str] = {}
    while not queue.empty():
        kind, data = queue.get_nowait()
        published[kind] = published.get(kind, "") + json.loads(data).get("text", "")
    assert published["llm.reasoning.delta"] == "I need the weather." + REASONING
    assert published["llm.delta"] == "Hi!"
    recorded = [json.loads(e.output)["response"]["message"]["reasoning"] for e in journal]
    assert recorded == ["I need the weather.", REASONING]
    # The tool loop's second request carries the first turn's reasoning back.
    assistant = fake.requests[1].body["messages"][1]
    assert assistant["role"] == "assistant" and assistant["tool_calls"]
    assert assistant["reasoning_content"] == "I need the weather."


async def test_servers_that_bend_the_wire_are_still_read() -> None:
    """Chunks built with the `openai` types, then bent as some servers send them: tool calls
    without `index` (one whole call per fragment), arguments as an object, content as a list
    of parts, `finish_reason` outside OpenAI's list."""

    def bent(fragment: ChoiceDeltaToolCall, arguments: Any = None) -> dict[str, Any]:
        chunk = _chunk(_delta(tool_calls=[fragment]))
        raw = chunk["choices"][0]["delta"]["tool_calls"][0]
        del raw["index"]
        if arguments is not None:
            raw["function"]["arguments"] = arguments
        return chunk

    parts = _chunk(_delta(content="x"))
    parts["choices"][0]["delta"]["content"] = [{"type": "text", "text": "Checking. "}]
    finish = _chunk(None, "stop")
    finish["choices"][0]["finish_reason"] = "abort"
    events = [
        parts,
        bent(_fragment(0, "", id="call_1", name="weather"), {"city": "Paris"}),
        bent(_fragment(0, '{"tz": "CET"}', id="call_2", name="clock")),
        finish,
    ]
    body = b"".join(_sse(event) for event in [*events, "[DONE]"])

    async def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        provider = OpenAIProvider("http://fake/v1", None, client=client)
        deltas, final = await _collect(provider, _request())
    assert deltas == ["Checking. "]
    calls = [(c.id, c.name, json.loads(c.arguments)) for c in final.message.tool_calls]
    assert calls == [("call_1", "weather", {"city": "Paris"}), ("call_2", "clock", {"tz": "CET"})]
    assert final.finish_reason == "abort"


async def test_images_and_files_reach_the_wire_as_openai_parts(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    call = ToolCall(id="call_1", name="screenshot")
    shot = Message.tool(call, [ImagePart(data=PIXEL_PNG), TextPart("the screen")])
    messages = [vision_message(), Message.assistant(None, [call]), shot]
    await provider.chat(ChatRequest(model="plain", messages=messages))

    sent = fake.requests[0].body["messages"]
    assert sent[0] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "What do these show?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL_B64}"}},
            {"type": "image_url", "image_url": {"url": IMAGE_URL}},
            {
                "type": "file",
                "file": {
                    "filename": "report.pdf",
                    "file_data": f"data:application/pdf;base64,{PDF_B64}",
                },
            },
        ],
    }
    TypeAdapter(ChatCompletionUserMessageParam).validate_python(sent[0])  # the SDK's own shape
    # Tool messages take text only: the image is named, as MCP results always were.
    assert sent[2]["content"] == f"[image: image/png, {len(PIXEL_PNG)} bytes]\nthe screen"

    by_url = Message.user([FilePart(url="https://example.com/a.pdf")])
    with pytest.raises(UnsupportedContent, match="inline"):
        await provider.chat(ChatRequest(model="plain", messages=[by_url]))
    assert fake.count() == 1  # refused before anything was sent
