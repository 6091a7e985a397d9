"""`AnthropicProvider` against a real local HTTP server that speaks Anthropic's Messages API on
the wire (tests/helpers/fake_anthropic.py: every payload built with the `anthropic` package's
own types): JSON and SSE answers, thinking blocks with signatures and redacted ones, parallel
tool use split across `input_json_delta`s, prompt-cache breakpoints and cache usage priced,
429 and 529 with their retry hints, errors mid-stream, stalls, refusals and cut answers; and
through `ctx.llm` and `bosun.Agent`: deltas published as events, thinking passed back in the
tool loop, an overloaded answer retried durably, and a replay that makes no second call. The
server counts every request."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import pytest
from anthropic.types import MessageParam, ThinkingBlock, ToolUseBlock
from pydantic import BaseModel, TypeAdapter

from bosun.agents.anthropic import AnthropicProvider, load_sdk, request_params
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
from bosun.agents.pricing import ModelConfig
from bosun.errors import ConfigurationError
from tests.helpers.fake_anthropic import (
    FINAL_THOUGHT,
    PARALLEL,
    SIGNATURE,
    THOUGHT,
    FakeAnthropic,
    serve_anthropic,
)
from tests.helpers.media import IMAGE_URL, PDF_B64, PIXEL_B64, PIXEL_PNG, vision_message
from tests.helpers.providers import collect, suspended
from tests.helpers.serving import free_port

pytestmark = pytest.mark.timeout(60)

IDLE = 1.0
WEATHER = ToolSpec(
    name="weather",
    description="Weather of a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
CLOCK = ToolSpec(
    name="clock", parameters={"type": "object", "properties": {"tz": {"type": "string"}}}
)
EPHEMERAL = {"type": "ephemeral"}


@pytest.fixture(scope="module")
def served() -> Iterator[FakeAnthropic]:
    with serve_anthropic() as fake:
        yield fake


@pytest.fixture
def fake(served: FakeAnthropic) -> Iterator[FakeAnthropic]:
    served.requests.clear()
    served.release.clear()
    yield served
    served.release.set()  # this test's stalled answers end


@pytest.fixture
async def provider(fake: FakeAnthropic) -> AsyncIterator[AnthropicProvider]:
    async with AnthropicProvider("sk-ant-test", base_url=fake.url) as provider:
        yield provider


def _request(model: str = "claude-plain", **kwargs: Any) -> ChatRequest:
    kwargs.setdefault("messages", [Message.system("Be brief."), Message.user("Hi")])
    return ChatRequest(model=model, **kwargs)


# -- requests and answers ---------------------------------------------------------------------


async def test_chat_sends_a_messages_request_and_reads_the_answer(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    request = _request(
        tools=[WEATHER, CLOCK],
        tool_choice="weather",
        temperature=0.2,
        max_tokens=50,
        extra={"top_k": 5, "metadata": {"user_id": "u-1"}},
    )
    response = await provider.chat(request)

    assert response.message == Message(role="assistant", content="Hello there")
    # input_tokens leaves the cache out; prompt_tokens holds reads and writes.
    assert response.usage == Usage(
        prompt_tokens=18, completion_tokens=9, cached_tokens=4, cache_write_tokens=2
    )
    assert (response.finish_reason, response.model, response.raw_id) == (
        "stop",
        "claude-plain-20260101",
        "msg_01XFDUDYJgAACzvnptvVoYEL",
    )
    assert fake.count() == 1  # the SDK retries nothing (max_retries=0)
    sent = fake.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-ant-test"
    assert sent.headers["anthropic-version"]
    assert sent.headers["x-stainless-retry-count"] == "0"
    assert sent.body == {
        "model": "claude-plain",
        "max_tokens": 50,
        "stream": False,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": EPHEMERAL}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hi", "cache_control": EPHEMERAL}],
            }
        ],
        "tools": [
            {
                "name": "weather",
                "description": "Weather of a city.",
                "input_schema": WEATHER.parameters,
            },
            {"name": "clock", "input_schema": CLOCK.parameters, "cache_control": EPHEMERAL},
        ],
        "tool_choice": {"type": "tool", "name": "weather"},
        "temperature": 0.2,
        "top_k": 5,
        "metadata": {"user_id": "u-1"},
    }


def test_tool_choices_max_tokens_and_output_config() -> None:
    def body(**kwargs: Any) -> dict[str, Any]:
        return request_params(_request(tools=[WEATHER], **kwargs))

    assert body(tool_choice="required")["tool_choice"] == {"type": "any"}
    assert body(tool_choice="auto")["tool_choice"] == {"type": "auto"}
    assert body(tool_choice="none")["tool_choice"] == {"type": "none"}
    assert "tool_choice" not in request_params(_request(tool_choice="auto"))  # no tools
    # The API requires max_tokens: a default, over a thinking budget when there is one.
    assert body()["max_tokens"] == 4096
    thinking = {"type": "enabled", "budget_tokens": 2048}
    assert body(extra={"thinking": thinking})["max_tokens"] == 4096 + 2048
    assert body(extra={"max_tokens": 900})["max_tokens"] == 900  # a model's body default
    assert body(max_tokens=64, extra={"max_tokens": 900})["max_tokens"] == 64  # the call's wins
    # A schema goes as output_config.format only in strict mode (structured outputs), where
    # it meets an effort from the model's body.
    schema = {"type": "object", "properties": {"city": {"type": "string", "minLength": 2}}}
    assert "output_config" not in body(response_schema=schema)
    strict = request_params(
        _request(
            tools=[WEATHER], response_schema=schema, extra={"output_config": {"effort": "low"}}
        ),
        options=AnthropicProvider(strict=True).options,
    )
    assert strict["output_config"]["effort"] == "low"
    sent = strict["output_config"]["format"]
    assert sent["type"] == "json_schema"
    assert sent["schema"] == load_sdk().transform_schema(schema)
    assert sent["schema"]["additionalProperties"] is False
    assert strict["tools"][0]["strict"] is True


async def test_stream_yields_thinking_and_text_then_parallel_tool_calls(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    deltas, final = await collect(provider, _request("claude-tools", tools=[WEATHER, CLOCK]))

    assert "".join(d.reasoning for d in deltas) == THOUGHT
    assert "".join(d.text for d in deltas) == "Let me check both."
    assert all(not (d.text and d.reasoning) for d in deltas)
    assert len(deltas) > 3  # piece by piece, as the server streamed them
    assert final.finish_reason == "tool_calls"
    calls = [(c.id, c.name, json.loads(c.arguments)) for c in final.message.tool_calls]
    assert calls == [(b.id, b.name, b.input) for b in PARALLEL]
    assert final.message.reasoning == THOUGHT
    assert final.message.reasoning_blocks == [
        ReasoningBlock(text=THOUGHT, signature=SIGNATURE, provider="anthropic")
    ]
    assert final.usage == Usage(
        prompt_tokens=18, completion_tokens=9, cached_tokens=4, cache_write_tokens=2
    )
    assert fake.requests[0].body["stream"] is True
    assert fake.count() == 1
    whole = await provider.chat(_request("claude-tools", tools=[WEATHER, CLOCK]))
    assert whole.message == final.message


async def test_thinking_goes_back_verbatim_and_parallel_results_in_one_turn(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    """With extended thinking and tools, the API requires the thinking block (and its
    signature) back before the tool_use blocks, and all the results of a turn in one user
    message."""
    first = _request("claude-tools", tools=[WEATHER, CLOCK])
    _, turn = await collect(provider, first)
    results = [Message.tool(call, f"result {call.name}") for call in turn.message.tool_calls]
    _, answer = await collect(
        provider, first.model_copy(update={"messages": [*first.messages, turn.message, *results]})
    )

    assert answer.message.content == "Sunny in Paris; it is 14:00 CET."
    assert answer.message.reasoning == FINAL_THOUGHT
    sent = fake.requests[1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == [
        {"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE},
        {"type": "text", "text": "Let me check both."},
        *({"type": "tool_use", "id": b.id, "name": b.name, "input": b.input} for b in PARALLEL),
    ]
    assert sent[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "result weather"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_01B",
            "content": "result clock",
            "cache_control": EPHEMERAL,
        },
    ]
    # The turn before keeps its breakpoint: the prefix cached by the first call is read.
    assert sent[0]["content"][-1]["cache_control"] == EPHEMERAL
    assert fake.count() == 2


async def test_redacted_thinking_is_kept_and_passed_back(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    _, final = await collect(provider, _request("claude-redacted"))
    redacted = ReasoningBlock(redacted="c2VjcmV0IHRob3VnaHRz", provider="anthropic")
    assert final.message.reasoning_blocks == [
        redacted,
        ReasoningBlock(text="Then I answer.", signature=SIGNATURE, provider="anthropic"),
    ]
    assert final.message.reasoning == "Then I answer."
    again = [*_request().messages, final.message, Message.user("And?")]
    await provider.chat(_request(messages=again))
    assert fake.requests[1].body["messages"][1]["content"] == [
        {"type": "redacted_thinking", "data": "c2VjcmV0IHRob3VnaHRz"},
        {"type": "thinking", "thinking": "Then I answer.", "signature": SIGNATURE},
        {"type": "text", "text": "Done."},
    ]


def test_reasoning_without_a_signature_is_not_sent_as_a_thinking_block() -> None:
    """Reasoning from another provider (DeepSeek's text) has no signature the API would take."""
    other = Message.assistant("Earlier.").model_copy(
        update={"reasoning": "thoughts", "reasoning_blocks": [ReasoningBlock(text="thoughts")]}
    )
    body = request_params(_request(messages=[Message.user("a"), other, Message.user("b")]))
    assert body["messages"][1]["content"] == [{"type": "text", "text": "Earlier."}]


def test_only_anthropics_own_reasoning_goes_back() -> None:
    """A session whose earlier turns came from Gemini or Bedrock: their signatures and
    redacted blocks mean nothing to this API (it would refuse them), so they stay out; blocks
    journaled before they named their writer were Anthropic's and go back."""
    blocks = [
        ReasoningBlock(text="mine", signature="sig-a", provider="anthropic"),
        ReasoningBlock(text="gemini's", signature="c2ln", provider="gemini"),
        ReasoningBlock(redacted="b3BhcXVl", provider="bedrock"),
        ReasoningBlock(text="older", signature="sig-old"),
    ]
    earlier = Message.assistant("Earlier.").model_copy(update={"reasoning_blocks": blocks})
    body = request_params(_request(messages=[Message.user("a"), earlier, Message.user("b")]))
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "mine", "signature": "sig-a"},
        {"type": "thinking", "thinking": "older", "signature": "sig-old"},
        {"type": "text", "text": "Earlier."},
    ]


