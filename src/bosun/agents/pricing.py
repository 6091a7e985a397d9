"""Models by alias: where each is served, what it costs, how large its context is.

Code names a model by alias (`model="fast"`); the settings map each alias to a provider, the
provider-side model name, and prices in USD per million tokens. `load_models` reads them from
the environment:

- `BOSUN_MODELS`: a JSON object from alias to `ModelConfig` fields (the alias is the key), e.g.
  `{"default": {"model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY",
  "input_per_million": 0.15, "output_per_million": 0.6, "cached_input_per_million": 0.075,
  "context_tokens": 128000}, "local": {"model": "qwen2.5:7b",
  "base_url": "http://localhost:11434/v1", "json_schema": false}}`.
- `BOSUN_LLM_BASE_URL`, `BOSUN_LLM_MODEL`, `BOSUN_LLM_API_KEY`: a shortcut that defines (and
  overrides) the `default` alias: `BOSUN_LLM_MODEL` is needed. With a base URL it is an
  OpenAI-compatible server's model; without one, a provider's model (`gpt-4o-mini`,
  `anthropic:claude-haiku-4-5`), keyed by that provider's variable. The key is read from
  `BOSUN_LLM_API_KEY` when set.

Code may also name a model without declaring it (`model="gpt-4o-mini"`,
`"anthropic:claude-haiku-4-5"`, `"openai:llama3.1"`): `config_for_name` makes its config, with
the key from `OPENAI_API_KEY` or `ANTHROPIC_API_KEY` and the API root from `OPENAI_BASE_URL` or
`ANTHROPIC_BASE_URL` when set; `"bedrock:<model id>"` needs no key (boto3 finds AWS credentials
and the region); `"gemini-2.5-flash"` (or `"gemini:…"`, `"google:…"`) reads `GEMINI_API_KEY`,
else `GOOGLE_API_KEY`, and `GOOGLE_GEMINI_BASE_URL`. With none of the `BOSUN_*` settings,
`default` is such a model when exactly one of the two keys is set (`gpt-4o-mini`,
`claude-haiku-4-5`), and the scripted provider when neither is: everything runs offline. With
both, `default` must be chosen (`BOSUN_LLM_MODEL`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bosun.agents.anthropic import AnthropicProvider
from bosun.agents.bedrock import BedrockProvider
from bosun.agents.gemini import GeminiProvider
from bosun.agents.messages import Usage
from bosun.agents.openai import DEFAULT_BASE_URL, OpenAIProvider
from bosun.agents.provider import Provider
from bosun.agents.scripted import ScriptedProvider
from bosun.agents.structured import describe_validation_error
from bosun.errors import ConfigurationError

__all__ = [
    "DEFAULT_MODELS",
    "ENVIRONMENT",
    "PROVIDERS",
    "ModelConfig",
    "config_for_name",
    "configured_models",
    "default_model_problem",
    "load_models",
    "provider_for",
]

ENVIRONMENT = {
    "BOSUN_MODELS": "JSON object of model aliases: provider, model, base_url, api_key_env, "
    "prices per million tokens, context_tokens, body (request fields) and the wire switches "
    "of docs/agents.md",
    "BOSUN_LLM_BASE_URL": "OpenAI-compatible API root of the `default` model "
    f"(default {DEFAULT_BASE_URL})",
    "BOSUN_LLM_MODEL": "the `default` model: a server's model name, or a provider's "
    "(gpt-4o-mini, anthropic:claude-…); unset: the model of a lone OPENAI_API_KEY or "
    "ANTHROPIC_API_KEY, else the offline scripted one",
    "BOSUN_LLM_API_KEY": "API key of the `default` model",
    "OPENAI_API_KEY": "key of models named without an alias (`gpt-4o-mini`, `openai:…`); alone, "
    "it makes `default` gpt-4o-mini",
    "ANTHROPIC_API_KEY": "key of models named without an alias (`anthropic:claude-…`); alone, "
    "it makes `default` claude-haiku-4-5",
    "OPENAI_BASE_URL": "API root of `openai:…` models named without an alias (default OpenAI's)",
    "ANTHROPIC_BASE_URL": "API root of `anthropic:…` models named without an alias",
    "AWS_REGION": "region of `bedrock:…` models without a `region` of their own (else boto3's "
    "AWS_DEFAULT_REGION or the profile's); AWS credentials come from boto3's standard chain",
    "GEMINI_API_KEY": "key of Gemini models named without an alias (`gemini-…`, `gemini:…`)",
    "GOOGLE_API_KEY": "key of Gemini models named without an alias when GEMINI_API_KEY is not set",
    "GOOGLE_GEMINI_BASE_URL": "API root of `gemini:…` models named without an alias",
}

ProviderName = Literal["openai", "anthropic", "bedrock", "gemini"]
PROVIDERS: dict[str, ProviderName] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "bedrock": "bedrock",
    "gemini": "gemini",
    "google": "gemini",
}
"""The providers a model name may start with (`anthropic:claude-…`)."""
# Bedrock has neither: AWS credentials and AWS_ENDPOINT_URL_BEDROCK_RUNTIME are boto3's to read,
# and it never becomes `default` by itself (AWS credentials are set for many other reasons).
# Gemini has both, but never becomes `default` by itself either: only the two keys below do.
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}
BASE_URL_ENV = {
    "openai": "OPENAI_BASE_URL",
    "anthropic": "ANTHROPIC_BASE_URL",
    "gemini": "GOOGLE_GEMINI_BASE_URL",  # the google-genai SDK's own variable
}
_GOOGLE_KEY_ENV = "GOOGLE_API_KEY"  # Gemini's key when GEMINI_API_KEY is not set
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
"""The `default` model when only that provider's key is set."""
# Bare names each provider is known by: `gpt-4o-mini` is OpenAI's, `claude-…` Anthropic's.
_BARE_NAMES = {
    "openai": re.compile(r"(gpt-|chatgpt-|o[1-9](-|$)|text-embedding-)"),
    "anthropic": re.compile(r"claude-"),
    "gemini": re.compile(r"gemini-"),
}
# Anthropic bills prompt-cache reads at a tenth of the input price and writes (5-minute TTL)
# at 1.25 times it, for every model so far: the rates of its models without prices of their own.
_ANTHROPIC_CACHE_READ = 0.1
_ANTHROPIC_CACHE_WRITE = 1.25

