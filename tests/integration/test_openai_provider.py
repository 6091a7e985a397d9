"""`OpenAIProvider` against a real local HTTP server that speaks the OpenAI wire protocol:
JSON and SSE answers, tool calls split across chunks, usage, 429/500/400, unreadable bodies,
stalled and slow-but-steady streams, embeddings. The server counts every request."""

from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bosun.agents.errors import ProviderError, ProviderRateLimited, ProviderTimeout
from bosun.agents.messages import ChatRequest, ChatResponse, Message, StreamDelta, ToolSpec
from bosun.agents.openai import OpenAIProvider
from bosun.agents.pricing import load_models, provider_for
from bosun.agents.structured import validate
from tests.helpers.wait import wait_until

pytestmark = pytest.mark.timeout(30)

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
IDLE = 1.0  # the idle timeout the timing tests use
GAP = IDLE / 10  # between the pieces of a slow answer: well within IDLE, even on a busy machine
USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 3,
    "total_tokens": 15,
    "prompt_tokens_details": {"cached_tokens": 4},
}
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


def _completion(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "fake-model-2024",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": USAGE,
    }


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-2",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model-2024",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _sse(event: dict[str, Any] | str) -> bytes:
    data = event if isinstance(event, str) else json.dumps(event)
    return f"data: {data}\n\n".encode()


def _call(index: int, arguments: str, **first: str) -> dict[str, Any]:
    """A tool-call fragment; `first` (id and name) only in a call's first fragment."""
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if first:
        fragment.update(id=first["id"], type="function")
        fragment["function"]["name"] = first["name"]
    return {"tool_calls": [fragment]}


TEXT_CHUNKS = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Hel"}),
    _chunk({"content": "lo"}),
    _chunk({"content": " there"}),
    _chunk({}, "stop"),
]
TOOL_CHUNKS = [
    _chunk({"role": "assistant", "content": None, **_call(0, "", id="call_a", name="weather")}),
    _chunk(_call(0, '{"ci')),
    _chunk(_call(1, '{"tz":', id="call_b", name="clock")),
    _chunk(_call(0, 'ty": "Paris"}')),
    _chunk(_call(1, ' "CET"}')),
    _chunk({}, "tool_calls"),
]
USAGE_CHUNK = {"id": "chatcmpl-2", "choices": [], "usage": USAGE}


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
            error = {"error": {"message": message, "type": "x", "code": None}}
            return JSONResponse(error, status_code=status, headers=headers)
        if model == "not-json":
            return Response("<html>502 bad gateway</html>", media_type="text/html")
        if body.get("stream"):
            return StreamingResponse(self._events(model), media_type="text/event-stream")
        return await self._complete(model)

    async def _complete(self, model: str) -> Response:
        if model == "tools":
            calls = [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                },
            ]
            return JSONResponse(
                _completion(
                    {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
                )
            )
        if model == "malformed-content":
            return JSONResponse(_completion({"role": "assistant", "content": MALFORMED_CONTENT}))
        if model == "no-choices":
            return JSONResponse({"id": "x", "object": "chat.completion", "choices": []})
        if model == "stall":
            await self._stall()
            return JSONResponse(_completion({"role": "assistant", "content": "late"}))
        if model == "slow":
            return StreamingResponse(self._drip(), media_type="application/json")
        return JSONResponse(_completion({"role": "assistant", "content": "Hello there"}))

    async def _drip(self) -> AsyncIterator[bytes]:
        """A JSON body sent in pieces, each well within the idle timeout."""
        text = json.dumps(_completion({"role": "assistant", "content": "slow but sure"}))
        size = len(text) // 12 + 1  # 12 pieces: more than IDLE in all
        for start in range(0, len(text), size):
            await asyncio.sleep(GAP)
            yield text[start : start + size].encode()

    async def _events(self, model: str) -> AsyncIterator[bytes]:
        if model == "tools":
            for event in [*TOOL_CHUNKS, USAGE_CHUNK, "[DONE]"]:
                yield _sse(event)
        elif model == "stall":
            for event in TEXT_CHUNKS[:3]:
                yield _sse(event)
            await self._stall()
        elif model == "slow":
            for word in ["one", " two", " three", " four", " five", " six"] * 2:
                await asyncio.sleep(GAP)
                yield _sse(_chunk({"content": word}))
            for event in [_chunk({}, "stop"), USAGE_CHUNK, "[DONE]"]:
                yield _sse(event)
        elif model == "error-mid-stream":
            yield _sse(TEXT_CHUNKS[1])
            yield _sse({"error": {"message": "the model crashed", "code": 500}})
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

    async def embeddings(self, request: Request) -> Response:
        body = await self._record(request)
        data = [
            {"object": "embedding", "index": i, "embedding": [float(i), 0.5, -1.0]}
            for i in range(len(body["input"]))
        ]
        usage = {"prompt_tokens": 9, "total_tokens": 9}
        return JSONResponse(
            {"object": "list", "data": data[::-1], "model": body["model"], "usage": usage}
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    app = Starlette(
        routes=[
            Route(CHAT, fake.chat, methods=["POST"]),
            Route(EMBEDDINGS, fake.embeddings, methods=["POST"]),
        ]
    )
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-openai", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake OpenAI server did not start")
        time.sleep(0.01)
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        fake.release.set()
        server.should_exit = True
        thread.join(10)


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
    deltas: list[str] = []
    final: list[ChatResponse] = []
    async with aclosing(provider.stream(request, idle_timeout=idle_timeout)) as stream:
        async for item in stream:
            if isinstance(item, StreamDelta):
                assert not final, "a delta came after the final response"
                deltas.append(item.text)
            else:
                final.append(item)
    assert len(final) == 1
    return deltas, final[0]


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
    async with OpenAIProvider(f"http://127.0.0.1:{_free_port()}/v1", None) as provider:
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
        return httpx.Response(200, json=_completion({"role": "assistant", "content": "whole"}))

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
