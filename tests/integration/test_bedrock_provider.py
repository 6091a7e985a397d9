"""`BedrockProvider` against a real local HTTP server that speaks Bedrock's runtime API on the
wire (tests/helpers/fake_bedrock.py: JSON and AWS event-stream answers, every payload checked
against botocore's own service model), with real SigV4 signing from dummy credentials in the
environment: requests written as Converse wants them (checked against botocore's input shapes
too), streamed reasoning and text, parallel tool uses, reasoning (signed and redacted) passed
back, cache usage priced, stop reasons, throttling with `Retry-After`, other errors, error events
mid-stream, stalls, a missing region or credentials; and through `ctx.llm`, `bosun.Agent` and
plain model names in durable workflows on SQLite: deltas published, a throttled call retried
durably, filtered and cut answers raised once, and a replay that makes no second call. The
server counts every request."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.validate import ParamValidator
from pydantic import BaseModel

import bosun
from bosun.agents.bedrock import BedrockProvider, check_configuration, load_sdk
from bosun.agents.converse import CONVERSE_FIELDS, request_params
from bosun.agents.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    UnsupportedContent,
)
from bosun.agents.messages import (
    ChatRequest,
    FilePart,
    ImagePart,
    Message,
    ReasoningBlock,
    StreamDelta,
    TextPart,
    ToolCall,
    ToolSpec,
    Usage,
)
from bosun.agents.pricing import ModelConfig, config_for_name
from bosun.errors import ConfigurationError
from tests.helpers.fake_bedrock import (
    CONVERSE,
    FINAL_THOUGHT,
    PARALLEL,
    REDACTED,
    SIGNATURE,
    THOUGHT,
    FakeBedrock,
    encode_event,
    event,
    serve_bedrock,
)
from tests.helpers.media import IMAGE_URL, PDF, PIXEL_PNG, vision_message
from tests.helpers.providers import collect, suspended
from tests.helpers.serving import free_port
from tests.unit.test_model_names import MODEL_VARIABLES

pytestmark = pytest.mark.timeout(60)

HAIKU = "anthropic.claude-3-5-haiku-20241022-v1:0"
WEATHER = ToolSpec(
    name="weather",
    description="Weather of a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
CLOCK = ToolSpec(
    name="clock", parameters={"type": "object", "properties": {"tz": {"type": "string"}}}
)
_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Dummy credentials in the environment, and nothing else boto3 could find."""
    for name in (*_AWS_VARIABLES, *MODEL_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@pytest.fixture(scope="module")
def served() -> Iterator[FakeBedrock]:
    with serve_bedrock() as fake:
        yield fake


@pytest.fixture
def fake(served: FakeBedrock) -> Iterator[FakeBedrock]:
    served.requests.clear()
    served.release.clear()
    yield served
    served.release.set()  # this test's stalled answers end


@pytest.fixture
async def provider(fake: FakeBedrock) -> AsyncIterator[BedrockProvider]:
    async with BedrockProvider(region="us-east-1", endpoint_url=fake.url) as provider:
        yield provider


def _request(model: str = HAIKU, **kwargs: Any) -> ChatRequest:
    kwargs.setdefault("messages", [Message.system("Be brief."), Message.user("Hi")])
    return ChatRequest(model=model, **kwargs)


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _valid_request(params: dict[str, Any]) -> None:
    """`params` fit botocore's `ConverseRequest` (botocore checks them too, before sending)."""
    report = ParamValidator().validate(params, CONVERSE.input_shape)
    assert not report.has_errors(), report.generate_report()


# -- the wire format --------------------------------------------------------------------------


def test_the_event_encoder_round_trips_through_botocores_decoder() -> None:
    frames = encode_event({":event-type": "x", ":message-type": "event"}, b'{"a": 1}')
    frames += event("contentBlockDelta", {"delta": {"text": "Hi"}, "contentBlockIndex": 0})
    buffer = EventStreamBuffer()
    buffer.add_data(frames[:5])  # a frame may arrive in pieces
    assert list(buffer) == []
    buffer.add_data(frames[5:])
    first, second = list(buffer)  # the CRCs are checked as they are read
    assert first.headers == {":event-type": "x", ":message-type": "event"}
    assert first.payload == b'{"a": 1}'
    assert second.headers[":event-type"] == "contentBlockDelta"
    assert json.loads(second.payload) == {"delta": {"text": "Hi"}, "contentBlockIndex": 0}
    with pytest.raises(AssertionError, match="not a valid"):  # the fake serves valid shapes only
        event("contentBlockDelta", {"delta": {"text": "Hi"}})


# -- requests and answers ---------------------------------------------------------------------


async def test_chat_sends_a_signed_converse_request_and_reads_the_answer(
    fake: FakeBedrock, provider: BedrockProvider
) -> None:
    request = _request(
        tools=[WEATHER, CLOCK],
        tool_choice="weather",
        temperature=0.2,
        max_tokens=50,
        extra={"top_k": 5, "inferenceConfig": {"topP": 0.9}, "requestMetadata": {"app": "t"}},
    )
    response = await provider.chat(request)

    assert response.message == Message(role="assistant", content="Hello there")
    # inputTokens leaves the cache out; prompt_tokens holds reads and writes.
    assert response.usage == Usage(
        prompt_tokens=18, completion_tokens=9, cached_tokens=4, cache_write_tokens=2
    )
    assert (response.finish_reason, response.model, response.raw_id) == ("stop", HAIKU, "req-1")
    assert fake.count() == 1  # botocore retries nothing
    [sent] = fake.requests
    assert (sent.model, sent.operation) == (HAIKU, "converse")
    assert sent.headers["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"
    )  # SigV4, for this region and service
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert "bosun" in sent.headers["user-agent"]
    assert sent.body == {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 50, "temperature": 0.2, "topP": 0.9},
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "weather",
                        "description": "Weather of a city.",
                        "inputSchema": {"json": WEATHER.parameters},
                    }
                },
                {"toolSpec": {"name": "clock", "inputSchema": {"json": CLOCK.parameters}}},
            ],
            "toolChoice": {"tool": {"name": "weather"}},
        },
        "additionalModelRequestFields": {"top_k": 5},
        "requestMetadata": {"app": "t"},
    }


