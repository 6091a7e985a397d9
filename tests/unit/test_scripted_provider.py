"""`ScriptedProvider`, the public test double: rules, scripts, tool calls, deterministic usage,
word-by-word streaming, simulated stalls and errors, offline embeddings."""

from __future__ import annotations

import json
import math
import re
from contextlib import aclosing

import pytest

from bosun.agents.errors import ProviderError, ProviderRateLimited, ProviderTimeout
from bosun.agents.messages import (
    ChatRequest,
    ChatResponse,
    Message,
    StreamDelta,
    ToolCall,
    ToolSpec,
    Usage,
    estimate_tokens,
)
from bosun.agents.provider import Embedder, Provider
from bosun.agents.scripted import Rule, ScriptedProvider, hashed_embedding, last_prompt_text


def _ask(text: str, *earlier: Message) -> ChatRequest:
    return ChatRequest(
        model="demo", messages=[Message.system("Be kind."), *earlier, Message.user(text)]
    )


async def _stream(
    provider: ScriptedProvider, request: ChatRequest, idle_timeout: float | None = None
) -> tuple[list[str], ChatResponse]:
    deltas: list[str] = []
    async with aclosing(provider.stream(request, idle_timeout=idle_timeout)) as stream:
        async for item in stream:
            if isinstance(item, StreamDelta):
                deltas.append(item.text)
            else:
                return deltas, item
    raise AssertionError("no final response")


async def test_the_script_answers_in_order_and_calls_are_recorded() -> None:
    scripted = ChatResponse(message=Message.assistant("whole"), usage=Usage(prompt_tokens=1))
    provider = ScriptedProvider(
        script=[
            "first",
            Message.assistant("second"),
            scripted,
            lambda request: f"echo: {last_prompt_text(request)}",
        ]
    )
    answers = [(await provider.chat(_ask(f"q{i}"))).message.content for i in range(4)]
    assert answers == ["first", "second", "whole", "echo: q3"]
    assert [call.messages[-1].content for call in provider.calls] == ["q0", "q1", "q2", "q3"]
    assert provider.script_left == 0
    with pytest.raises(ProviderError, match=r"no answer for call 5: .* 'q4' .* used up") as caught:
        await provider.chat(_ask("q4"))
    assert not caught.value.retryable
    assert len(provider.calls) == 5


async def test_a_fallback_answers_what_rules_and_script_do_not() -> None:
    provider = ScriptedProvider(
        rules=[Rule("order", "Let me look that up.")],
        script=["Hello!"],
        fallback=lambda request: f"I cannot help with {last_prompt_text(request)!r}.",
    )
    answers = [
        (await provider.chat(_ask(text))).message.content
        for text in ("hi", "my order", "the weather?", "and tomorrow?")
    ]
    assert answers == [
        "Hello!",
        "Let me look that up.",
        "I cannot help with 'the weather?'.",
        "I cannot help with 'and tomorrow?'.",
    ]
    assert len(provider.calls) == 4 and provider.script_left == 0
    plain = ScriptedProvider(fallback=Message.assistant("Sorry?"))
    assert (await plain.chat(_ask("x"))).message.content == "Sorry?"
    failing = ScriptedProvider(fallback=ProviderRateLimited("busy"))
    with pytest.raises(ProviderRateLimited):
        await failing.chat(_ask("x"))
    with pytest.raises(ProviderError, match="a Rule, a script entry or a fallback"):
        await ScriptedProvider().chat(_ask("x"))  # the default stays strict


async def test_calls_are_copies() -> None:
    provider = ScriptedProvider(script=["ok"])
    request = _ask("hello")
    await provider.chat(request)
    request.messages.append(Message.user("changed later"))
    assert len(provider.calls[0].messages) == 2


async def test_rules_come_first_and_match_the_last_user_or_tool_message() -> None:
    lookup = ScriptedProvider.tool_call("lookup_order", order_id=42)
    provider = ScriptedProvider(
        rules=[
            Rule("order", lookup),
            Rule(re.compile(r'"status":\s*"shipped"'), "Your order is on its way."),
            Rule(lambda request: request.model == "other", "from the predicate"),
        ],
        script=["Hello! How can I help?"],
    )
    assert (await provider.chat(_ask("hi"))).message.content == "Hello! How can I help?"

    first = await provider.chat(_ask("where is my order?"))
    [call] = first.message.tool_calls
    assert (call.id, call.name, json.loads(call.arguments)) == (
        "call_2_0",
        "lookup_order",
        {"order_id": 42},
    )
    assert first.finish_reason == "tool_calls" and first.message.content is None

    result = Message.tool(call, '{"status": "shipped"}')
    history = [Message.user("where is my order?"), first.message, result]
    follow_up = ChatRequest(model="demo", messages=history)
    assert last_prompt_text(follow_up) == '{"status": "shipped"}'
    answer = await provider.chat(follow_up)
    assert answer.message.content == "Your order is on its way."
    assert answer.finish_reason == "stop"

    other = await provider.chat(ChatRequest(model="other", messages=[]))
    assert other.message.content == "from the predicate"