# List prices in USD per million tokens (input, output, cached input), and context windows, of
# models `config_for_name` knows, as their providers published them (checked 2025-11). Only an
# exact name or a dated snapshot of it (`claude-haiku-4-5-20251001`, `gpt-4o-2024-08-06`)
# matches; other models are unpriced (cost 0) unless BOSUN_MODELS prices them.
PRICES_CHECKED = "2025-11"
_PRICES: dict[str, tuple[float, float, float, int]] = {
    "gpt-4o-mini": (0.15, 0.60, 0.075, 128_000),
    "gpt-4o": (2.50, 10.00, 1.25, 128_000),
    "gpt-4.1": (2.00, 8.00, 0.50, 1_047_576),
    "gpt-4.1-mini": (0.40, 1.60, 0.10, 1_047_576),
    "gpt-4.1-nano": (0.10, 0.40, 0.025, 1_047_576),
    "claude-haiku-4-5": (1.00, 5.00, 0.10, 200_000),
    "claude-sonnet-4-5": (3.00, 15.00, 0.30, 200_000),
    "claude-opus-4-5": (5.00, 25.00, 0.50, 200_000),
    # Gemini's paid tier, text input, prompts up to 200k tokens (the Pro models charge more
    # above); thoughts are billed as output, and bosun counts them in completion_tokens.
    "gemini-3-pro-preview": (2.00, 12.00, 0.20, 1_048_576),
    "gemini-2.5-pro": (1.25, 10.00, 0.125, 1_048_576),
    "gemini-2.5-flash": (0.30, 2.50, 0.03, 1_048_576),
    "gemini-2.5-flash-lite": (0.10, 0.40, 0.01, 1_048_576),
    "gemini-2.0-flash": (0.10, 0.40, 0.025, 1_048_576),
}
_SNAPSHOT = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$")
# Bedrock's on-demand prices in us-east-1, USD per million tokens (input, output, cache read,
# cache write), and context windows, by model id (checked 2025-11). A cross-region inference
# profile (`us.`, `eu.`, `global.`…) is priced as its model: within about a tenth.
_BEDROCK_PRICES: dict[str, tuple[float, float, float, float, int]] = {
    "anthropic.claude-3-5-haiku-20241022-v1:0": (0.80, 4.00, 0.08, 1.00, 200_000),
    "anthropic.claude-haiku-4-5-20251001-v1:0": (1.00, 5.00, 0.10, 1.25, 200_000),
    "anthropic.claude-sonnet-4-5-20250929-v1:0": (3.00, 15.00, 0.30, 3.75, 200_000),
    "amazon.nova-micro-v1:0": (0.035, 0.14, 0.00875, 0.035, 128_000),
    "amazon.nova-lite-v1:0": (0.06, 0.24, 0.015, 0.06, 300_000),
}
_BEDROCK_PROFILE = re.compile(r"^(us|us-gov|eu|apac|jp|au|ca|global)\.")