def test_breakpoints_stop_at_four_and_prompt_cache_can_be_turned_off() -> None:
    call = ToolCall(id="toolu_1", name="weather", arguments='{"city": "Paris"}')
    thought = Message.assistant(None, [call]).model_copy(
        update={"reasoning_blocks": [ReasoningBlock(text="t", signature="s")]}
    )
    messages = [
        Message.system("Be brief."),
        Message.user("one"),
        Message.assistant("two"),
        Message.user("three"),
        thought,
        Message.tool(call, "sunny"),
    ]
    request = ChatRequest(model="m", messages=messages, tools=[WEATHER, CLOCK])
    body = request_params(request)
    marked = json.dumps(body).count('"cache_control"')
    assert marked == 4  # last tool, system, and the last two user turns
    assert "cache_control" not in body["messages"][0]["content"][-1]  # "one": not among them
    assert body["messages"][2]["content"][-1]["cache_control"] == EPHEMERAL  # "three"
    assert body["messages"][4]["content"][-1]["cache_control"] == EPHEMERAL  # the result
    off = request_params(request, AnthropicProvider(prompt_cache=False).options)
    assert "cache_control" not in json.dumps(off)


async def test_cache_reads_and_writes_are_counted_and_priced(
    provider: AnthropicProvider,
) -> None:
    _, final = await collect(provider, _request("claude-cache"))
    usage = final.usage
    assert usage == Usage(
        prompt_tokens=3050, completion_tokens=20, cached_tokens=2000, cache_write_tokens=1000
    )
    # Anthropic's rates by default: reads at a tenth of the input price, writes at 1.25 times.
    config = ModelConfig(
        alias="c", provider="anthropic", model="m", input_per_million=3, output_per_million=15
    )
    expected = (50 * 3 + 2000 * 0.3 + 1000 * 3.75 + 20 * 15) / 1_000_000
    assert config.cost(usage) == pytest.approx(expected)
    priced = config.model_copy(
        update={"cached_input_per_million": 0.5, "cache_write_per_million": 6}
    )
    assert priced.cost(usage) == pytest.approx((50 * 3 + 2000 * 0.5 + 1000 * 6 + 20 * 15) / 1e6)
    # An OpenAI-compatible model without cache prices bills cached input at the input price.
    openai = config.model_copy(update={"provider": "openai"})
    assert openai.cost(usage) == pytest.approx((3050 * 3 + 20 * 15) / 1e6)