async def test_parallel_tool_calls_get_unique_ids() -> None:
    message = ScriptedProvider.tool_calls(
        ("lookup", {"id": 1}), ("lookup", {"id": 2}), content="Checking both."
    )
    provider = ScriptedProvider(script=[message, message])
    ids = [
        [call.id for call in (await provider.chat(_ask("x"))).message.tool_calls] for _ in range(2)
    ]
    assert ids == [["call_1_0", "call_1_1"], ["call_2_0", "call_2_1"]]
    given = Message.assistant(None, [ToolCall(id="mine", name="t", arguments="{}")])
    assert (await ScriptedProvider(script=[given]).chat(_ask("x"))).message.tool_calls[
        0
    ].id == "mine"
    # A tool argument may itself be called `name`.
    assert json.loads(ScriptedProvider.tool_call("greet", name="Ann").tool_calls[0].arguments) == {
        "name": "Ann"
    }


async def test_exceptions_in_the_script_are_raised() -> None:
    provider = ScriptedProvider(
        script=[ProviderRateLimited("slow down", retry_after=2.0), "recovered"]
    )
    with pytest.raises(ProviderRateLimited) as caught:
        await provider.chat(_ask("x"))
    assert caught.value.retry_after == 2.0
    assert (await provider.chat(_ask("x"))).message.content == "recovered"
    assert len(provider.calls) == 2


async def test_usage_is_deterministic() -> None:
    tool = ToolSpec(name="lookup", description="Look up.", parameters={"type": "object"})
    request = _ask("How are you today?").model_copy(update={"tools": [tool]})
    provider = ScriptedProvider(rules=[Rule("", "Fine, thanks for asking.")])
    first, second = await provider.chat(request), await provider.chat(request)
    assert first.usage == second.usage
    assert first.usage.prompt_tokens == estimate_tokens(request.messages) + estimate_tokens(
        tool.model_dump_json()
    )
    assert first.usage.completion_tokens == estimate_tokens(first.message)
    assert (first.model, first.raw_id, second.raw_id) == ("demo", "scripted-1", "scripted-2")


async def test_stream_yields_words_then_the_same_response_as_chat() -> None:
    text = "  Hello there,\nworld!  "
    streamed = ScriptedProvider(script=[text])
    deltas, final = await _stream(streamed, _ask("x"))
    assert deltas == ["  Hello ", "there,\n", "world!  "]
    assert "".join(deltas) == text
    assert final == await ScriptedProvider(script=[text]).chat(_ask("x"))

    deltas, final = await _stream(
        ScriptedProvider(script=[ScriptedProvider.tool_call("t")]), _ask("x")
    )
    assert deltas == [] and final.message.tool_calls[0].name == "t"


async def test_a_delay_longer_than_the_idle_timeout_is_a_stall() -> None:
    slow = ScriptedProvider(script=["one two", "one two"], delay=0.05)
    deltas, _ = await _stream(slow, _ask("x"), idle_timeout=0.5)
    assert deltas == ["one ", "two"]

    stalled = ScriptedProvider(script=["one two"], delay=10)
    with pytest.raises(ProviderTimeout, match=r"sent nothing for 0\.01 s"):
        await _stream(stalled, _ask("x"), idle_timeout=0.01)
    with pytest.raises(ProviderTimeout):
        await ScriptedProvider(script=["x"], delay=10).chat(_ask("x"), idle_timeout=0.01)


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_embeddings_are_deterministic_unit_vectors() -> None:
    provider = ScriptedProvider(embedding_dim=32)
    texts = ["refund my order", "Order refund, please!", "the weather in Oslo", "..."]
    vectors, usage = await provider.embed("embed", texts)
    again, _ = await provider.embed("embed", texts)
    assert vectors == again
    assert list(provider.embed_calls) == [texts, texts]
    assert all(len(v) == 32 for v in vectors)
    assert [round(math.sqrt(_cosine(v, v)), 9) for v in vectors] == [1.0, 1.0, 1.0, 0.0]
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2])
    assert usage.prompt_tokens == sum(estimate_tokens(t) for t in texts)
    assert hashed_embedding("refund my order", 32) == vectors[0]


async def test_it_satisfies_the_provider_protocols() -> None:
    provider: Provider = ScriptedProvider(script=["ok"])
    embedder: Embedder = ScriptedProvider()
    assert (await provider.chat(_ask("x"))).message.content == "ok"
    assert (await embedder.embed("m", ["a"]))[1].prompt_tokens == 1
    await provider.aclose()


async def test_recorded_calls_are_bounded() -> None:
    from bosun.agents import scripted

    provider = ScriptedProvider(rules=[Rule("", "ok")])
    for _ in range(scripted.KEEP_CALLS + 5):
        await provider.chat(ChatRequest(model="m", messages=[Message.user("hi")]))
    assert len(provider.calls) == scripted.KEEP_CALLS
