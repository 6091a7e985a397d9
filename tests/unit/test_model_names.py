"""Models named without an alias (`gpt-4o-mini`, `anthropic:claude-…`), the `default` a lone
provider key makes, aliases defined in code, and the checks a worker makes when it starts."""

from __future__ import annotations

import json
import logging

import pytest

from bosun.agents import registry
from bosun.agents.anthropic import AnthropicProvider
from bosun.agents.openai import OpenAIProvider
from bosun.agents.pricing import ModelConfig, config_for_name, load_models, provider_for
from bosun.agents.registry import Models, ModelUnavailable
from bosun.agents.scripted import ScriptedProvider
from bosun.errors import ConfigurationError

MODEL_VARIABLES = (
    "BOSUN_MODELS",
    "BOSUN_LLM_BASE_URL",
    "BOSUN_LLM_MODEL",
    "BOSUN_LLM_API_KEY",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
)


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A process environment without model settings; set what a test needs on it."""
    for name in MODEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_names_a_provider_is_known_by() -> None:
    mini = config_for_name("gpt-4o-mini", {})
    assert (mini.provider, mini.model, mini.api_key_env, mini.base_url) == (
        "openai",
        "gpt-4o-mini",
        "OPENAI_API_KEY",
        None,
    )
    assert (mini.input_per_million, mini.output_per_million) == (0.15, 0.6)
    assert (mini.cached_input_per_million, mini.context_tokens) == (0.075, 128_000)
    assert config_for_name("o4-mini", {}).provider == "openai"
    haiku = config_for_name(
        "anthropic:claude-haiku-4-5-20251001", {"ANTHROPIC_BASE_URL": "http://x"}
    )
    assert (haiku.provider, haiku.model, haiku.api_key_env, haiku.base_url) == (
        "anthropic",
        "claude-haiku-4-5-20251001",  # a dated snapshot: the provider's own name, priced
        "ANTHROPIC_API_KEY",
        "http://x",
    )
    assert (haiku.input_per_million, haiku.output_per_million) == (1.0, 5.0)
    bare = config_for_name("claude-sonnet-4-6", {})
    assert bare.provider == "anthropic" and bare.input_per_million == 0  # not in the table
    assert bare.alias == "claude-sonnet-4-6" and bare.name == "anthropic:claude-sonnet-4-6"


def test_openai_names_reach_other_compatible_servers() -> None:
    local = config_for_name("openai:qwen2.5:7b", {"OPENAI_BASE_URL": "http://localhost:11434/v1"})
    assert (local.model, local.base_url, local.api_key_env) == (
        "qwen2.5:7b",
        "http://localhost:11434/v1",
        None,  # Ollama needs no key
    )
    keyed = config_for_name("openai:m", {"OPENAI_BASE_URL": "http://gw/v1", "OPENAI_API_KEY": "k"})
    assert keyed.api_key_env == "OPENAI_API_KEY"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("qwen2.5:7b", "no model alias or model name 'qwen2.5:7b': name a model as openai:"),
        ("llama3", "no model alias or model name"),
        ("anthropic:", "no model alias or model name"),
        ("vertex:gemini-2.5-flash", "no native vertex provider yet; reach it through an Open"),
        ("gemini:", "no model alias or model name 'gemini:'"),
        ("bedrock:", "no model alias or model name 'bedrock:'"),
    ],
)
def test_names_that_are_not_models_say_what_to_write(name: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        config_for_name(name, {})


def test_a_lone_key_chooses_the_default_model(environ: pytest.MonkeyPatch) -> None:
    assert load_models({})["default"].provider == "scripted"
    openai = load_models({"OPENAI_API_KEY": "sk"})["default"]
    assert (openai.alias, openai.name, openai.api_key_env) == (
        "default",
        "openai:gpt-4o-mini",
        "OPENAI_API_KEY",
    )
    anthropic = load_models({"ANTHROPIC_API_KEY": "sk-ant"})["default"]
    assert (anthropic.name, anthropic.api_key_env) == (
        "anthropic:claude-haiku-4-5",
        "ANTHROPIC_API_KEY",
    )
    both = {"OPENAI_API_KEY": "sk", "ANTHROPIC_API_KEY": "sk-ant"}
    assert "default" not in load_models(both)
    environ.setenv("OPENAI_API_KEY", "sk")
    environ.setenv("ANTHROPIC_API_KEY", "sk-ant")
    with pytest.raises(ConfigurationError, match=r"both set.*set BOSUN_LLM_MODEL \(e\.g\. open"):
        Models().config("default")
    chosen = load_models({**both, "BOSUN_LLM_MODEL": "anthropic:claude-haiku-4-5"})["default"]
    assert (chosen.name, chosen.api_key_env) == ("anthropic:claude-haiku-4-5", "ANTHROPIC_API_KEY")


def test_the_shortcut_takes_provider_names() -> None:
    keyed = load_models({"BOSUN_LLM_MODEL": "claude-haiku-4-5", "BOSUN_LLM_API_KEY": "sk"})
    assert (keyed["default"].provider, keyed["default"].api_key_env) == (
        "anthropic",
        "BOSUN_LLM_API_KEY",
    )
    plain = load_models({"BOSUN_LLM_MODEL": "gpt-4o"})["default"]
    assert (plain.provider, plain.api_key_env) == ("openai", "OPENAI_API_KEY")
    local = load_models({"BOSUN_LLM_MODEL": "llama3", "BOSUN_LLM_BASE_URL": "http://l/v1"})
    assert local["default"] == ModelConfig(alias="default", model="llama3", base_url="http://l/v1")


def test_bosun_models_keyed_by_a_name_and_claude_models_go_to_anthropic() -> None:
    settings = {
        "anthropic:claude-haiku-4-5": {"input_per_million": 2, "body": {"top_k": 5}},
        "fast": {"model": "claude-haiku-4-5"},
        "tagged": {"model": "anthropic:claude-sonnet-4-6", "api_key_env": None},
        "gateway": {"model": "claude-haiku-4-5", "base_url": "http://gw/v1"},
    }
    models = load_models({"BOSUN_MODELS": json.dumps(settings)})
    named = models["anthropic:claude-haiku-4-5"]
    assert (named.provider, named.model, named.api_key_env) == (
        "anthropic",
        "claude-haiku-4-5",
        "ANTHROPIC_API_KEY",
    )
    assert (named.input_per_million, named.output_per_million, named.body) == (2, 5, {"top_k": 5})
    assert (models["fast"].provider, models["fast"].api_key_env) == (
        "anthropic",
        "ANTHROPIC_API_KEY",
    )
    assert (models["tagged"].provider, models["tagged"].model) == ("anthropic", "claude-sonnet-4-6")
    assert models["tagged"].api_key_env is None  # the SDK's own credential chain
    assert models["gateway"].provider == "openai"  # an OpenAI-compatible gateway serves it


def test_provider_for_makes_the_anthropic_provider() -> None:
    config = ModelConfig(
        alias="c", model="anthropic:claude-haiku-4-5", base_url="http://x", prompt_cache=False
    )
    made = provider_for(config, {"ANTHROPIC_API_KEY": "sk-ant"})
    assert isinstance(made, AnthropicProvider)
    assert (made.base_url, made.options.prompt_cache, made.options.strict) == (
        "http://x",
        False,
        False,
    )
    with pytest.raises(ConfigurationError, match=r"\$ANTHROPIC_API_KEY, which is not set"):
        provider_for(config, {})


def test_plain_names_need_no_alias(environ: pytest.MonkeyPatch) -> None:
    models = Models()
    assert models.config("gpt-4o-mini").provider == "openai"
    assert models.config("anthropic:claude-haiku-4-5").model == "claude-haiku-4-5"
    with pytest.raises(ModelUnavailable, match=r"\$ANTHROPIC_API_KEY, which is not set") as caught:
        models.provider("anthropic:claude-haiku-4-5")
    assert caught.value.retryable is False  # a retry cannot set the variable
    environ.setenv("ANTHROPIC_API_KEY", "sk-ant")
    assert isinstance(models.provider("anthropic:claude-haiku-4-5"), AnthropicProvider)
    environ.setenv("OPENAI_API_KEY", "sk")
    assert isinstance(models.provider("gpt-4o-mini"), OpenAIProvider)
    with pytest.raises(ConfigurationError, match=r"no model alias 'fast' \(known: .*\); define"):
        models.config("fast")


def test_aliases_defined_in_code_yield_to_the_environment(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("BOSUN_MODELS", json.dumps({"ops": {"model": "gpt-4o"}}))
    environ.setenv("ANTHROPIC_API_KEY", "sk-ant")  # alone: `default` would be claude-haiku-4-5
    models = Models()
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    models.define("claude", "anthropic:claude-haiku-4-5", body=thinking)
    models.define("ops", "gpt-4o-mini")  # BOSUN_MODELS defines it: the environment wins
    models.define("default", "gpt-4.1-mini")  # over the default a lone key makes
    assert models.config("claude").body == thinking
    assert models.config("claude").name == "anthropic:claude-haiku-4-5"
    assert models.config("ops").model == "gpt-4o"
    assert models.config("default").name == "openai:gpt-4.1-mini"
    models.define("late", "claude-haiku-4-5", prompt_cache=False)  # after the first lookup
    assert models.config("late").prompt_cache is False
    with pytest.raises(ConfigurationError, match=r"(?s)model 'bad' is invalid: .*temperature"):
        models.define("bad", "gpt-4o", temperature=0.5)


def test_the_worker_start_check_says_what_to_set(
    environ: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    environ.setenv(
        "BOSUN_MODELS",
        json.dumps({"fast": {"model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"}}),
    )
    models = Models()
    models.define("claude", "anthropic:claude-haiku-4-5")
    models.register("offline", ScriptedProvider(script=["hi"]))
    with pytest.raises(ConfigurationError) as caught:
        models.check()
    said = str(caught.value)
    assert (
        "model 'claude' (anthropic:claude-haiku-4-5) reads its API key from $ANTHROPIC_API_KEY"
        in said
    )
    assert "model 'fast' (openai:gpt-4o-mini) reads its API key from $OPENAI_API_KEY" in said
    environ.setenv("OPENAI_API_KEY", "sk")
    environ.setenv("ANTHROPIC_API_KEY", "sk-ant")
    environ.setattr(registry, "sdk_installed", lambda: False)
    with pytest.raises(
        ConfigurationError, match=r"needs the anthropic SDK: pip install 'bosun\[anthropic\]'"
    ):
        models.check()
    environ.setattr(registry, "sdk_installed", lambda: True)
    with caplog.at_level(logging.WARNING, logger="bosun.agents"):
        lines = models.check()
    assert "claude: anthropic:claude-haiku-4-5" in lines and "offline: scripted:offline" in lines
    assert "default: scripted:scripted" in lines  # read before the keys were set
    with caplog.at_level(logging.WARNING, logger="bosun.agents"):
        Models().check()  # both keys, no default: a warning now, an error if a run uses it
    assert "both set" in caplog.text


def test_registered_providers_are_named_by_their_kind(environ: pytest.MonkeyPatch) -> None:
    models = Models()
    models.register("c", AnthropicProvider("k"))
    models.register("s", ScriptedProvider())
    models.register("o", OpenAIProvider())
    assert [models.config(a).provider for a in "cso"] == ["anthropic", "scripted", "openai"]
    assert models.check()  # registered: nothing to check


async def test_a_default_only_a_key_made_does_not_stop_a_worker_without_the_sdk(
    environ: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ANTHROPIC_API_KEY alone, set for something else: the worker starts, warning; a run
    that uses `default` fails at its call, naming the extra, without a retry."""
    import sys

    from bosun.agents.errors import ProviderError
    from bosun.agents.messages import ChatRequest, Message

    environ.setenv("ANTHROPIC_API_KEY", "sk-ant")
    environ.setattr(registry, "sdk_installed", lambda: False)
    models = Models()
    with caplog.at_level(logging.WARNING, logger="bosun.agents"):
        assert models.check() == ["default: anthropic:claude-haiku-4-5"]
    assert "needs the anthropic SDK: pip install 'bosun[anthropic]'" in caplog.text
    environ.setitem(sys.modules, "anthropic", None)  # imports of it now fail
    request = ChatRequest(model="claude-haiku-4-5", messages=[Message.user("hi")])
    with pytest.raises(ProviderError, match=r"pip install 'bosun\[anthropic\]'") as caught:
        await models.provider("default").chat(request)
    assert caught.value.retryable is False
    models.define("default", "claude-haiku-4-5")  # asked for: then a worker does not start
    with pytest.raises(ConfigurationError, match="needs the anthropic SDK"):
        models.check()