_SHORTCUT_KEY_ENV = "BOSUN_LLM_API_KEY"


class ModelConfig(BaseModel):
    """One model alias.

    Attributes:
        alias: the name code uses (`default`, `fast`…).
        provider: `openai` (any OpenAI-compatible server), `anthropic` (Anthropic's Messages
            API, through the `anthropic` SDK: `pip install 'bosun[anthropic]'`), `bedrock`
            (AWS Bedrock's Converse API, through `boto3`: `pip install 'bosun[bedrock]'`; a
            model written `bedrock:<model id>`), `gemini` (the Gemini API, through the
            `google-genai` SDK: `pip install 'bosun[gemini]'`) or `scripted` (offline). When
            left out: `anthropic` for a `claude-…` model without a base URL, or a model written
            `anthropic:claude-…`; `bedrock` for `bedrock:…`; `gemini` for a `gemini-…` model
            without a base URL, or `gemini:…`, `google:…`; `openai` otherwise.
        model: the provider-side model name (`gpt-4o-mini`, `Qwen/Qwen2.5-7B-Instruct`…).
        base_url: the API root; the provider's own when `None` (`bedrock`: the
            `bedrock-runtime` endpoint URL).
        api_key_env: the environment variable holding the API key; no key when `None`
            (`anthropic`: `ANTHROPIC_API_KEY` when left out, and `null` leaves credentials to
            the SDK's own chain: `ANTHROPIC_AUTH_TOKEN`, profiles…; `gemini`:
            `GEMINI_API_KEY` when left out, `null` for the SDK's `GOOGLE_API_KEY`).
        api_key_header: `Authorization` (bearer) or `api-key` (Azure).
        headers: more headers for every request.
        params: query parameters for every request (Azure's `api-version`).
        region: `bedrock`: the AWS region; `AWS_REGION`, `AWS_DEFAULT_REGION` or the AWS
            profile's when `None` (credentials always come from boto3's standard chain).
        input_per_million: USD per million uncached input tokens.
        output_per_million: USD per million output tokens.
        cached_input_per_million: USD per million cached input tokens (cache reads); when
            `None`, the input price (`anthropic`: a tenth of it, Anthropic's rate).
        cache_write_per_million: USD per million input tokens written to the prompt cache;
            when `None`, the input price (`anthropic`: 1.25 times it, Anthropic's 5-minute rate).
        context_tokens: the context window, for trimming history; unknown when `None`.
        json_schema: whether the server accepts a JSON schema as `response_format`
            (`gemini`: whether to send it as `response_json_schema`).
        strict: send structured-output schemas and tools with `"strict": true` (OpenAI's
            guaranteed adherence; the schemas are rewritten into the form it accepts).
            `anthropic`: send the schema as `output_config.format` and tools as strict
            (Anthropic's structured outputs), in the form the SDK's `transform_schema` writes.
        prompt_cache: `anthropic`: mark prompt-cache breakpoints (`cache_control`) on the
            tools, the system prompt and the conversation's last turns (docs/agents.md).
        stream_options: whether to send `stream_options` (usage at the end of a stream);
            `false` for servers that reject it.
        max_tokens_field: `max_completion_tokens` or `max_tokens`, the body field for
            `max_tokens`; by the base URL when `None` (the first for OpenAI and Azure OpenAI).
        reasoning_field: the field that passes reasoning back in a tool loop:
            `reasoning_content` (vLLM, DeepSeek), `reasoning` (Ollama, OpenRouter), or `None`.
        body: fields added to the body of every request of this alias, e.g.
            `{"reasoning_effort": "low", "seed": 7, "top_p": 0.9, "parallel_tool_calls": false}`;
            `ctx.llm.chat(..., extra={...})` adds to them and overrides them.
        requests_per_minute, tokens_per_minute: the provider's limits for this model,
            shared by every worker (a rate limit named `llm:<alias>`); none when `None`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    alias: str
    provider: Literal["openai", "anthropic", "bedrock", "gemini", "scripted"] = "openai"
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    api_key_header: str = "Authorization"
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    region: str | None = None
    input_per_million: float = Field(0.0, ge=0)
    output_per_million: float = Field(0.0, ge=0)
    cached_input_per_million: float | None = Field(None, ge=0)
    cache_write_per_million: float | None = Field(None, ge=0)
    context_tokens: int | None = Field(None, gt=0)
    json_schema: bool = True
    strict: bool = False
    prompt_cache: bool = True
    stream_options: bool = True
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] | None = None
    reasoning_field: Literal["reasoning_content", "reasoning"] | None = "reasoning_content"
    body: dict[str, Any] = Field(default_factory=dict)
    requests_per_minute: int | None = Field(None, gt=0)
    tokens_per_minute: int | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _fill_in(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("provider") == "scripted":
            return {"model": "scripted", **data}
        model = data.get("model")
        if isinstance(model, str):
            data = _provider_of_name(data, model)
        provider = data.get("provider")
        if provider in ("anthropic", "gemini") and "api_key_env" not in data:
            data = {**data, "api_key_env": KEY_ENV[provider]}
        return data

    @property
    def name(self) -> str:
        """`provider:model`, as messages name it."""
        return f"{self.provider}:{self.model}"

    def cost(self, usage: Usage) -> float:
        """The price in USD of `usage` at this model's rates."""
        prompt = usage.prompt_tokens
        cached = min(usage.cached_tokens, prompt)
        written = min(usage.cache_write_tokens, prompt - cached)
        anthropic = self.provider == "anthropic"
        cached_rate = self.cached_input_per_million
        if cached_rate is None:
            cached_rate = self.input_per_million * (_ANTHROPIC_CACHE_READ if anthropic else 1)
        write_rate = self.cache_write_per_million
        if write_rate is None:
            write_rate = self.input_per_million * (_ANTHROPIC_CACHE_WRITE if anthropic else 1)
        total = (
            (prompt - cached - written) * self.input_per_million
            + cached * cached_rate
            + written * write_rate
            + usage.completion_tokens * self.output_per_million
        )
        return total / 1_000_000


