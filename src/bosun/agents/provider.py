"""The protocol every LLM provider implements.

A provider turns one `ChatRequest` into one `ChatResponse`, either at once (`chat`) or as a
stream of text deltas followed by the complete response (`stream`). It does not retry: errors
say whether they are `retryable`, and the runtime decides when to try again (durably).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Protocol

from bosun.agents.errors import ProviderError
from bosun.agents.messages import ChatRequest, ChatResponse, StreamDelta, Usage
from bosun.errors import ConfigurationError

__all__ = ["Embedder", "Provider"]


class Provider(Protocol):
    """Something that answers chat requests: `OpenAIProvider`, `AnthropicProvider`,
    `ScriptedProvider`, …"""

    async def chat(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> ChatResponse:
        """The complete answer to `request`.

        Args:
            request: the conversation, tools and options.
            idle_timeout: fail with `ProviderTimeout` when no byte arrives for this many
                seconds (the provider's own default when `None`).

        Raises:
            ProviderError: the call failed; `retryable` says whether to try again.
        """
        ...

    def stream(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> AsyncIterator[StreamDelta | ChatResponse]:
        """Text deltas as they are generated, then exactly one `ChatResponse`: the whole
        message with its tool calls assembled, and the usage.

        Raises:
            ProviderError: the call failed (possibly after some deltas were yielded).
        """
        ...

    async def aclose(self) -> None:
        """Release connections; the provider is not used afterwards."""
        ...


class Embedder(Protocol):
    """Something that turns texts into vectors, for memory search."""

    async def embed(self, model: str, texts: list[str]) -> tuple[list[list[float]], Usage]:
        """One vector per text, in order, and the tokens it took.

        Raises:
            ProviderError: the call failed; `retryable` says whether to try again.
        """
        ...


def sdk_installed(module: str) -> bool:
    """Whether a vendor SDK (an optional extra) can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a namespace (`google`) that is not there at all
        return False


def load_sdk(module: str, needs: str, install: str) -> ModuleType:
    """Import a vendor SDK.

    Raises:
        ConfigurationError: it is not installed: "`needs`, which is not installed: `install`".
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigurationError(f"{needs}, which is not installed: {install}") from exc


async def load_sdk_off_loop(load: Callable[[], ModuleType]) -> ModuleType:
    """`load()` in a thread (an SDK's first import can take half a second); a missing SDK is
    a `ProviderError` no retry will mend."""
    try:
        return await asyncio.to_thread(load)
    except ConfigurationError as exc:
        raise ProviderError(str(exc), retryable=False) from exc