def test_tool_choices_max_tokens_and_extra_fields() -> None:
    def params(**kwargs: Any) -> dict[str, Any]:
        built = request_params(_request(tools=[WEATHER], **kwargs))
        _valid_request(built)
        return built

    assert params(tool_choice="required")["toolConfig"]["toolChoice"] == {"any": {}}
    assert params(tool_choice="auto")["toolConfig"]["toolChoice"] == {"auto": {}}
    assert "toolChoice" not in params()["toolConfig"]
    # Converse has no `none`: no tools, unless the conversation holds tool blocks already.
    assert "toolConfig" not in params(tool_choice="none")
    call = ToolCall(id="t1", name="weather", arguments='{"city": "Oslo"}')
    looped = [Message.user("a"), Message.assistant(None, [call]), Message.tool(call, "rain")]
    kept = params(tool_choice="none", messages=looped)["toolConfig"]
    assert "toolChoice" not in kept and kept["tools"][0]["toolSpec"]["name"] == "weather"
    assert "inferenceConfig" not in params()  # Converse needs no maxTokens
    assert params(extra={"max_tokens": 900})["inferenceConfig"] == {"maxTokens": 900}  # a default
    assert params(max_tokens=64, extra={"max_tokens": 900})["inferenceConfig"] == {"maxTokens": 64}
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    both = params(extra={**thinking, "additionalModelRequestFields": {"top_k": 3}})
    assert both["additionalModelRequestFields"] == {**thinking, "top_k": 3}
    # The fields extra= may name at the top are Converse's own.
    assert set(CONVERSE_FIELDS) <= set(CONVERSE.input_shape.members)


