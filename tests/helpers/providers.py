"""What the provider tests (Anthropic, Gemini, Bedrock) share: reading a stream whole, and
waiting for a run to park on its signal."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from bosun.agents.messages import ChatRequest, ChatResponse, StreamDelta
from bosun.agents.provider import Provider
from tests.helpers.wait import wait_until


async def collect(
    provider: Provider, request: ChatRequest, idle_timeout: float | None = None
) -> tuple[list[StreamDelta], ChatResponse]:
    """Every delta of a streamed call, then its one final response (checked to come last)."""
    deltas: list[StreamDelta] = []
    final: list[ChatResponse] = []
    async with aclosing(provider.stream(request, idle_timeout=idle_timeout)) as stream:
        async for item in stream:
            if isinstance(item, StreamDelta):
                assert not final, "a delta came after the final response"
                deltas.append(item)
            else:
                final.append(item)
    assert len(final) == 1
    return deltas, final[0]


async def suspended(handle: Any) -> None:
    """Wait for the run of `handle` to be suspended (on the signal it waits for)."""

    async def check() -> bool:
        return bool((await handle.status()).status == "suspended")

    await wait_until(check, 30, "the run to wait for its signal")
