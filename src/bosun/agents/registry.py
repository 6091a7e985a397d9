"""The models an App can call, by alias: configured from the environment, or registered in
code (a scripted provider for tests and the offline demo)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from bosun.agents.pricing import ModelConfig, load_models, provider_for
from bosun.agents.provider import Provider
from bosun.agents.scripted import ScriptedProvider
from bosun.errors import ConfigurationError


class Models:
    """Model aliases and their providers (made on first use, shared by the App's runs)."""

    def __init__(self, configs: Mapping[str, ModelConfig] | None = None) -> None:
        self._configs: dict[str, ModelConfig] | None = dict(configs) if configs else None
        self._providers: dict[str, Provider] = {}

    @property
    def configs(self) -> dict[str, ModelConfig]:
        if self._configs is None:  # read the environment when a model is first needed
            self._configs = load_models(os.environ)
        return self._configs

    def register(self, alias: str, provider: Provider, config: ModelConfig | None = None) -> None:
        """Serve `alias` with `provider` (e.g. a `ScriptedProvider`); prices from `config`."""
        self.configs[alias] = config or ModelConfig(
            alias=alias,
            provider="scripted" if isinstance(provider, ScriptedProvider) else "openai",
            model=alias,
        )
        self._providers[alias] = provider

    def config(self, alias: str) -> ModelConfig:
        try:
            return self.configs[alias]
        except KeyError:
            known = ", ".join(sorted(self.configs)) or "none"
            raise ConfigurationError(
                f"no model alias {alias!r} (known: {known}); define it in BOSUN_MODELS or "
                f"with app.models.register()"
            ) from None

    def provider(self, alias: str) -> Provider:
        provider = self._providers.get(alias)
        if provider is None:
            provider = self._providers[alias] = provider_for(self.config(alias), os.environ)
        return provider