async def test_stream_yields_reasoning_and_text_then_parallel_tool_uses(
    fake: FakeBedrock, provider: BedrockProvider
) -> None:
    request = _request("test.tools-v1:0", tools=[WEATHER, CLOCK])
    deltas, final = await collect(provider, request)

    assert "".join(d.reasoning for d in deltas) == THOUGHT
    assert "".join(d.text for d in deltas) == "Let me check both."
    assert all(not (d.text and d.reasoning) for d in deltas)
    assert len(deltas) > 3  # piece by piece, as the server streamed them
    assert final.finish_reason == "tool_calls"
    calls = [(c.id, c.name, json.loads(c.arguments)) for c in final.message.tool_calls]
    assert calls == [(u["toolUseId"], u["name"], u["input"]) for u in _uses()]
    assert final.message.reasoning == THOUGHT
    assert final.message.reasoning_blocks == [
        ReasoningBlock(text=THOUGHT, signature=SIGNATURE, provider="bedrock")
    ]
    assert final.usage == Usage(
        prompt_tokens=18, completion_tokens=9, cached_tokens=4, cache_write_tokens=2
    )
    assert final.raw_id == "req-stream-1"
    assert fake.requests[0].operation == "converse-stream"
    whole = await provider.chat(request)
    assert whole.message == final.message
    assert fake.count() == 2


def _uses() -> list[dict[str, Any]]:
    return [block["toolUse"] for block in PARALLEL]


async def test_reasoning_goes_back_first_and_parallel_results_in_one_turn(
    fake: FakeBedrock, provider: BedrockProvider
) -> None:
    """Claude on Bedrock requires a thinking turn's signed reasoning back before its tool
    uses, and all the results of a turn in one user message."""
    first = _request("test.tools-v1:0", tools=[WEATHER, CLOCK])
    _, turn = await collect(provider, first)
    results = [Message.tool(call, f"result {call.name}") for call in turn.message.tool_calls]
    again = first.model_copy(update={"messages": [*first.messages, turn.message, *results]})
    _valid_request(request_params(again))
    _, answer = await collect(provider, again)

    assert answer.message.content == "Sunny in Paris; it is 14:00 CET."
    assert answer.message.reasoning == FINAL_THOUGHT
    sent = fake.requests[1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": THOUGHT, "signature": SIGNATURE}}},
        {"text": "Let me check both."},
        *PARALLEL,
    ]
    assert sent[2]["content"] == [
        {"toolResult": {"toolUseId": "tooluse_A1", "content": [{"text": "result weather"}]}},
        {"toolResult": {"toolUseId": "tooluse_B2", "content": [{"text": "result clock"}]}},
    ]
    assert fake.count() == 2


async def test_redacted_reasoning_is_kept_and_passed_back(
    fake: FakeBedrock, provider: BedrockProvider
) -> None:
    for streamed in (True, False):
        final = (
            (await collect(provider, _request("test.redacted-v1:0")))[1]
            if streamed
            else await provider.chat(_request("test.redacted-v1:0"))
        )
        assert final.message.reasoning_blocks == [
            ReasoningBlock(redacted=base64.b64encode(REDACTED).decode(), provider="bedrock"),
            ReasoningBlock(text="Then I answer.", signature=SIGNATURE, provider="bedrock"),
        ]
        assert final.message.reasoning == "Then I answer."
    again = [*_request().messages, final.message, Message.user("And?")]
    await provider.chat(_request(messages=again))
    assert fake.requests[2].body["messages"][1]["content"] == [
        {"reasoningContent": {"redactedContent": base64.b64encode(REDACTED).decode()}},
        {"reasoningContent": {"reasoningText": {"text": "Then I answer.", "signature": SIGNATURE}}},
        {"text": "Done."},
    ]


def test_reasoning_without_a_signature_is_not_sent_back() -> None:
    """Reasoning from another provider (DeepSeek's text) has no signature Claude would take."""
    other = Message.assistant("Earlier.").model_copy(
        update={"reasoning": "thoughts", "reasoning_blocks": [ReasoningBlock(text="thoughts")]}
    )
    params = request_params(_request(messages=[Message.user("a"), other, Message.user("b")]))
    assert params["messages"][1]["content"] == [{"text": "Earlier."}]