async def test_refusals_and_cut_answers_are_told_apart(provider: AnthropicProvider) -> None:
    for streamed in (True, False):
        if streamed:
            _, refused = await collect(provider, _request("claude-refusal"))
        else:
            refused = await provider.chat(_request("claude-refusal"))
        assert refused.refusal == "I can"  # what it wrote before it stopped
        assert refused.finish_reason == "refusal"
    silent = await provider.chat(_request("claude-refusal-silent"))
    assert silent.refusal == "the model declined to answer (stop_reason: refusal)"
    _, cut = await collect(provider, _request("claude-truncated"))
    assert (cut.finish_reason, cut.message.content, cut.refusal) == (
        "length",
        '{"city": "Par',
        None,
    )


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(
    ("model", "status", "low", "high"),
    [
        ("claude-rate-limited", 429, 7, 7),
        ("claude-rate-limited-reset", 429, 25, 31),  # the exhausted limit's reset time
        ("claude-overloaded", 529, None, None),
    ],
)
async def test_429_and_529_are_retryable_with_their_hints(
    fake: FakeAnthropic,
    provider: AnthropicProvider,
    model: str,
    status: int,
    low: float | None,
    high: float | None,
    streamed: bool,
) -> None:
    with pytest.raises(ProviderRateLimited) as caught:
        if streamed:
            await collect(provider, _request(model))
        else:
            await provider.chat(_request(model))
    error = caught.value
    assert error.retryable and error.status == status
    if low is None:
        assert error.retry_after is None
        assert "overloaded" in str(error).lower()
    else:
        assert error.retry_after is not None and low <= error.retry_after <= high
    assert fake.count() == 1  # the provider never retries by itself