def _provider_of_name(data: dict[str, Any], model: str) -> dict[str, Any]:
    """`data` with the provider its model's name says: `anthropic:claude-…`, `google:gemini-…`;
    a bare `claude-…` or `gemini-…` when no provider or base URL says otherwise."""
    prefix, colon, name = model.partition(":")
    named = PROVIDERS.get(prefix) if colon else None
    if named is not None and data.get("provider", named) == named:
        return {**data, "provider": named, "model": name}
    if "provider" in data or data.get("base_url") is not None:
        return data
    for provider in ("anthropic", "gemini"):  # no other server serves these names
        if _BARE_NAMES[provider].match(model):
            return {**data, "provider": provider}
    return data


def load_models(
    environ: Mapping[str, str] = os.environ, defined: Mapping[str, ModelConfig] | None = None
) -> dict[str, ModelConfig]:
    """The model aliases the environment defines, over those code `defined`; a `default`
    unless both providers' keys are set and nothing says which one it is.

    Raises:
        ConfigurationError: `BOSUN_MODELS` is not a JSON object of valid configs, or the
            `BOSUN_LLM_*` shortcut is incomplete.
    """
    models = {**(defined or {}), **configured_models(environ)}
    if "default" not in models:
        keyed = [provider for provider in DEFAULT_MODELS if environ.get(KEY_ENV[provider])]
        if not keyed:
            models["default"] = ModelConfig(alias="default", provider="scripted", model="scripted")
        elif len(keyed) == 1:  # only that provider's key: its model, not the scripted one
            named = f"{keyed[0]}:{DEFAULT_MODELS[keyed[0]]}"
            models["default"] = config_for_name(named, environ, alias="default")
        # both keys: no `default` until one is chosen (default_model_problem says how)
    return models


def configured_models(environ: Mapping[str, str] = os.environ) -> dict[str, ModelConfig]:
    """The aliases `BOSUN_MODELS` and the `BOSUN_LLM_*` shortcut define, and only those."""
    models = _from_json(environ.get("BOSUN_MODELS", ""), environ)
    shortcut = _from_shortcut(environ)
    if shortcut is not None:
        models["default"] = shortcut
    return models


