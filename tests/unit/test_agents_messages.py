"""Messages and usage survive JSON (they are journaled); token estimates; model prices and
aliases from the environment."""

from __future__ import annotations

import pickle

import pytest

from bosun.agents.errors import (
    InvalidToolArguments,
    OutputParseError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)
from bosun.agents.messages import (
    ChatRequest,
    ChatResponse,
    Message,
    ReasoningBlock,
    ToolCall,
    ToolSpec,
    Usage,
    estimate_tokens,
)
from bosun.agents.openai import OpenAIProvider
from bosun.agents.pricing import ENVIRONMENT, ModelConfig, load_models, provider_for
from bosun.agents.scripted import ScriptedProvider
from bosun.errors import BosunError, ConfigurationError


def test_requests_and_responses_round_trip_through_json() -> None:
    call = ToolCall(id="call_1", name="lookup", arguments='{"id": 1')  # malformed, kept as is
    request = ChatRequest(
        model="gpt-4o-mini",
        messages=[
            Message.system("s"),
            Message.user("u"),
            Message.assistant(None, [call]),
            Message.tool(call, "result"),
        ],
        tools=[ToolSpec(name="lookup", parameters={"type": "object"})],
        tool_choice="auto",
        response_schema={"type": "object"},
        schema_name="out",
        temperature=0.0,
        max_tokens=10,
        extra={"seed": 1},
    )
    assert ChatRequest.model_validate_json(request.model_dump_json()) == request
    response = ChatResponse(
        message=Message.assistant("hi", [call]).model_copy(
            update={
                "reasoning": "thought",
                "reasoning_blocks": [
                    ReasoningBlock(text="thought", signature="sig"),
                    ReasoningBlock(redacted="c2VjcmV0"),
                ],
            }
        ),
        usage=Usage(prompt_tokens=3, completion_tokens=2, cached_tokens=1, cache_write_tokens=1),
        finish_reason="tool_calls",
        model="m",
        raw_id="x",
        refusal="no",
    )
    assert ChatResponse.model_validate_json(response.model_dump_json()) == response
    assert request.messages[3].model_dump() == {
        "role": "tool",
        "content": "result",
        "tool_calls": [],
        "tool_call_id": "call_1",
        "name": "lookup",
        "reasoning": None,
        "reasoning_blocks": [],
    }


def test_usage_adds_up() -> None:
    total = Usage(prompt_tokens=10, completion_tokens=2, cached_tokens=4) + Usage(
        prompt_tokens=1, completion_tokens=1
    )
    assert total == Usage(prompt_tokens=11, completion_tokens=3, cached_tokens=4)
    assert total.total_tokens == 14
    assert sum([total, total], Usage()) == total + total


def test_token_estimates_are_deterministic() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens(Message.user("abcd")) == 5
    assert estimate_tokens([Message.user("abcd"), Message.assistant(None)]) == 9


def test_cost_counts_cached_input_at_its_own_price() -> None:
    config = ModelConfig(
        alias="default",
        model="gpt-4o-mini",
        input_per_million=0.15,
        output_per_million=0.6,
        cached_input_per_million=0.075,
    )
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=500_000, cached_tokens=400_000)
    assert config.cost(usage) == pytest.approx(0.6 * 0.15 + 0.4 * 0.075 + 0.5 * 0.6)
    uncached_price = config.model_copy(update={"cached_input_per_million": None})
    assert uncached_price.cost(usage) == pytest.approx(0.15 + 0.3)
    assert ModelConfig(alias="x", model="y").cost(usage) == 0


def test_nothing_set_means_the_offline_scripted_default() -> None:
    models = load_models({})
    assert list(models) == ["default"]
    assert models["default"].provider == "scripted"
    demo = ScriptedProvider(script=["hi"])
    assert provider_for(models["default"], {}, scripted=demo) is demo
    assert isinstance(provider_for(models["default"], {}), ScriptedProvider)


def test_bosun_models_and_the_shortcut() -> None:
    environ = {
        "BOSUN_MODELS": '{"default": {"model": "big"}, "fast": {"model": "gpt-4o-mini", '
        '"api_key_env": "OPENAI_API_KEY", "input_per_million": 0.15, "context_tokens": 128000}, '
        '"offline": {"provider": "scripted"}}',
        "BOSUN_LLM_BASE_URL": "http://localhost:11434/v1",
        "BOSUN_LLM_MODEL": "llama3.1",
    }
    models = load_models(environ)
    assert sorted(models) == ["default", "fast", "offline"]
    assert models["default"] == ModelConfig(
        alias="default", model="llama3.1", base_url="http://localhost:11434/v1"
    )
    assert models["fast"].context_tokens == 128000
    assert models["offline"].model == "scripted"
    with_key = load_models({"BOSUN_LLM_MODEL": "gpt-4o", "BOSUN_LLM_API_KEY": "sk"})["default"]
    assert (with_key.base_url, with_key.api_key_env) == (None, "BOSUN_LLM_API_KEY")
    assert isinstance(provider_for(with_key, {"BOSUN_LLM_API_KEY": "sk"}), OpenAIProvider)
    assert set(ENVIRONMENT) == {
        "BOSUN_MODELS",
        "BOSUN_LLM_BASE_URL",
        "BOSUN_LLM_MODEL",
        "BOSUN_LLM_API_KEY",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_BASE_URL",
        "AWS_REGION",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",
    }


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BOSUN_MODELS": "{"}, "BOSUN_MODELS is not valid JSON"),
        ({"BOSUN_MODELS": "[1]"}, "must be a JSON object from alias to config"),
        ({"BOSUN_MODELS": '{"a": {"model": "m", "price": 1}}'}, r"price: Extra inputs"),
        (
            {"BOSUN_MODELS": '{"a": {"input_per_million": 1}}'},
            r"BOSUN_MODELS\['a'\] is invalid: 1 validation error:\n- model: Field required",
        ),
        ({"BOSUN_LLM_API_KEY": "sk"}, "BOSUN_LLM_MODEL is not"),
        ({"BOSUN_LLM_BASE_URL": "http://x/v1"}, "BOSUN_LLM_MODEL is not"),
    ],
)
def test_bad_settings_say_what_to_fix(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_models(environ)


def test_a_missing_key_variable_and_a_bad_url_are_configuration_errors() -> None:
    config = ModelConfig(alias="fast", model="m", api_key_env="OPENAI_API_KEY")
    with pytest.raises(ConfigurationError, match=r"\$OPENAI_API_KEY, which is not set"):
        provider_for(config, {})
    with pytest.raises(ConfigurationError, match="not an http"):
        provider_for(ModelConfig(alias="x", model="m", base_url="localhost:8000"), {})


@pytest.mark.parametrize(
    "error",
    [
        ProviderError("boom", retryable=True, status=503),
        ProviderRateLimited("slow down", retry_after=3.0),
        ProviderTimeout("nothing for 5 s"),
        OutputParseError("no JSON"),
        InvalidToolArguments("bad", tool="t", errors=[("x", "Field required")]),
    ],
)
def test_errors_survive_pickling(error: Exception) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)
    assert isinstance(copy, BosunError)