@pytest.mark.parametrize(
    ("model", "status", "retryable", "message"),
    [
        ("claude-broken", 500, True, "Internal server error"),
        ("claude-bad-request", 400, False, "unexpected `tool_use_id`"),
        ("claude-unauthorized", 401, False, r"invalid x-api-key; check the API key"),
        ("claude-spend-limit", 429, False, r"enforced_spend_limit_reached.*will not help"),
    ],
)
async def test_other_errors_say_whether_to_retry(
    fake: FakeAnthropic,
    provider: AnthropicProvider,
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


async def test_overloaded_in_the_middle_of_a_stream_is_retryable(
    provider: AnthropicProvider,
) -> None:
    deltas: list[StreamDelta] = []
    with pytest.raises(ProviderRateLimited, match=r"mid-stream \(overloaded_error\)") as caught:
        async with aclosing(provider.stream(_request("claude-overloaded-mid-stream"))) as stream:
            async for item in stream:
                assert isinstance(item, StreamDelta)
                deltas.append(item)
    assert "".join(d.text for d in deltas) == "Hello there"
    assert caught.value.retryable and caught.value.status == 529


async def test_a_stream_cut_short_is_retryable(provider: AnthropicProvider) -> None:
    with pytest.raises(ProviderError, match="before it finished") as caught:
        await collect(provider, _request("claude-cut-short"))
    assert caught.value.retryable


async def test_a_stalled_stream_fails_after_the_idle_timeout(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"sent nothing for 1 s") as caught:
        await collect(provider, _request("claude-stall"), idle_timeout=IDLE)
    assert time.monotonic() - started >= IDLE
    assert caught.value.retryable and isinstance(caught.value, TimeoutError)
    assert fake.count() == 1


async def test_an_unreachable_server_is_retryable() -> None:
    async with AnthropicProvider("k", base_url=f"http://127.0.0.1:{free_port()}") as provider:
        with pytest.raises(ProviderError, match="could not be reached") as caught:
            await provider.chat(_request())
    assert caught.value.retryable and caught.value.status is None


def test_a_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)  # imports of it now fail
    with pytest.raises(ConfigurationError, match=r"pip install 'bosun\[anthropic\]'"):
        load_sdk()


def test_import_bosun_does_not_load_the_sdk() -> None:
    import subprocess

    probe = "import bosun, bosun.agents.registry, sys; print('anthropic' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_payloads_are_the_sdk_types() -> None:
    """The fake server's blocks round-trip through the SDK's own models."""
    block = ThinkingBlock(type="thinking", thinking=THOUGHT, signature=SIGNATURE)
    assert ThinkingBlock.model_validate(block.model_dump()) == block
    assert all(isinstance(b, ToolUseBlock) for b in PARALLEL)


# -- through ctx.llm and bosun.Agent ----------------------------------------------------------


@pytest.fixture
async def made() -> AsyncIterator[list[AnthropicProvider]]:
    """The providers a test made for its apps, closed on the test's own event loop."""
    providers: list[AnthropicProvider] = []
    yield providers
    for provider in providers:
        await provider.aclose()


