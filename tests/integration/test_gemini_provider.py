"""`GeminiProvider` against a real local HTTP server that speaks the Gemini API on the wire
(tests/helpers/fake_gemini.py: every answer built with the `google-genai` package's own
types): JSON and SSE answers, thought parts and thought signatures, parallel function calls
with and without ids, blocked prompts, safety and recitation stops, cut answers, 429 with a
`RetryInfo` or `Retry-After`, 503, error chunks mid-stream, stalls; through `ctx.llm` and
`bosun.Agent` in durable workflows on SQLite: deltas published as events, signatures passed
back in the tool loop, a rate-limited then overloaded model retried durably, and replays that
make no second call; and models named without an alias (`gemini-2.5-flash`, `google:…`). The
server counts every request."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any
from unittest.mock import ANY

import pytest
from google.genai.types import Content, GenerateContentResponse
from pydantic import BaseModel

import bosun
from bosun.agents.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    UnsupportedContent,
)
from bosun.agents.gemini import GeminiOptions, GeminiProvider, load_sdk, request_params
from bosun.agents.messages import (
    ChatRequest,
    ImagePart,
    Message,
    ReasoningBlock,
    StreamDelta,
    ToolSpec,
    Usage,
)
from bosun.agents.pricing import ModelConfig, config_for_name
from bosun.errors import ConfigurationError
from tests.helpers.fake_gemini import (
    ANSWER_SIGNATURE,
    FINAL_THOUGHT,
    PARALLEL,
    SIGNATURE,
    THOUGHT,
    FakeGemini,
    serve_gemini,
    wire,
)
from tests.helpers.media import IMAGE_URL, PDF, PIXEL_PNG, vision_message
from tests.helpers.providers import collect, suspended
from tests.helpers.serving import free_port
from tests.helpers.wait import wait_until
from tests.unit.test_model_names import MODEL_VARIABLES

pytestmark = pytest.mark.timeout(60)

WEATHER = ToolSpec(
    name="weather",
    description="Weather of a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
CLOCK = ToolSpec(
    name="clock", parameters={"type": "object", "properties": {"tz": {"type": "string"}}}
)
USAGE = Usage(prompt_tokens=12, completion_tokens=14, cached_tokens=4)  # 9 + 5 thoughts


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def urlsafe(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode()


@pytest.fixture(scope="module")
def served() -> Iterator[FakeGemini]:
    with serve_gemini() as fake:
        yield fake


@pytest.fixture
def fake(served: FakeGemini) -> Iterator[FakeGemini]:
    served.requests.clear()
    served.release.clear()
    yield served
    served.release.set()  # this test's stalled answers end


@pytest.fixture
async def provider(fake: FakeGemini) -> AsyncIterator[GeminiProvider]:
    async with GeminiProvider("gm-test-key", base_url=fake.url) as provider:
        yield provider


def _request(model: str = "gemini-plain", **kwargs: Any) -> ChatRequest:
    kwargs.setdefault("messages", [Message.system("Be brief."), Message.user("Hi")])
    return ChatRequest(model=model, **kwargs)


# -- requests and answers ---------------------------------------------------------------------


async def test_chat_sends_a_generate_content_request_and_reads_the_answer(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    request = _request(
        tools=[WEATHER, CLOCK],
        tool_choice="weather",
        temperature=0.2,
        max_tokens=50,
        extra={
            "top_k": 5,  # a config field, by its snake name
            "thinkingConfig": {"includeThoughts": True},  # and by its camel one
            "cachedContent": None,
            "someNewField": {"on": True},  # not the SDK's: sent in the body as written
        },
    )
    response = await provider.chat(request)

    assert response.message == Message(role="assistant", content="Hello there")
    assert response.usage == USAGE  # cached input inside the prompt, thoughts in the output
    assert (response.finish_reason, response.model, response.raw_id) == (
        "stop",
        "gemini-plain-001",
        "resp-7Hq2fA",
    )
    assert fake.count() == 1  # the SDK retries nothing
    [sent] = fake.requests
    assert (sent.model, sent.method) == ("gemini-plain", "generateContent")
    assert sent.path == "/v1/models/gemini-plain:generateContent"
    assert sent.headers["x-goog-api-key"] == "gm-test-key"
    # The call's idle timeout is the client's read timeout, not a cap on the whole call.
    assert "x-server-timeout" not in sent.headers
    assert "x-bosun-idle-timeout" not in sent.headers
    body = sent.body
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]
    [declarations] = [tool["functionDeclarations"] for tool in body["tools"]]
    assert [d["name"] for d in declarations] == ["weather", "clock"]
    assert declarations[0]["description"] == "Weather of a city."
    schemas = [d.get("parametersJsonSchema", d.get("parameters_json_schema")) for d in declarations]
    assert schemas == [WEATHER.parameters, CLOCK.parameters]  # as written, not rewritten
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}
    }
    generation = body["generationConfig"]
    # The SDK writes nested fields by their Python names, which the API reads too (proto JSON).
    assert generation.pop("thinkingConfig") in (
        {"includeThoughts": True},
        {"include_thoughts": True},
    )
    assert generation == {"temperature": 0.2, "maxOutputTokens": 50, "topK": 5}
    assert body["someNewField"] == {"on": True}


def test_tool_choices_schemas_and_limits() -> None:
    def config(**kwargs: Any) -> dict[str, Any]:
        params = request_params(_request(tools=[WEATHER], **kwargs))
        return dict(params["config"])

    def mode(choice: str) -> Any:
        return config(tool_choice=choice)["tool_config"]["function_calling_config"]

    assert mode("required") == {"mode": "ANY"}
    assert mode("auto") == {"mode": "AUTO"}
    assert mode("none") == {"mode": "NONE"}
    assert "tool_config" not in request_params(_request(tool_choice="auto"))["config"]
    assert "max_output_tokens" not in config()  # the model's own default
    assert config(extra={"max_tokens": 900})["max_output_tokens"] == 900  # a body default
    assert config(max_tokens=64, extra={"max_output_tokens": 900})["max_output_tokens"] == 64
    # Bosun runs the tools and makes one request per call: the SDK's loops are off.
    assert config()["automatic_function_calling"] == {"disable": True}
    assert config()["automatic_continuation"] is False
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    structured = config(response_schema=schema)
    assert structured["response_mime_type"] == "application/json"
    assert structured["response_json_schema"] == schema
    off = request_params(_request(response_schema=schema), GeminiOptions(json_schema=False))
    assert "response_json_schema" not in off["config"]


async def test_an_invalid_config_fails_without_a_request(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    with pytest.raises(ProviderError, match="not a valid Gemini config") as caught:
        await provider.chat(_request(extra={"temperature": "warm"}))
    assert not caught.value.retryable
    assert fake.count() == 0


async def test_stream_yields_thoughts_and_text_then_parallel_function_calls(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    request = _request("gemini-tools", tools=[WEATHER, CLOCK])
    deltas, final = await collect(provider, request)

    assert "".join(d.reasoning for d in deltas) == THOUGHT
    assert "".join(d.text for d in deltas) == "Let me check both."
    assert all(not (d.text and d.reasoning) for d in deltas)
    assert len(deltas) > 3  # piece by piece, as the server streamed them
    assert final.finish_reason == "tool_calls"  # Gemini says STOP
    calls = final.message.tool_calls
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        (c.name, c.args) for c in PARALLEL
    ]
    # No ids from the API: made from the answer's id and the position, distinct and stable.
    assert len({c.id for c in calls}) == 2
    assert all(c.id.startswith("gemini-call-") for c in calls)
    # Gemini signs the first call of a parallel set only.
    assert [c.signature for c in calls] == [b64(SIGNATURE), None]
    assert final.message.reasoning == THOUGHT
    assert final.message.reasoning_blocks == [ReasoningBlock(text=THOUGHT, provider="gemini")]
    assert final.usage == USAGE
    [sent] = fake.requests
    assert (sent.method, sent.query) == ("streamGenerateContent", {"alt": "sse"})
    whole = await provider.chat(request)
    assert whole.message == final.message  # the same ids, so the same replay


async def test_signatures_go_back_where_gemini_put_them(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    """A thinking model's tool loop fails unless each function call goes back with the
    signature it came with; a turn's results go back in one user turn, in order."""
    first = _request("gemini-tools", tools=[WEATHER, CLOCK])
    _, turn = await collect(provider, first)
    results = [Message.tool(call, f"result {call.name}") for call in turn.message.tool_calls]
    again = [*first.messages, turn.message, *results]
    _, answer = await collect(provider, first.model_copy(update={"messages": again}))

    assert answer.message.content == "Sunny in Paris; it is 14:00 CET."
    assert answer.message.reasoning == FINAL_THOUGHT
    assert answer.message.reasoning_blocks == [
        ReasoningBlock(text=FINAL_THOUGHT, provider="gemini"),
        ReasoningBlock(
            signature=b64(ANSWER_SIGNATURE), provider="gemini"
        ),  # the answer's, from its last chunk
    ]
    sent = fake.requests[1].body["contents"]
    assert [c["role"] for c in sent] == ["user", "model", "user"]
    assert sent[1]["parts"] == [  # the unsigned thought (a summary) stays out
        {"text": "Let me check both."},
        {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": ANY},
        {"functionCall": {"name": "clock", "args": {"tz": "CET"}}},
    ]
    assert base64.urlsafe_b64decode(sent[1]["parts"][1]["thoughtSignature"]) == SIGNATURE
    assert sent[2]["parts"] == [
        {"functionResponse": {"name": "weather", "response": {"output": "result weather"}}},
        {"functionResponse": {"name": "clock", "response": {"output": "result clock"}}},
    ]
    # The final answer goes back with its signature on its text.
    later = [*again, answer.message, Message.user("Thanks")]
    await provider.chat(first.model_copy(update={"messages": later}))
    [text] = fake.requests[2].body["contents"][3]["parts"]
    assert text["text"] == "Sunny in Paris; it is 14:00 CET."
    assert base64.urlsafe_b64decode(text["thoughtSignature"]) == ANSWER_SIGNATURE


async def test_ids_the_api_gives_are_kept_and_sent_back(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    turn = await provider.chat(_request("gemini-call-ids", tools=[WEATHER, CLOCK]))
    assert [c.id for c in turn.message.tool_calls] == ["fc-0", "fc-1"]
    results = [Message.tool(call, "error: no such city") for call in turn.message.tool_calls]
    await provider.chat(_request(messages=[Message.user("Hi"), turn.message, *results]))
    model, answers = fake.requests[1].body["contents"][1:]
    assert [p["functionCall"]["id"] for p in model["parts"]] == ["fc-0", "fc-1"]
    assert [p["functionResponse"] for p in answers["parts"]] == [
        {"id": "fc-0", "name": "weather", "response": {"error": "no such city"}},
        {"id": "fc-1", "name": "clock", "response": {"error": "no such city"}},
    ]


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(
    ("model", "finish", "content"),
    [
        ("gemini-blocked", "content_filter", ""),  # the prompt: no candidate at all
        ("gemini-safety", "content_filter", "Here is how"),
        ("gemini-recitation", "content_filter", "It was the best of times"),
        ("gemini-truncated", "length", '{"city": "Par'),
    ],
)
async def test_filtered_and_cut_answers_are_told_apart(
    provider: GeminiProvider, model: str, finish: str, content: str, streamed: bool
) -> None:
    if streamed:
        _, answer = await collect(provider, _request(model))
    else:
        answer = await provider.chat(_request(model))
    assert (answer.finish_reason, answer.message.content, answer.refusal) == (
        finish,
        content,
        None,
    )


async def test_a_malformed_function_call_is_retryable(provider: GeminiProvider) -> None:
    with pytest.raises(ProviderError, match="MALFORMED_FUNCTION_CALL") as caught:
        await provider.chat(_request("gemini-malformed", tools=[WEATHER]))
    assert caught.value.retryable


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(
    ("model", "status", "retry_after", "says"),
    [
        ("gemini-rate-limited", 429, 7, "RESOURCE_EXHAUSTED: You exceeded your current quota"),
        ("gemini-retry-after", 429, 3, "RESOURCE_EXHAUSTED"),
        ("gemini-overloaded", 503, None, "UNAVAILABLE \\(the model is overloaded\\)"),
    ],
)
async def test_429_and_503_are_retryable_with_their_hints(
    fake: FakeGemini,
    provider: GeminiProvider,
    model: str,
    status: int,
    retry_after: float | None,
    says: str,
    streamed: bool,
) -> None:
    with pytest.raises(ProviderRateLimited, match=says) as caught:
        if streamed:
            await collect(provider, _request(model))
        else:
            await provider.chat(_request(model))
    error = caught.value
    assert error.retryable and error.status == status
    assert error.retry_after == retry_after  # RetryInfo's retryDelay, or Retry-After
    assert fake.count() == 1  # the provider never retries by itself


@pytest.mark.parametrize(
    ("model", "status", "retryable", "message"),
    [
        ("gemini-broken", 500, True, "500 INTERNAL: An internal error"),
        ("gemini-bad-request", 400, False, "400 INVALID_ARGUMENT: Please ensure"),
        ("gemini-bad-key", 400, False, r"API key not valid.*\$GEMINI_API_KEY or \$GOOGLE_API"),
        ("gemini-forbidden", 403, False, "lack access to this model"),
    ],
)
async def test_other_errors_say_whether_to_retry(
    fake: FakeGemini,
    provider: GeminiProvider,
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


async def test_an_error_chunk_in_the_middle_of_a_stream_is_retryable(
    provider: GeminiProvider,
) -> None:
    deltas: list[StreamDelta] = []
    with pytest.raises(ProviderRateLimited, match="503 UNAVAILABLE") as caught:
        async with aclosing(provider.stream(_request("gemini-overloaded-mid-stream"))) as stream:
            async for item in stream:
                assert isinstance(item, StreamDelta)
                deltas.append(item)
    assert deltas and "Hello there".startswith("".join(d.text for d in deltas))
    assert caught.value.retryable and caught.value.status == 503


async def test_a_stream_cut_short_is_retryable(provider: GeminiProvider) -> None:
    with pytest.raises(ProviderError, match="before it finished") as caught:
        await collect(provider, _request("gemini-cut-short"))
    assert caught.value.retryable


async def test_a_stalled_stream_fails_after_the_idle_timeout(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    with pytest.raises(ProviderTimeout, match=r"sent nothing for 1 s") as caught:
        await collect(provider, _request("gemini-stall"), idle_timeout=1.0)
    assert caught.value.retryable and isinstance(caught.value, TimeoutError)
    assert fake.count() == 1


async def test_an_unreachable_server_is_retryable() -> None:
    async with GeminiProvider("k", base_url=f"http://127.0.0.1:{free_port()}") as provider:
        with pytest.raises(ProviderError, match="could not be reached") as caught:
            await provider.chat(_request())
    assert caught.value.retryable and caught.value.status is None


async def test_no_key_anywhere_fails_without_retrying(
    monkeypatch: pytest.MonkeyPatch, fake: FakeGemini
) -> None:
    """A provider given no key leaves it to the SDK, which finds none in the environment."""
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    async with GeminiProvider(base_url=fake.url) as provider:
        with pytest.raises(ProviderError, match="set GEMINI_API_KEY or GOOGLE_API_KEY") as caught:
            await provider.chat(_request())
    assert not caught.value.retryable
    assert fake.count() == 0


def test_a_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.genai", None)  # imports of it now fail
    with pytest.raises(ConfigurationError, match=r"pip install 'bosun\[gemini\]'"):
        load_sdk()


def test_import_bosun_does_not_load_the_sdk() -> None:
    import subprocess

    probe = "import bosun, bosun.agents.registry, sys; print('google.genai' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_payloads_are_the_sdk_types() -> None:
    """What the fake server sends reads back as the SDK's own response type."""
    fake = FakeGemini()
    reply = fake.reply("gemini-tools", {"contents": [{"role": "user", "parts": []}]})
    response = GenerateContentResponse.model_validate(
        wire(fake._response("gemini-tools", reply, reply.parts, final=True))
    )
    assert response.function_calls == PARALLEL
    assert response.candidates and response.candidates[0].content
    assert response.candidates[0].content.parts
    assert response.candidates[0].content.parts[2].thought_signature == SIGNATURE


# -- through ctx.llm and bosun.Agent ----------------------------------------------------------


@pytest.fixture
async def made() -> AsyncIterator[list[GeminiProvider]]:
    """The providers a test made for its apps, closed on the test's own event loop."""
    providers: list[GeminiProvider] = []
    yield providers
    for provider in providers:
        await provider.aclose()


def _wire_app(
    tmp_path: Any, fake: FakeGemini, made: list[GeminiProvider], model: str, **config: Any
) -> bosun.App:
    app = bosun.App("wire", database=f"sqlite:///{tmp_path / 'wire.db'}")
    settings = ModelConfig(alias="default", provider="gemini", model=model, **config)
    made.append(GeminiProvider("gm-test-key", base_url=fake.url))
    app.models.register("default", made[-1], settings)
    return app


async def test_ctx_llm_over_the_wire_is_called_once_and_replayed(
    fake: FakeGemini, tmp_path: Any, made: list[GeminiProvider]
) -> None:
    app = _wire_app(tmp_path, fake, made, "gemini-plain")

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        answer = await ctx.llm.chat("hi")
        await ctx.wait_for_signal("go")  # the run replays from the top after this
        return answer.message.content or ""

    async with app, app.worker():
        handle = await app.start(ask)
        await suspended(handle)
        assert fake.count() == 1
        await handle.signal("go")
        assert await handle.result(timeout=20) == "Hello there"
    assert fake.count() == 1
    assert fake.requests[0].method == "streamGenerateContent"  # the idle timeout is progress


async def test_rate_limited_then_overloaded_is_retried_durably_after_the_hints(
    fake: FakeGemini, tmp_path: Any, made: list[GeminiProvider]
) -> None:
    """429 with `retryDelay: 1s`, then 503 with `Retry-After: 1`: the provider raises at once,
    bosun's retry waits on a durable timer (holding no worker) and calls again."""
    app = _wire_app(tmp_path, fake, made, "gemini-flaky")

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hi")).message.content or ""

    async with app, app.worker():
        handle = await app.start(ask)
        assert await handle.result(timeout=40) == "Hello there"
        journal = await app.store.get_journal(handle.run_id)
        events = [e.type for e in await app.store.list_events(handle.run_id)]
    assert fake.count() == 3
    [llm] = [e for e in journal if e.kind == "llm"]
    assert llm.status == "completed" and llm.attempt == 3
    assert events.count("step.retrying") == 2


@pytest.mark.parametrize(
    ("model", "error", "says"),
    [
        ("gemini-blocked", "ContentFiltered", "content filter withheld the answer"),
        ("gemini-safety", "ContentFiltered", "content filter withheld the answer: 'Here is"),
        ("gemini-truncated", "OutputTruncated", "cut off at the token limit"),
    ],
)
async def test_filtered_and_cut_answers_raise_once_without_retrying(
    fake: FakeGemini,
    tmp_path: Any,
    model: str,
    error: str,
    says: str,
    made: list[GeminiProvider],
) -> None:
    class City(BaseModel):
        city: str

    app = _wire_app(tmp_path, fake, made, model)

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> City:
        return await ctx.llm.structured(City, "Which city?")

    async with app, app.worker():
        handle = await app.start(ask)
        with pytest.raises(bosun.RunFailed) as failed:
            await handle.result(timeout=20)
    assert failed.value.error["type"].endswith(error), failed.value.error
    assert says in failed.value.error["message"]
    assert fake.count() == 1
    sent = fake.requests[0].body["generationConfig"]
    assert sent["responseMimeType"] == "application/json"
    assert sent["responseJsonSchema"]["properties"]["city"]["type"] == "string"


async def test_an_agent_streams_thinks_calls_tools_in_parallel_and_passes_signatures_back(
    fake: FakeGemini, tmp_path: Any, made: list[GeminiProvider]
) -> None:
    prices = {"input_per_million": 1, "output_per_million": 5, "cached_input_per_million": 0.1}
    app = _wire_app(tmp_path, fake, made, "gemini-tools", **prices)

    def weather(city: str) -> str:
        """The weather of a city."""
        return f"sunny in {city}"

    def clock(tz: str) -> str:
        """The time in a time zone."""
        return f"14:00 {tz}"

    agent = bosun.Agent(tools=[weather, clock], system="Be brief.")

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        await ctx.wait_for_signal("go")
        answer: str = await agent.run(ctx, "Weather in Paris, and the time?")
        await ctx.wait_for_signal("done")  # the agent's loop replays from the journal
        return answer

    async with app, app.worker():
        handle = await app.start(ask)
        await suspended(handle)
        queue = app.store.notifier.subscribe(handle.run_id)
        await handle.signal("go")

        async def answered() -> bool:  # the agent's two calls made, the run waiting again
            return fake.count() == 2 and (await handle.status()).status == "suspended"

        await wait_until(answered, 30, "the agent to answer and wait for `done`")
        await handle.signal("done")
        assert await handle.result(timeout=30) == "Sunny in Paris; it is 14:00 CET."
        journal = await app.store.get_journal(handle.run_id)
    assert fake.count() == 2  # the replay called nothing
    published: dict[str, str] = {}
    while not queue.empty():
        kind, data = queue.get_nowait()
        published[kind] = published.get(kind, "") + json.loads(data).get("text", "")
    assert published["llm.reasoning.delta"] == THOUGHT + FINAL_THOUGHT
    assert published["llm.delta"] == "Let me check both." + "Sunny in Paris; it is 14:00 CET."

    calls = [e for e in journal if e.kind == "llm"]
    assert len(calls) == 2
    first = json.loads(calls[0].output)
    assert [c["signature"] for c in first["response"]["message"]["tool_calls"]] == [
        b64(SIGNATURE),
        None,
    ]
    # 8 uncached input tokens at 1, 4 cached at 0.1, 14 output (thoughts included) at 5.
    assert first["cost"] == pytest.approx((8 * 1 + 4 * 0.1 + 14 * 5) / 1e6)
    tools = [e.name for e in journal if e.kind == "tool"]
    assert sorted(tools) == ["tool:clock", "tool:weather"]
    second = fake.requests[1].body
    assert second["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    signed = second["contents"][1]["parts"][1]
    assert signed["functionCall"]["name"] == "weather"
    assert base64.urlsafe_b64decode(signed["thoughtSignature"]) == SIGNATURE
    answers = [p["functionResponse"] for p in second["contents"][2]["parts"]]
    assert answers == [
        {"name": "weather", "response": {"output": "sunny in Paris"}},
        {"name": "clock", "response": {"output": "14:00 CET"}},
    ]


# -- models named without an alias ------------------------------------------------------------

GEMINI_VARIABLES = (*MODEL_VARIABLES, "GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL")


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in GEMINI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_gemini_names_and_their_prices() -> None:
    flash = config_for_name("gemini-2.5-flash", {"GEMINI_API_KEY": "k"})
    assert (flash.provider, flash.model, flash.api_key_env, flash.base_url) == (
        "gemini",
        "gemini-2.5-flash",
        "GEMINI_API_KEY",
        None,
    )
    assert (flash.input_per_million, flash.output_per_million) == (0.30, 2.50)
    assert (flash.cached_input_per_million, flash.context_tokens) == (0.03, 1_048_576)
    google = config_for_name("google:gemini-2.5-pro", {"GOOGLE_API_KEY": "k"})
    assert (google.provider, google.model, google.api_key_env) == (
        "gemini",
        "gemini-2.5-pro",
        "GOOGLE_API_KEY",  # GEMINI_API_KEY is not set: the SDK's other variable
    )
    local = config_for_name("gemini:gemini-x", {"GOOGLE_GEMINI_BASE_URL": "http://g"})
    assert (local.name, local.api_key_env, local.base_url) == (
        "gemini:gemini-x",
        "GEMINI_API_KEY",
        "http://g",
    )
    assert local.input_per_million == 0  # not in the table
    # A BOSUN_MODELS entry: `gemini-…` with no base URL is Gemini's; with one, a server's.
    entry = ModelConfig(alias="g", model="gemini-2.0-flash")
    assert (entry.provider, entry.api_key_env) == ("gemini", "GEMINI_API_KEY")
    compatible = ModelConfig(alias="g", model="gemini-2.0-flash", base_url="http://proxy/v1")
    assert compatible.provider == "openai"


async def test_plain_gemini_names_need_no_alias(
    environ: pytest.MonkeyPatch, fake: FakeGemini, tmp_path: Any
) -> None:
    environ.setenv("GEMINI_API_KEY", "gm-plain")
    environ.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
    app = bosun.App("names", database=f"sqlite:///{tmp_path / 'names.db'}")
    agent = bosun.Agent(model="google:gemini-agent", system="Be brief.")

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> list[str]:
        plain = await ctx.llm.chat("hi", model="gemini-2.5-flash")
        answer: str = await agent.run(ctx, "hi")
        return [plain.message.content or "", answer]

    async with app, app.worker():
        handle = await app.start(ask)
        assert await handle.result(timeout=30) == ["Hello there", "Hello there"]
        journal = await app.store.get_journal(handle.run_id)
    await app.models.aclose()  # the providers made from names, on this test's loop
    names = [e.name for e in journal if e.kind == "llm"]
    assert names == ["llm:gemini-2.5-flash", "llm:google:gemini-agent"]
    assert [r.model for r in fake.requests] == ["gemini-2.5-flash", "gemini-agent"]
    assert {r.headers["x-goog-api-key"] for r in fake.requests} == {"gm-plain"}
    priced = json.loads(next(e for e in journal if e.kind == "llm").output)
    assert priced["cost"] == pytest.approx((8 * 0.30 + 4 * 0.03 + 14 * 2.50) / 1e6)


async def test_google_api_key_serves_when_gemini_api_key_is_not_set(
    environ: pytest.MonkeyPatch, fake: FakeGemini, tmp_path: Any
) -> None:
    environ.setenv("GOOGLE_API_KEY", "gm-google")
    environ.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
    app = bosun.App("names", database=f"sqlite:///{tmp_path / 'names.db'}")
    app.models.define("fast", "gemini:gemini-fast")  # checked when the worker starts

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hi", model="fast")).message.content or ""

    try:
        async with app, app.worker():
            handle = await app.start(ask)
            assert await handle.result(timeout=30) == "Hello there"
    finally:
        await app.models.aclose()
    [sent] = fake.requests
    assert (sent.model, sent.headers["x-goog-api-key"]) == ("gemini-fast", "gm-google")


async def test_a_gemini_model_without_a_key_fails_the_worker_start(
    environ: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    environ.setenv("BOSUN_MODELS", '{"fast": {"model": "gemini-2.5-flash"}}')
    app = bosun.App("names", database=f"sqlite:///{tmp_path / 'names.db'}")
    with pytest.raises(
        ConfigurationError, match=r"\$GEMINI_API_KEY, which is not set; set it \(or \$GOOGLE_API"
    ):
        async with app, app.worker():
            pass


async def test_a_gemini_name_without_a_key_fails_its_call_at_once(
    environ: pytest.MonkeyPatch, fake: FakeGemini, tmp_path: Any
) -> None:
    app = bosun.App("names", database=f"sqlite:///{tmp_path / 'names.db'}")

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hi", model="gemini:gemini-plain")).message.content or ""

    async with app, app.worker():
        handle = await app.start(ask)
        with pytest.raises(bosun.RunFailed, match=r"\$GEMINI_API_KEY, which is not set"):
            await handle.result(timeout=30)
        journal = await app.store.get_journal(handle.run_id)
    [call] = [e for e in journal if e.kind == "llm"]
    assert (call.status, call.attempt) == ("failed", 1)
    assert fake.count() == 0


async def test_images_and_files_reach_the_wire_as_gemini_parts(
    fake: FakeGemini, provider: GeminiProvider
) -> None:
    await provider.chat(_request(messages=[vision_message()]))

    # As the SDK writes parts of its own types: inner fields in snake case (the API takes both
    # spellings) and bytes in URL-safe base64.
    [turn] = fake.requests[0].body["contents"]
    assert turn == {
        "role": "user",
        "parts": [
            {"text": "What do these show?"},
            {"inlineData": {"mime_type": "image/png", "data": urlsafe(PIXEL_PNG)}},
            {"fileData": {"file_uri": IMAGE_URL, "mime_type": "image/png"}},
            {"inlineData": {"mime_type": "application/pdf", "data": urlsafe(PDF)}},
        ],
    }
    Content.model_validate(turn)  # the SDK's own type

    drawing = Message.system([ImagePart(data=PIXEL_PNG)])
    with pytest.raises(UnsupportedContent, match="user messages only"):
        await provider.chat(_request(messages=[drawing, Message.user("Hi")]))
    assert fake.count() == 1  # refused before anything was sent