def default_model_problem(environ: Mapping[str, str] = os.environ) -> str:
    """Why `load_models(environ)` has no `default`: both keys are set, and nothing chose."""
    both = " and ".join(f"${KEY_ENV[p]}" for p in DEFAULT_MODELS)
    choices = " or ".join(f"{p}:{DEFAULT_MODELS[p]}" for p in DEFAULT_MODELS)
    return (
        f"no default model: {both} are both set, so it is not clear which provider `default` "
        f"means; set BOSUN_LLM_MODEL (e.g. {choices}), or define `default` in BOSUN_MODELS"
    )


def config_for_name(
    name: str, environ: Mapping[str, str] = os.environ, *, alias: str | None = None
) -> ModelConfig:
    """The config of a model named without an alias: `openai:<model>` (any name, e.g.
    `openai:llama3.1` with `OPENAI_BASE_URL` at an Ollama server), `anthropic:<model>`,
    `gemini:<model>` (or `google:<model>`), or a name a provider is known by (`gpt-4o-mini`,
    `o4-mini`, `claude-haiku-4-5`, `gemini-2.5-flash`). The key comes from `OPENAI_API_KEY`,
    `ANTHROPIC_API_KEY` or `GEMINI_API_KEY` (else `GOOGLE_API_KEY`); OpenAI-compatible servers
    at another `OPENAI_BASE_URL` may need none. Prices and context window come from a small
    table of known models (`_PRICES`; unknown models are unpriced).

    Raises:
        ConfigurationError: `name` is neither, or names a provider bosun does not have.
    """
    prefix, colon, model = name.partition(":")
    provider = PROVIDERS.get(prefix) if colon else None
    if provider is None:
        model = name
        provider = next((PROVIDERS[p] for p in _BARE_NAMES if _BARE_NAMES[p].match(name)), None)
    if provider is None or not model:
        if colon and prefix.lower() in ("vertex", "mistral"):
            raise ConfigurationError(
                f"model {name!r}: bosun has no native {prefix} provider yet; reach it through "
                f"an OpenAI-compatible endpoint (`openai:<model>` with OPENAI_BASE_URL, or a "
                f"BOSUN_MODELS alias with its base_url)"
            )
        raise ConfigurationError(
            f"no model alias or model name {name!r}: name a model as openai:<model>, "
            f"anthropic:<model>, gemini:<model> or bedrock:<model id> (or gpt-…, claude-…, "
            f"gemini-…), or define the alias in BOSUN_MODELS or with app.models.define()"
        )
    base_url_env = BASE_URL_ENV.get(provider)
    base_url = (environ.get(base_url_env) if base_url_env else None) or None
    key_env = _key_env(provider, base_url, environ)
    fields: dict[str, Any] = {}
    known = _PRICES.get(_SNAPSHOT.sub("", model)) or _PRICES.get(model)
    if known is not None:
        price_in, price_out, price_cached, context = known
        fields = {
            "input_per_million": price_in,
            "output_per_million": price_out,
            "cached_input_per_million": price_cached,
            "context_tokens": context,
        }
    if provider == "bedrock":
        fields = _bedrock_prices(model)
    return ModelConfig(
        alias=alias or name,
        provider=provider,
        model=model,
        base_url=base_url,
        api_key_env=key_env,
        **fields,
    )


def _key_env(provider: str, base_url: str | None, environ: Mapping[str, str]) -> str | None:
    """The variable the key of a model named without an alias is read from."""
    if provider == "openai" and base_url is not None and not environ.get(KEY_ENV[provider]):
        return None  # a local OpenAI-compatible server that needs no key
    if provider == "gemini" and not environ.get(KEY_ENV[provider]) and environ.get(_GOOGLE_KEY_ENV):
        return _GOOGLE_KEY_ENV  # the google-genai SDK's other variable
    return KEY_ENV.get(provider)


def _bedrock_prices(model: str) -> dict[str, Any]:
    """The prices and context window of a Bedrock model id or inference profile id (`us.…`),
    as `ModelConfig` fields; none for a model not in the table."""
    known = _BEDROCK_PRICES.get(_BEDROCK_PROFILE.sub("", model, count=1))
    if known is None:
        return {}
    price_in, price_out, price_read, price_write, context = known
    return {
        "input_per_million": price_in,
        "output_per_million": price_out,
        "cached_input_per_million": price_read,
        "cache_write_per_million": price_write,
        "context_tokens": context,
    }


