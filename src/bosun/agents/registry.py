"""The models an App can call, by alias: configured from the environment, defined or
registered in code (a scripted provider for tests and the offline demo), or named plainly
(`"gpt-4o-mini"`, `"anthropic:claude-haiku-4-5"`) without an alias."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from bosun.agents.anthropic import INSTALL, AnthropicProvider, sdk_installed
from bosun.agents.bedrock import BedrockProvider, check_configuration
from bosun.agents.gemini import INSTALL as GEMINI_INSTALL
from bosun.agents.gemini import GeminiProvider
from bosun.agents.gemini import sdk_installed as gemini_installed
from bosun.agents.pricing import (
    ModelConfig,
    config_for_name,
    configured_models,
    default_model_problem,
    load_models,
    missing_key_message,
    names_a_model,
    provider_for,
)
from bosun.agents.provider import Provider
from bosun.agents.scripted import ScriptedProvider
from bosun.agents.structured import describe_validation_error
from bosun.engine.extensions import Extension
from bosun.errors import ConfigurationError

log = logging.getLogger("bosun.agents")


class ModelUnavailable(ConfigurationError):
    """A model's provider cannot be made (its key is not set, its SDK not installed): asking
    again will not help until the settings change."""

    retryable = False


class Models:
    """Model aliases and their providers (made on first use, shared by the App's runs)."""

    def __init__(self, configs: Mapping[str, ModelConfig] | None = None) -> None:
        self._configs: dict[str, ModelConfig] | None = dict(configs) if configs else None
        self._providers: dict[str, Provider] = {}
        self._made: set[str] = set()  # the aliases whose provider was made here, not registered
        self._defined: dict[str, ModelConfig] = {}  # aliases code defined; the environment wins

    @property
    def configs(self) -> dict[str, ModelConfig]:
        if self._configs is None:  # read the environment when a model is first needed
            self._configs = load_models(os.environ, self._defined)
        return self._configs

    def define(self, alias: str, model: str | None = None, **fields: Any) -> None:
        """Define `alias` in code, as a `BOSUN_MODELS` entry would (which, when it defines the
        same alias, wins): `app.models.define("claude", "anthropic:claude-haiku-4-5",
        body={"thinking": {"type": "enabled", "budget_tokens": 2048}})`. `model` may be a
        plain name (`gpt-4o-mini`, `anthropic:…`: the provider, key variable and known prices
        follow from it) or, with `provider=`, the provider's own name; left out, `alias` is
        taken as the model's name. The worker checks the alias when it starts."""
        name = model or alias
        named: dict[str, Any] = {"model": name}
        if "provider" not in fields and "base_url" not in fields and names_a_model(name):
            named = config_for_name(name, os.environ).model_dump(exclude_unset=True)
            named.pop("alias", None)
        config = _validated(alias, {**named, **fields})  # wrong fields fail here, at import
        self._defined[alias] = config
        if self._configs is not None and alias not in configured_models(os.environ):
            self._configs[alias] = config
            self._providers.pop(alias, None)
            self._made.discard(alias)

    def register(self, alias: str, provider: Provider, config: ModelConfig | None = None) -> None:
        """Serve `alias` with `provider` (e.g. a `ScriptedProvider`); prices from `config`."""
        kind = "openai"
        if isinstance(provider, ScriptedProvider):
            kind = "scripted"
        elif isinstance(provider, AnthropicProvider):
            kind = "anthropic"
        elif isinstance(provider, BedrockProvider):
            kind = "bedrock"
        elif isinstance(provider, GeminiProvider):
            kind = "gemini"
        self.configs[alias] = config or ModelConfig.model_validate(
            {"alias": alias, "provider": kind, "model": alias, "api_key_env": None}
        )
        self._providers[alias] = provider
        self._made.discard(alias)

    def config(self, alias: str) -> ModelConfig:
        """The config of `alias`: an alias defined in the environment or in code, or a model
        named plainly (`gpt-4o-mini`, `anthropic:claude-haiku-4-5`; see `config_for_name`).

        Raises:
            ConfigurationError: it is neither, or it is `default` while both providers' keys
                are set and nothing says which one is meant.
        """
        found = self.configs.get(alias)
        if found is not None:
            return found
        if alias == "default":
            raise ConfigurationError(default_model_problem(os.environ))
        if not names_a_model(alias):
            known = ", ".join(sorted(self.configs)) or "none"
            raise ConfigurationError(
                f"no model alias {alias!r} (known: {known}); define it in BOSUN_MODELS or with "
                f"app.models.define(), or name a model as openai:<model>, anthropic:<model>, "
                f"gemini:<model> or bedrock:<model id> (gpt-…, claude-…, gemini-… alone are "
                f"known too)"
            )
        config = self.configs[alias] = config_for_name(alias, os.environ)
        return config

    def provider(self, alias: str) -> Provider:
        """The provider of `alias`, made on first use.

        Raises:
            ModelUnavailable: its key is not set, or its provider's SDK is not installed.
        """
        provider = self._providers.get(alias)
        if provider is None:
            try:
                provider = provider_for(self.config(alias), os.environ)
            except ConfigurationError as exc:
                raise ModelUnavailable(str(exc)) from exc
            self._providers[alias] = provider
            self._made.add(alias)
        return provider

    async def aclose(self) -> None:
        """Close the providers made here from configs (those registered are their owners');
        they are made again, on the running event loop, when next needed."""
        made, self._made = self._made, set()
        for alias in made:
            provider = self._providers.pop(alias, None)
            if provider is not None:
                await provider.aclose()

    def check(self, environ: Mapping[str, str] = os.environ) -> list[str]:
        """Check, when a worker starts, that every alias the environment or code defines can be
        served: its key variable is set, its provider's SDK installed, and for Bedrock an AWS
        region and credentials found. Returns a line per alias
        for the worker's log (`default: anthropic:claude-haiku-4-5`); warns when `default` is
        the offline scripted model only because nothing else is configured, or is ambiguous.

        Raises:
            ConfigurationError: what is missing, for every alias that lacks something.
        """
        problems: list[str] = []
        lines: list[str] = []
        configs = self.configs
        # A `default` only a lone provider key made was asked for by nobody: a missing SDK
        # is a warning there (a run that uses it fails, naming the extra), not a failed start.
        derived = "default" not in self._defined and "default" not in configured_models(environ)
        for alias, config in sorted(configs.items()):
            lines.append(f"{alias}: {config.name}")
            if alias in self._providers or config.provider == "scripted":
                continue
            if config.api_key_env is not None and not environ.get(config.api_key_env):
                problems.append(missing_key_message(config))
            if config.provider == "bedrock":
                problem = check_configuration(config.model, config.region)
                if problem is not None:
                    problems.append(f"model {alias!r} ({config.name}): {problem}")
            missing = _missing_sdk(alias, config)
            if missing is not None:
                if alias == "default" and derived:
                    log.warning("%s", missing)
                else:
                    problems.append(missing)
        if problems:
            raise ConfigurationError("; ".join(problems))
        if "default" not in configs:
            log.warning("%s", default_model_problem(environ))
        elif configs["default"].provider == "scripted" and "default" not in self._providers:
            log.info(
                "model default: the offline scripted one (it answers nothing); set "
                "OPENAI_API_KEY or ANTHROPIC_API_KEY, BOSUN_LLM_MODEL or BOSUN_MODELS for a "
                "real model"
            )
        return lines


def _missing_sdk(alias: str, config: ModelConfig) -> str | None:
    """What to install for the SDK `config`'s provider needs, when it is not installed."""
    if config.provider == "anthropic" and not sdk_installed():
        return f"model {alias!r} ({config.name}) needs the anthropic SDK: {INSTALL}"
    if config.provider == "gemini" and not gemini_installed():
        return f"model {alias!r} ({config.name}) needs the google-genai SDK: {GEMINI_INSTALL}"
    return None


def _validated(alias: str, fields: Mapping[str, Any]) -> ModelConfig:
    try:
        return ModelConfig.model_validate({**fields, "alias": alias})
    except ValidationError as exc:
        raise ConfigurationError(
            f"model {alias!r} is invalid: {describe_validation_error(exc)}"
        ) from exc


MODELS: Extension[Models] = Extension("bosun.agents.models")
"""The App's model aliases, as runs get them (for `ctx.llm` and `ctx.memory`)."""