def _wire_app(
    tmp_path: Any, fake: FakeAnthropic, made: list[AnthropicProvider], model: str, **config: Any
) -> Any:
    import bosun

    app = bosun.App("wire", database=f"sqlite:///{tmp_path / 'wire.db'}")
    settings = ModelConfig(
        alias="default", provider="anthropic", model=model, api_key_env=None, **config
    )
    made.append(AnthropicProvider("sk-ant-test", base_url=fake.url))
    app.models.register("default", made[-1], settings)
    return app


async def test_ctx_llm_over_the_wire_is_called_once_and_replayed(
    fake: FakeAnthropic, tmp_path: Any, made: list[AnthropicProvider]
) -> None:
    import bosun

    app = _wire_app(tmp_path, fake, made, "claude-plain")

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
    assert fake.requests[0].body["stream"] is True  # streamed: the idle timeout is progress


async def test_an_overloaded_answer_is_retried_durably_after_its_retry_after(
    fake: FakeAnthropic, tmp_path: Any, made: list[AnthropicProvider]
) -> None:
    """529 with `retry-after: 1`: the provider raises at once, bosun's retry waits on a
    durable timer (holding no worker) and calls again."""
    import bosun

    app = _wire_app(tmp_path, fake, made, "claude-flaky")

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
        ("claude-refusal", "Refused", "refused to answer: 'I can'"),
        ("claude-truncated", "OutputTruncated", "cut off at the token limit"),
    ],
)
async def test_refusals_and_cut_answers_raise_once_without_retrying(
    fake: FakeAnthropic,
    tmp_path: Any,
    model: str,
    error: str,
    says: str,
    made: list[AnthropicProvider],
) -> None:
    import bosun

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


async def test_an_agent_streams_thinks_calls_tools_in_parallel_and_passes_thinking_back(
    fake: FakeAnthropic, tmp_path: Any, made: list[AnthropicProvider]
) -> None:
    import bosun

    app = _wire_app(tmp_path, fake, made, "claude-tools", input_per_million=1, output_per_million=5)

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
        {"text": THOUGHT, "signature": SIGNATURE, "redacted": None, "provider": "anthropic"}
    ]
    # Priced with cache reads (4 at 0.1) and writes (2 at 1.25) inside the 18 input tokens.
    assert first["cost"] == pytest.approx((12 * 1 + 4 * 0.1 + 2 * 1.25 + 9 * 5) / 1e6)
    tools = [e.name for e in journal if e.kind == "tool"]
    assert sorted(tools) == ["tool:clock", "tool:weather"]
    second = fake.requests[1].body
    assert second["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": THOUGHT,
        "signature": SIGNATURE,
    }
    assert [b["type"] for b in second["messages"][2]["content"]] == ["tool_result"] * 2


async def test_images_and_documents_reach_the_wire_as_anthropic_blocks(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    call = ToolCall(id="toolu_01A", name="screenshot")
    shot = Message.tool(call, [ImagePart(data=PIXEL_PNG), TextPart("the screen")])
    note = FilePart(data=b"plain notes", media_type="text/plain", name="notes.txt")
    messages = [vision_message(), Message.assistant(None, [call]), shot, Message.user([note])]
    await provider.chat(_request(messages=messages))

    sent = fake.requests[0].body["messages"]
    png = {"type": "base64", "media_type": "image/png", "data": PIXEL_B64}
    assert sent[0]["content"] == [
        {"type": "text", "text": "What do these show?"},
        {"type": "image", "source": png},
        {"type": "image", "source": {"type": "url", "url": IMAGE_URL}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
            "title": "report.pdf",
            "cache_control": EPHEMERAL,  # the last block of one of the last two user turns
        },
    ]
    # Tool results take images: the model sees the screenshot itself.
    assert sent[2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_01A",
            "content": [{"type": "image", "source": png}, {"type": "text", "text": "the screen"}],
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "plain notes"},
            "title": "notes.txt",
            "cache_control": EPHEMERAL,
        },
    ]
    for turn in sent:  # each is the SDK's own MessageParam
        TypeAdapter(MessageParam).validate_python(turn)

    tiff = Message.user([ImagePart(data=b"II*\x00", media_type="image/tiff")])
    with pytest.raises(UnsupportedContent, match="JPEG, PNG, GIF and WebP"):
        await provider.chat(_request(messages=[tiff]))
    assert fake.count() == 1  # refused before anything was sent