def provider_for(
    config: ModelConfig,
    environ: Mapping[str, str] = os.environ,
    *,
    scripted: ScriptedProvider | None = None,
) -> Provider:
    """The provider that serves `config`.

    Args:
        config: the alias's configuration.
        environ: where `api_key_env` is looked up.
        scripted: the scripted provider to use for a `scripted` alias (one with rules, as
            the demo builds); a new one without rules, which answers nothing, when omitted.

    Raises:
        ConfigurationError: `api_key_env` names a variable that is not set.
    """
    if config.provider == "scripted":
        return scripted if scripted is not None else ScriptedProvider()
    api_key = None
    if config.api_key_env is not None:
        api_key = environ.get(config.api_key_env)
        if not api_key:
            raise ConfigurationError(missing_key_message(config))
    if config.provider == "bedrock":
        return BedrockProvider(region=config.region, endpoint_url=config.base_url)
    if config.provider == "anthropic":
        return AnthropicProvider(
            api_key,
            base_url=config.base_url,
            headers=config.headers,
            params=config.params,
            prompt_cache=config.prompt_cache,
            strict=config.strict,
        )
    if config.provider == "gemini":
        return GeminiProvider(
            api_key,
            base_url=config.base_url,
            headers=config.headers,
            params=config.params,
            json_schema=config.json_schema,
        )
    return OpenAIProvider(
        config.base_url or DEFAULT_BASE_URL,
        api_key,
        headers=config.headers,
        params=config.params,
        api_key_header=config.api_key_header,
        json_schema=config.json_schema,
        strict=config.strict,
        stream_options=config.stream_options,
        max_tokens_field=config.max_tokens_field,
        reasoning_field=config.reasoning_field,
    )


def names_a_model(name: str) -> bool:
    """Whether `config_for_name` knows what `name` is (`openai:…`, `anthropic:…`, `gemini:…`,
    `gpt-…`, `claude-…`, `gemini-…`)."""
    prefix, colon, rest = name.partition(":")
    if colon:
        return prefix in PROVIDERS and bool(rest)
    return any(pattern.match(name) for pattern in _BARE_NAMES.values())


def missing_key_message(config: ModelConfig) -> str:
    """What to do when the key `config` reads is not set."""
    other = f" (or ${_GOOGLE_KEY_ENV})" if config.api_key_env == KEY_ENV["gemini"] else ""
    return (
        f"model {config.alias!r} ({config.name}) reads its API key from ${config.api_key_env}, "
        f"which is not set; set it{other}, or remove api_key_env for a server that needs no key"
    )


def _from_json(raw: str, environ: Mapping[str, str]) -> dict[str, ModelConfig]:
    if not raw.strip():
        return {}
    try:
        data: Any = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"BOSUN_MODELS is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigurationError(
            "BOSUN_MODELS must be a JSON object from alias to config, e.g. "
            '{"default": {"model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"}}'
        )
    models: dict[str, ModelConfig] = {}
    for alias, fields in data.items():
        try:
            if "model" not in fields and "provider" not in fields and names_a_model(alias):
                # Keyed by a model's name (`"anthropic:claude-haiku-4-5": {"body": …}`): that
                # model, with these settings over what the name gives.
                named = config_for_name(alias, environ).model_dump(exclude_unset=True)
                fields = {**named, **fields}
            models[alias] = ModelConfig.model_validate({**fields, "alias": alias})
        except ValidationError as exc:
            raise ConfigurationError(
                f"BOSUN_MODELS[{alias!r}] is invalid: {describe_validation_error(exc)}"
            ) from exc
    return models


def _from_shortcut(environ: Mapping[str, str]) -> ModelConfig | None:
    base_url = environ.get("BOSUN_LLM_BASE_URL") or None
    model = environ.get("BOSUN_LLM_MODEL") or None
    has_key = bool(environ.get(_SHORTCUT_KEY_ENV))
    if model is None:
        if base_url is not None or has_key:
            raise ConfigurationError(
                "BOSUN_LLM_BASE_URL or BOSUN_LLM_API_KEY is set but BOSUN_LLM_MODEL is not: "
                "set it to the server's model name (e.g. gpt-4o-mini, llama3.1)"
            )
        return None
    if base_url is None and names_a_model(model):
        # A model of OpenAI's or Anthropic's own API (`gpt-4o`, `anthropic:claude-…`): as if
        # named in code (its provider's key variable), but BOSUN_LLM_API_KEY when set.
        named = config_for_name(model, environ, alias="default")
        if has_key:
            named = named.model_copy(update={"api_key_env": _SHORTCUT_KEY_ENV})
        return named
    return ModelConfig(
        alias="default",
        model=model,
        base_url=base_url,
        api_key_env=_SHORTCUT_KEY_ENV if has_key else None,
    )