async def test_cache_reads_and_writes_are_counted_and_priced(provider: BedrockProvider) -> None:
    _, final = await collect(provider, _request("test.cache-v1:0"))
    assert final.usage == Usage(
        prompt_tokens=3050, completion_tokens=20, cached_tokens=2000, cache_write_tokens=1000
    )
    # A known model's prices: Bedrock's list prices, cache reads and writes included.
    config = config_for_name(f"bedrock:us.{HAIKU}", {})
    expected = (50 * 0.8 + 2000 * 0.08 + 1000 * 1.0 + 20 * 4) / 1_000_000
    assert config.cost(final.usage) == pytest.approx(expected)


async def test_stop_reasons_read_as_bosuns_finish_reasons(provider: BedrockProvider) -> None:
    for model, reason, content in [
        ("test.guardrail-v1:0", "content_filter", "Sorry, the model cannot answer this question."),
        ("test.filtered-v1:0", "content_filter", "I can"),
        ("test.truncated-v1:0", "length", '{"city": "Par'),
    ]:
        _, streamed = await collect(provider, _request(model))
        whole = await provider.chat(_request(model))
        for answer in (streamed, whole):
            assert (answer.finish_reason, answer.message.content) == (reason, content)
    for malformed in (provider.chat(_request("test.malformed-v1:0")),):
        with pytest.raises(ProviderError, match="malformed_tool_use") as caught:
            await malformed
        assert caught.value.retryable


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(
    ("model", "status", "retry_after"),
    [
        ("test.throttled-v1:0", 429, 7.0),
        ("test.unavailable-v1:0", 503, None),
        ("test.not-ready-v1:0", 429, None),
    ],
)
async def test_throttling_and_unavailable_are_retryable_with_their_hints(
    fake: FakeBedrock,
    provider: BedrockProvider,
    model: str,
    status: int,
    retry_after: float | None,
    streamed: bool,
) -> None:
    with pytest.raises(ProviderRateLimited) as caught:
        if streamed:
            await collect(provider, _request(model))
        else:
            await provider.chat(_request(model))
    error = caught.value
    assert (error.retryable, error.status, error.retry_after) == (True, status, retry_after)
    assert fake.count() == 1  # botocore's own retries are off


