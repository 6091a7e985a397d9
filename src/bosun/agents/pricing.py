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
  overrides) the `default` alias as an OpenAI-compatible model: `BOSUN_LLM_MODEL` is needed,
  the base URL defaults to OpenAI's, the key is read from `BOSUN_LLM_API_KEY` when set.

With none of them set, `default` is the scripted provider: everything runs offline.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bosun.agents.messages import Usage
from bosun.agents.openai import DEFAULT_BASE_URL, OpenAIProvider
from bosun.agents.provider import Provider
from bosun.agents.scripted import ScriptedProvider
from bosun.agents.structured import describe_validation_error
from bosun.errors import ConfigurationError

__all__ = ["ENVIRONMENT", "ModelConfig", "load_models", "provider_for"]

ENVIRONMENT = {
    "BOSUN_MODELS": "JSON object of model aliases: provider, model, base_url, api_key_env, "
    "prices per million tokens, context_tokens",
    "BOSUN_LLM_BASE_URL": "OpenAI-compatible API root of the `default` model "
    f"(default {DEFAULT_BASE_URL})",
    "BOSUN_LLM_MODEL": "provider-side name of the `default` model; unset: the offline scripted one",
    "BOSUN_LLM_API_KEY": "API key of the `default` model",
}

_SHORTCUT_KEY_ENV = "BOSUN_LLM_API_KEY"


class ModelConfig(BaseModel):
    """One model alias.

    Attributes:
        alias: the name code uses (`default`, `fast`…).
        provider: `openai` (any OpenAI-compatible server) or `scripted` (offline).
        model: the provider-side model name (`gpt-4o-mini`, `Qwen/Qwen2.5-7B-Instruct`…).
        base_url: the API root; OpenAI's when `None`.
        api_key_env: the environment variable holding the API key; no key when `None`.
        api_key_header: `Authorization` (bearer) or `api-key` (Azure).
        headers: more headers for every request.
        params: query parameters for every request (Azure's `api-version`).
        input_per_million: USD per million uncached input tokens.
        output_per_million: USD per million output tokens.
        cached_input_per_million: USD per million cached input tokens; the input price when
            `None`.
        context_tokens: the context window, for trimming history; unknown when `None`.
        json_schema: whether the server accepts a JSON schema as `response_format`.
        requests_per_minute, tokens_per_minute: the provider's limits for this model,
            shared by every worker (a rate limit named `llm:<alias>`); none when `None`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    alias: str
    provider: Literal["openai", "scripted"] = "openai"
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    api_key_header: str = "Authorization"
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    input_per_million: float = Field(0.0, ge=0)
    output_per_million: float = Field(0.0, ge=0)
    cached_input_per_million: float | None = Field(None, ge=0)
    context_tokens: int | None = Field(None, gt=0)
    json_schema: bool = True
    requests_per_minute: int | None = Field(None, gt=0)
    tokens_per_minute: int | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _scripted_needs_no_model(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("provider") == "scripted":
            return {"model": "scripted", **data}
        return data

    def cost(self, usage: Usage) -> float:
        """The price in USD of `usage` at this model's rates."""
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        cached_rate = self.cached_input_per_million
        if cached_rate is None:
            cached_rate = self.input_per_million
        total = (
            (usage.prompt_tokens - cached) * self.input_per_million
            + cached * cached_rate
            + usage.completion_tokens * self.output_per_million
        )
        return total / 1_000_000


def load_models(environ: Mapping[str, str] = os.environ) -> dict[str, ModelConfig]:
    """The model aliases the environment defines; there is always a `default`.

    Raises:
        ConfigurationError: `BOSUN_MODELS` is not a JSON object of valid configs, or the
            `BOSUN_LLM_*` shortcut is incomplete.
    """
    models = _from_json(environ.get("BOSUN_MODELS", ""))
    shortcut = _from_shortcut(environ)
    if shortcut is not None:
        models["default"] = shortcut
    models.setdefault(
        "default", ModelConfig(alias="default", provider="scripted", model="scripted")
    )
    return models


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
            raise ConfigurationError(
                f"model {config.alias!r} reads its API key from ${config.api_key_env}, which is "
                f"not set; set it, or remove api_key_env for a server that needs no key"
            )
    return OpenAIProvider(
        config.base_url or DEFAULT_BASE_URL,
        api_key,
        headers=config.headers,
        params=config.params,
        api_key_header=config.api_key_header,
        json_schema=config.json_schema,
    )


def _from_json(raw: str) -> dict[str, ModelConfig]:
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
    return ModelConfig(
        alias="default",
        model=model,
        base_url=base_url,
        api_key_env=_SHORTCUT_KEY_ENV if has_key else None,
    )