@pytest.mark.parametrize(
    ("model", "status", "retryable", "message"),
    [
        ("test.broken-v1:0", 500, True, "InternalServerException: Internal server error"),
        ("test.invalid-v1:0", 400, False, "unexpected toolResult; the request does not suit"),
        ("test.denied-v1:0", 403, False, r"AccessDenied.*lack bedrock:InvokeModel"),
    ],
)
async def test_other_errors_say_whether_to_retry(
    fake: FakeBedrock,
    provider: BedrockProvider,
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


async def test_throttling_in_the_middle_of_a_stream_is_retryable(
    provider: BedrockProvider,
) -> None:
    deltas: list[StreamDelta] = []
    with pytest.raises(ProviderRateLimited, match=r"mid-stream \(ThrottlingException\)") as caught:
        async with aclosing(provider.stream(_request("test.throttled-mid-stream-v1:0"))) as stream:
            async for item in stream:
                assert isinstance(item, StreamDelta)
                deltas.append(item)
    assert "".join(d.text for d in deltas) == "Hello there"
    assert caught.value.retryable and caught.value.status == 429


async def test_a_stream_cut_short_is_retryable(provider: BedrockProvider) -> None:
    with pytest.raises(ProviderError, match="before it finished") as caught:
        await collect(provider, _request("test.cut-short-v1:0"))
    assert caught.value.retryable


async def test_a_stalled_stream_fails_after_the_idle_timeout(
    fake: FakeBedrock, provider: BedrockProvider
) -> None:
    with pytest.raises(ProviderTimeout, match=r"sent nothing for 1 s") as caught:
        await collect(provider, _request("test.stall-v1:0"), idle_timeout=1.0)
    assert caught.value.retryable and isinstance(caught.value, TimeoutError)
    assert fake.count() == 1


async def test_an_unreachable_endpoint_is_retryable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with BedrockProvider(region="us-east-1", endpoint_url=url) as provider:
        with pytest.raises(ProviderError, match="could not be reached") as caught:
            await provider.chat(_request())
    assert caught.value.retryable and caught.value.status is None


async def test_no_region_or_no_credentials_say_what_to_set(
    aws: pytest.MonkeyPatch, fake: FakeBedrock
) -> None:
    assert check_configuration(HAIKU, "us-east-1") is None
    assert "AWS_REGION" in (check_configuration(HAIKU) or "")
    async with BedrockProvider(endpoint_url=fake.url) as provider:
        with pytest.raises(ProviderError, match="needs an AWS region: set AWS_REGION") as caught:
            await provider.chat(_request())
    assert not caught.value.retryable
    aws.setenv("AWS_REGION", "eu-west-1")
    assert check_configuration(HAIKU) is None  # the environment's region
    aws.delenv("AWS_ACCESS_KEY_ID")
    aws.delenv("AWS_SECRET_ACCESS_KEY")
    said = check_configuration(HAIKU, "us-east-1") or ""
    assert "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in said
    async with BedrockProvider(endpoint_url=fake.url) as provider:
        with pytest.raises(ProviderError, match="AWS_ACCESS_KEY_ID") as caught:
            await provider.chat(_request())
    assert not caught.value.retryable
    assert fake.count() == 0


def test_a_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # imports of it now fail
    with pytest.raises(ConfigurationError, match=r"pip install 'bosun\[bedrock\]'"):
        load_sdk()
    assert "bosun[bedrock]" in (check_configuration(HAIKU, "us-east-1") or "")


def test_import_bosun_does_not_load_the_sdk() -> None:
    probe = (
        "import bosun, bosun.agents.registry, bosun.agents.bedrock, sys; "
        "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False False"


# -- through ctx.llm and bosun.Agent ----------------------------------------------------------


@pytest.fixture
async def made() -> AsyncIterator[list[BedrockProvider]]:
    """The providers a test made for its apps, closed on the test's own event loop."""
    providers: list[BedrockProvider] = []
    yield providers
    for provider in providers:
        await provider.aclose()


def _wire_app(
    tmp_path: Path, fake: FakeBedrock, made: list[BedrockProvider], model: str, **config: Any
) -> bosun.App:
    app = bosun.App("wire", database=f"sqlite:///{tmp_path / 'wire.db'}")
    settings = ModelConfig(alias="default", provider="bedrock", model=model, **config)
    made.append(BedrockProvider(region="us-east-1", endpoint_url=fake.url))
    app.models.register("default", made[-1], settings)
    return app


async def test_ctx_llm_over_the_wire_is_called_once_and_replayed(
    fake: FakeBedrock, tmp_path: Path, made: list[BedrockProvider]
) -> None:
    app = _wire_app(tmp_path, fake, made, HAIKU)

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
    assert fake.requests[0].operation == "converse-stream"  # the idle timeout is progress


async def test_a_throttled_call_is_retried_durably_after_its_retry_after(
    fake: FakeBedrock, tmp_path: Path, made: list[BedrockProvider]
) -> None:
    """ThrottlingException with `Retry-After: 1`: the provider raises at once, bosun's retry
    waits on a durable timer (holding no worker) and calls again."""
    app = _wire_app(tmp_path, fake, made, "test.flaky-v1:0")

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hi")).message.content or ""

    async with app, app.worker():
        handle = await app.start(ask)
        assert await handle.result(timeout=30) == "Hello there"
        journal = await app.store.get_journal(handle.run_id)
        events = [e.type for e in await app.store.list_events(handle.run_id)]
    assert fake.count() == 2
    [llm] = [e for e in journal if e.kind == "llm"]
    assert llm.status == "completed" and llm.attempt == 2
    assert "step.retrying" in events


@pytest.mark.parametrize(
    ("model", "error", "says"),
    [
        ("test.guardrail-v1:0", "ContentFiltered", "content filter withheld the answer"),
        ("test.filtered-v1:0", "ContentFiltered", "content filter withheld the answer"),
        ("test.truncated-v1:0", "OutputTruncated", "cut off at the token limit"),
    ],
)
async def test_filtered_and_cut_answers_raise_once_without_retrying(
    fake: FakeBedrock,
    tmp_path: Path,
    model: str,
    error: str,
    says: str,
    made: list[BedrockProvider],
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


async def test_an_agent_streams_reasons_calls_tools_in_parallel_and_passes_reasoning_back(
    fake: FakeBedrock, tmp_path: Path, made: list[BedrockProvider]
) -> None:
    app = _wire_app(
        tmp_path, fake, made, "test.tools-v1:0", input_per_million=1, output_per_million=5
    )

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
        return answer

    async with app, app.worker():
        handle = await app.start(ask)
        await suspended(handle)
        queue = app.store.notifier.subscribe(handle.run_id)
        await handle.signal("go")
        assert await handle.result(timeout=30) == "Sunny in Paris; it is 14:00 CET."
        journal = await app.store.get_journal(handle.run_id)
    published: dict[str, str] = {}
    while not queue.empty():
        kind, data = queue.get_nowait()
        published[kind] = published.get(kind, "") + json.loads(data).get("text", "")
    assert published["llm.reasoning.delta"] == THOUGHT + FINAL_THOUGHT
    assert published["llm.delta"] == "Let me check both." + "Sunny in Paris; it is 14:00 CET."

    calls = [e for e in journal if e.kind == "llm"]
    assert len(calls) == 2 and fake.count() == 2
    first = json.loads(calls[0].output)
    assert first["response"]["message"]["reasoning_blocks"] == [
        {"text": THOUGHT, "signature": SIGNATURE, "redacted": None, "provider": "bedrock"}
    ]
    # Cache reads and writes at the input price, as no cache prices were given.
    assert first["cost"] == pytest.approx((18 * 1 + 9 * 5) / 1e6)
    tools = [e.name for e in journal if e.kind == "tool"]
    assert sorted(tools) == ["tool:clock", "tool:weather"]
    second = fake.requests[1].body["messages"]
    assert second[1]["content"][0] == {
        "reasoningContent": {"reasoningText": {"text": THOUGHT, "signature": SIGNATURE}}
    }
    assert [list(block) for block in second[2]["content"]] == [["toolResult"]] * 2


# -- models named without an alias ------------------------------------------------------------


def test_bedrock_names_need_no_alias_and_known_ones_are_priced() -> None:
    named = config_for_name(f"bedrock:{HAIKU}", {})
    assert (named.provider, named.model, named.api_key_env, named.base_url) == (
        "bedrock",
        HAIKU,
        None,  # credentials are boto3's to find
        None,
    )
    assert (named.input_per_million, named.cache_write_per_million) == (0.8, 1.0)
    profile = config_for_name(f"bedrock:us.{HAIKU}", {})
    assert (profile.model, profile.input_per_million) == (f"us.{HAIKU}", 0.8)
    unknown = config_for_name("bedrock:meta.llama3-1-8b-instruct-v1:0", {})
    assert unknown.input_per_million == 0 and unknown.provider == "bedrock"
    defined = ModelConfig.model_validate(
        {"alias": "b", "model": f"bedrock:{HAIKU}", "region": "eu-west-1"}
    )
    assert (defined.provider, defined.model, defined.region) == ("bedrock", HAIKU, "eu-west-1")


async def test_plain_bedrock_names_run_in_workflows(
    aws: pytest.MonkeyPatch, fake: FakeBedrock, tmp_path: Path
) -> None:
    """`bedrock:<model id>` and an inference profile's id, with only the AWS variables set:
    the region from AWS_REGION, the endpoint from AWS_ENDPOINT_URL_BEDROCK_RUNTIME (botocore
    reads it), and the default model stays the scripted one."""
    aws.setenv("AWS_REGION", "us-west-2")
    aws.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.url)
    app = bosun.App("names", database=f"sqlite:///{tmp_path / 'names.db'}")
    agent = bosun.Agent(model=f"bedrock:us.{HAIKU}", system="Be brief.")

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> list[str]:
        plain = await ctx.llm.chat("hi", model=f"bedrock:{HAIKU}")
        answer: str = await agent.run(ctx, "hi")
        return [plain.message.content or "", answer]

    try:
        async with app, app.worker():
            handle = await app.start(ask)
            assert await handle.result(timeout=30) == ["Hello there", "Hello there"]
            journal = await app.store.get_journal(handle.run_id)
    finally:
        await app.models.aclose()
    assert app.models.config("default").provider == "scripted"
    calls = [e for e in journal if e.kind == "llm"]
    assert [e.name for e in calls] == [f"llm:bedrock:{HAIKU}", f"llm:bedrock:us.{HAIKU}"]
    # 12 uncached input tokens, 4 read from the cache and 2 written to it, 9 output: priced.
    priced = (12 * 0.8 + 4 * 0.08 + 2 * 1.0 + 9 * 4) / 1e6
    assert json.loads(calls[0].output)["cost"] == pytest.approx(priced)
    assert [r.model for r in fake.requests] == [HAIKU, f"us.{HAIKU}"]
    assert "/us-west-2/bedrock/aws4_request" in fake.requests[0].headers["authorization"]


@pytest.mark.parametrize(
    ("unset", "says"),
    [
        (("AWS_REGION",), r"needs an AWS region: set AWS_REGION"),
        (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), r"set AWS_ACCESS_KEY_ID and AWS_SECRET"),
    ],
)
async def test_a_bedrock_model_without_region_or_credentials_fails_the_worker_start(
    aws: pytest.MonkeyPatch, tmp_path: Path, unset: tuple[str, ...], says: str
) -> None:
    aws.setenv("AWS_REGION", "us-east-1")
    aws.setenv("BOSUN_MODELS", json.dumps({"claude": {"model": f"bedrock:{HAIKU}"}}))
    for name in unset:
        aws.delenv(name)
    app = bosun.App("names", database=f"sqlite:///{tmp_path / 'names.db'}")
    with pytest.raises(ConfigurationError, match=rf"model 'claude' \(bedrock:.*{says}"):
        async with app, app.worker():
            pass


async def test_images_and_documents_reach_the_wire_as_converse_blocks(
    fake: FakeBedrock, provider: BedrockProvider
) -> None:
    call = ToolCall(id="tooluse_1", name="screenshot")
    shot = Message.tool(call, [ImagePart(data=PIXEL_PNG), TextPart("the screen")])
    in_s3 = FilePart(url="s3://bucket/q3 report.pdf", name="q3 report.pdf")
    messages = [
        vision_message(url=None),
        Message.assistant(None, [call]),
        shot,
        Message.user([in_s3]),
    ]
    params = request_params(ChatRequest(model=HAIKU, messages=messages))
    _valid_request(params)  # botocore's own input shape
    await provider.chat(ChatRequest(model=HAIKU, messages=messages))

    sent = fake.requests[0].body["messages"]
    png = {"format": "png", "source": {"bytes": b64(PIXEL_PNG)}}  # base64 on the JSON wire
    assert sent[0]["content"] == [
        {"text": "What do these show?"},
        {"image": png},
        {"document": {"format": "pdf", "name": "report", "source": {"bytes": b64(PDF)}}},
    ]
    # Tool results take images: the model sees the screenshot itself.
    assert sent[2]["content"] == [
        {
            "toolResult": {
                "toolUseId": "tooluse_1",
                "content": [{"image": png}, {"text": "the screen"}],
            }
        },
        {
            "document": {
                "format": "pdf",
                "name": "q3 report",
                "source": {"s3Location": {"uri": "s3://bucket/q3 report.pdf"}},
            }
        },
    ]

    on_the_web = Message.user([ImagePart(url=IMAGE_URL, media_type="image/png")])
    with pytest.raises(UnsupportedContent, match="not a web URL"):
        await provider.chat(ChatRequest(model=HAIKU, messages=[on_the_web]))
    assert fake.count() == 1  # refused before anything was sent
