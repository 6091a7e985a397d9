"""`AnthropicProvider`: Claude through Anthropic's Messages API, with the official `anthropic` SDK.

The SDK is an optional extra (`pip install 'bosun[anthropic]'`). `import bosun` does not load
it: the provider imports it when it first calls, in a thread (a first import takes a second or
more, which would stall every run on the worker's event loop), and says which extra to install
when it is missing.

The SDK does the transport, with `max_retries=0`: each call is one HTTP request, and the
runtime retries on durable timers (docs/agents.md says why the SDK rather than `httpx`). Its
errors become `ProviderError`s: 429 is `ProviderRateLimited` with the server's `retry-after`
(or the reset time of the exhausted limit), 529 (overloaded) is `ProviderRateLimited` with
status 529, other 5xx, 408, 409, lost connections and timeouts are retryable, an `error` event
in the middle of a stream is retryable when its type says so (`overloaded_error`,
`api_error`…), and other 4xx are not (a spend limit reached is not either, though it is a
429). `idle_timeout` is the SDK's read timeout: it bounds each wait for bytes, never a whole
streamed call.

A `ChatRequest` becomes a Messages API request (`request_params`):

- system messages become the top-level `system`; tool results become `tool_result` blocks,
  those of one turn in one user message (parallel tool use); `tool_choice` `required` is
  Anthropic's `any`; `max_tokens`, which the API requires, defaults to `DEFAULT_MAX_TOKENS`
  more than a thinking budget given in `extra`.
- An assistant message's thinking blocks (`Message.reasoning_blocks`, with their signatures;
  redacted ones as their encrypted data) go back first in its content, unchanged, as the API
  requires while the model is in a tool loop.
- With `prompt_cache` (the default) the request carries `cache_control` breakpoints: on the
  last tool, the last system block, and the last block of the last two user turns; a
  conversation that grows turn by turn reads its prefix from the cache.
- `extra` (the model's `body` and a call's `extra=`) is sent as it is: `thinking`,
  `output_config`, `metadata`, `stop_sequences`, `top_k`, `service_tier`… over the fields above.

And the answer becomes a `ChatResponse`: text blocks joined into `content`, `tool_use` blocks
into tool calls (their arguments the JSON text the model streamed), thinking blocks into
`reasoning` (streamed as reasoning deltas) and `reasoning_blocks`; usage counts cache reads
(`cached_tokens`) and writes (`cache_write_tokens`) inside `prompt_tokens`; `stop_reason`
`max_tokens` reads as `finish_reason` `length`, `tool_use` as `tool_calls`, `end_turn` as
`stop`, and `refusal` fills `refusal` (so `ctx.llm` raises `Refused`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, cast

from bosun.agents.errors import ProviderError, ProviderRateLimited, ProviderTimeout
from bosun.agents.messages import (
    ChatRequest,
    ChatResponse,
    Message,
    ReasoningBlock,
    StreamDelta,
    ToolCall,
    ToolSpec,
    Usage,
    signed_by,
)
from bosun.agents.provider import load_sdk as load_vendor_sdk
from bosun.agents.provider import load_sdk_off_loop
from bosun.agents.provider import sdk_installed as vendor_sdk_installed
from bosun.agents.wire_parts import anthropic_blocks, system_and_turns
from bosun.errors import ConfigurationError
from bosun.retry import retry_after_seconds

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic, Timeout
    from anthropic.types import ContentBlock, MessageDeltaUsage, RawMessageStreamEvent
    from anthropic.types import Usage as AnthropicUsage

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "EXTRA",
    "AnthropicOptions",
    "AnthropicProvider",
    "load_sdk",
    "request_params",
    "sdk_installed",
]

_KIND = "anthropic"  # the name its reasoning blocks carry (`ReasoningBlock.provider`)

EXTRA = "anthropic"
INSTALL = f"pip install 'bosun[{EXTRA}]'"
DEFAULT_MAX_TOKENS = 4096  # the API requires max_tokens; this many when a call gives none
DEFAULT_ORIGIN = "https://api.anthropic.com"
_EPHEMERAL = {"type": "ephemeral"}
_UNCACHEABLE = frozenset({"thinking", "redacted_thinking"})  # blocks cache_control may not mark
_TOOL_CHOICES = {"auto": "auto", "required": "any", "any": "any", "none": "none"}
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
}
# The `type` of an `error` event in a stream (whose HTTP status was 200), as a status.
_STREAM_ERRORS = {
    "overloaded_error": 529,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "request_too_large": 413,
    "invalid_request_error": 400,
}
_RETRYABLE_STATUSES = frozenset({408, 409})  # and 429, 529 and every 5xx
_HINTS = {
    401: "; check the API key ($ANTHROPIC_API_KEY, or the model's api_key_env)",
    403: "; the API key may lack access to this model",
    404: "; check the model name (and the base URL)",
    413: "; the request is too large: trim the conversation or the tool results",
}
_RESET_LIMITS = ("requests", "tokens", "input-tokens", "output-tokens")


def sdk_installed() -> bool:
    """Whether the `anthropic` SDK can be imported (without importing it)."""
    return vendor_sdk_installed("anthropic")


def load_sdk() -> ModuleType:
    """The `anthropic` SDK; a `ConfigurationError` naming the extra when it is missing."""
    return load_vendor_sdk("anthropic", "Anthropic models need the anthropic SDK", INSTALL)


@dataclass(frozen=True)
class AnthropicOptions:
    """How requests are written (see `AnthropicProvider`'s arguments of the same names)."""

    prompt_cache: bool = True
    strict: bool = False
    max_tokens: int = DEFAULT_MAX_TOKENS


class AnthropicProvider:
    """A provider for Anthropic's Messages API (Claude), through the official SDK.

    Args:
        api_key: the key; `None` leaves credentials to the SDK (`ANTHROPIC_API_KEY`,
            `ANTHROPIC_AUTH_TOKEN`, its profiles).
        base_url: the API root; Anthropic's (or the SDK's `ANTHROPIC_BASE_URL`) when `None`.
        timeout: seconds to connect, to send, and to wait for the next bytes when a call gives
            no `idle_timeout`. Never a limit on a whole streamed call.
        headers: more headers for every request (`anthropic-beta` for beta features).
        params: query parameters for every request.
        prompt_cache: mark `cache_control` breakpoints (the module docstring says where).
        strict: send a structured-output schema as `output_config.format` and tools with
            `strict: true` (Anthropic's structured outputs, on the models that have them),
            each schema as the SDK's `transform_schema` writes it; otherwise the schema only
            travels in the prompt `ctx.llm.structured` writes.
        max_tokens: the `max_tokens` of calls that give none.
        client: an `anthropic.AsyncAnthropic` to use (tests, proxies); made on first use
            when omitted, and closed by `aclose`. Give it `max_retries=0`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 600.0,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        prompt_cache: bool = True,
        strict: bool = False,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        client: AsyncAnthropic | None = None,
    ) -> None:
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"Anthropic base URL {base_url!r} is not an http(s) URL; use e.g. "
                f"{DEFAULT_ORIGIN} or http://localhost:8080"
            )
        self.base_url = base_url
        self.timeout = timeout
        self.options = AnthropicOptions(
            prompt_cache=prompt_cache, strict=strict, max_tokens=max_tokens
        )
        self._api_key = api_key
        self._headers = dict(headers or {})
        self._params = dict(params or {})
        self._client = client
        self._owns_client = client is None
        self._sdk: ModuleType | None = None
        self._lock = asyncio.Lock()

    async def chat(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> ChatResponse:
        """The complete answer to `request`, in one non-streamed call (see `Provider.chat`)."""
        client, sdk = await self._ready()
        params = request_params(request, self.options)
        try:
            message = await client.messages.create(
                **_arguments(params), stream=False, timeout=self._timeout(sdk, idle_timeout)
            )
        except Exception as exc:
            raise self._error(sdk, exc, idle_timeout) from exc
        try:
            blocks = [_Block.of(block) for block in message.content]
            usage = _usage(message.usage)
        except (AttributeError, TypeError, ValueError) as exc:
            raise self._unexpected(message, exc) from exc
        return _response(
            blocks,
            stop_reason=message.stop_reason,
            stop_details=_details(message.stop_details),
            usage=usage,
            model=message.model or request.model,
            raw_id=message.id,
        )

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> AsyncIterator[StreamDelta | ChatResponse]:
        """Text and thinking deltas as the server streams them, then the assembled
        `ChatResponse` (see `Provider.stream`)."""
        client, sdk = await self._ready()
        params = request_params(request, self.options)
        assembly = _Assembly(model=request.model)
        try:
            events = await client.messages.create(
                **_arguments(params), stream=True, timeout=self._timeout(sdk, idle_timeout)
            )
            async with events:
                async for event in events:
                    for delta in assembly.feed(event):
                        yield delta
        except ProviderError:
            raise
        except Exception as exc:
            raise self._error(sdk, exc, idle_timeout) from exc
        if not assembly.stopped:
            raise ProviderError(
                f"{self._origin()} closed the stream before it finished (no message_stop)",
                retryable=True,
                status=200,
            )
        yield assembly.response()

    async def aclose(self) -> None:
        """Close the provider's own SDK client (a client passed in is the caller's)."""
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> AnthropicProvider:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- the SDK ----------------------------------------------------------------------------

    async def _ready(self) -> tuple[AsyncAnthropic, ModuleType]:
        """The SDK client and module, made (and the SDK imported, off the loop) on first use."""
        if self._sdk is None or self._client is None:
            async with self._lock:
                if self._sdk is None:
                    self._sdk = await load_sdk_off_loop(load_sdk)
                if self._client is None:
                    self._client = self._sdk.AsyncAnthropic(
                        api_key=self._api_key,
                        base_url=self.base_url,
                        max_retries=0,  # the runtime retries, durably
                        timeout=self._sdk.Timeout(self.timeout),
                        default_headers=self._headers or None,
                        default_query=self._params or None,
                    )
        assert self._client is not None and self._sdk is not None
        return self._client, self._sdk

    def _timeout(self, sdk: ModuleType, idle_timeout: float | None) -> Timeout:
        idle = self.timeout if idle_timeout is None else idle_timeout
        # The read timeout bounds each wait for bytes: progress, not the whole call.
        return cast("Timeout", sdk.Timeout(self.timeout, read=idle))

    def _origin(self) -> str:
        url = str(self._client.base_url) if self._client is not None else DEFAULT_ORIGIN
        return url.rstrip("/")

    def _error(self, sdk: ModuleType, exc: Exception, idle_timeout: float | None) -> ProviderError:
        """`exc`, raised by the SDK, as a `ProviderError` that says whether to retry."""
        origin = self._origin()
        idle = self.timeout if idle_timeout is None else idle_timeout
        stalled = ProviderTimeout(
            f"{origin} sent nothing for {idle:g} s (idle timeout): the server is overloaded "
            f"or the connection hung"
        )
        if isinstance(exc, sdk.APITimeoutError):
            if type(exc.__cause__).__name__ == "ReadTimeout":
                return stalled
            return ProviderError(f"{origin} timed out: {exc}", retryable=True)
        if isinstance(exc, sdk.APIConnectionError):
            return ProviderError(
                f"{origin} could not be reached or dropped the connection: {exc}", retryable=True
            )
        if isinstance(exc, sdk.APIStatusError):
            return _status_error(origin, exc)
        # Older SDK releases let the transport's own errors out of a stream unwrapped.
        kinds = {kind.__name__ for kind in type(exc).__mro__}
        if "ReadTimeout" in kinds:
            return stalled
        if "TransportError" in kinds:
            return ProviderError(
                f"{origin} dropped the connection: {type(exc).__name__}: {exc}", retryable=True
            )
        if isinstance(exc, TypeError) and "authentication" in str(exc):
            return ProviderError(
                f"no Anthropic credentials: set ANTHROPIC_API_KEY (or the model's api_key_env) "
                f"({exc})",
                retryable=False,
            )
        if isinstance(exc, (sdk.AnthropicError, ValueError)):
            return ProviderError(f"{origin}: {type(exc).__name__}: {exc}", retryable=False)
        raise exc  # not the SDK's: a bug, shown as it is

    def _unexpected(self, message: Any, exc: Exception) -> ProviderError:
        try:
            shown = json.dumps(message.to_dict(), default=str)[:300]
        except Exception:  # anything at all: this is only for the error message
            shown = repr(message)[:300]
        return ProviderError(
            f"{self._origin()} answered a message without the expected fields "
            f"({type(exc).__name__}: {exc}): {shown}",
            retryable=False,
            status=200,
        )


# -- requests ---------------------------------------------------------------------------------


def request_params(
    request: ChatRequest, options: AnthropicOptions = AnthropicOptions()
) -> dict[str, Any]:
    """The JSON body of `POST /v1/messages` for `request` (without `stream`)."""
    system, messages = _conversation(request.messages)
    extra = dict(request.extra)
    max_tokens = request.max_tokens or extra.pop("max_tokens", None)  # the call's own wins
    extra.pop("max_tokens", None)
    if not max_tokens:
        thinking = extra.get("thinking")
        budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
        max_tokens = options.max_tokens + (budget if isinstance(budget, int) else 0)
    params: dict[str, Any] = {"model": request.model, "max_tokens": max_tokens}
    if system:
        params["system"] = system
    params["messages"] = messages
    if request.tools:
        params["tools"] = [_wire_tool(spec, options.strict) for spec in request.tools]
        if request.tool_choice is not None:
            params["tool_choice"] = _tool_choice(request.tool_choice)
    if request.response_schema is not None and options.strict:
        schema = _transform_schema(request.response_schema)
        params["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if request.temperature is not None:
        params["temperature"] = request.temperature
    output_config = extra.pop("output_config", None)
    if isinstance(output_config, dict) and isinstance(params.get("output_config"), dict):
        output_config = {**params["output_config"], **output_config}  # effort beside format
    if output_config is not None:
        params["output_config"] = output_config
    params.update(extra)
    if options.prompt_cache:
        _mark_breakpoints(params)
    return params


def _arguments(params: dict[str, Any]) -> dict[str, Any]:
    """`params` as arguments of the SDK's `messages.create`: the required fields by name, the
    rest as `extra_body`, sent as written (new API fields need no SDK release)."""
    rest = dict(params)
    required = {name: rest.pop(name) for name in ("model", "max_tokens", "messages")}
    return {**required, "extra_body": rest}


def _conversation(messages: Iterable[Message]) -> tuple[list[dict[str, Any]], list[Any]]:
    """The `system` blocks and the `messages` of a conversation."""
    return system_and_turns(
        messages, anthropic_blocks, _blocks, lambda block: block["type"] == "tool_result"
    )


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
        if isinstance(message.content, list):
            result["content"] = anthropic_blocks(message)
        elif message.content:
            result["content"] = message.content
        return [result]
    blocks: list[dict[str, Any]] = []
    if message.role == "assistant":
        for reasoning in signed_by(message, "anthropic"):
            if reasoning.redacted is not None:
                blocks.append({"type": "redacted_thinking", "data": reasoning.redacted})
            elif reasoning.signature:  # unsigned reasoning (another provider's) cannot go back
                signed = {"thinking": reasoning.text, "signature": reasoning.signature}
                blocks.append({"type": "thinking", **signed})
    blocks.extend(anthropic_blocks(message))
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call.arguments)}
        )
    return blocks


def _input(arguments: str) -> dict[str, Any]:
    """A tool call's arguments as the object the API wants back; `{}` for arguments that were
    not a JSON object (the tool already answered that they were malformed)."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _wire_tool(spec: ToolSpec, strict: bool) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": spec.name}
    if spec.description:
        tool["description"] = spec.description
    tool["input_schema"] = _transform_schema(spec.parameters) if strict else spec.parameters
    if strict:
        tool["strict"] = True
    return tool


def _transform_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` in the form Anthropic's structured outputs accept, as the SDK writes it."""
    transform = load_sdk().transform_schema
    return cast("dict[str, Any]", transform(schema))


def _tool_choice(choice: str) -> dict[str, Any]:
    known = _TOOL_CHOICES.get(choice)
    return {"type": known} if known is not None else {"type": "tool", "name": choice}


def _mark_breakpoints(params: dict[str, Any]) -> None:
    """Put `cache_control` on the last tool, the last system block, and the last cacheable
    block of the last two user turns (four: the most the API takes). Each marks the end of a
    prefix the API caches; a later request that shares the prefix reads it (the API also looks
    a few blocks back from each breakpoint for an earlier one)."""
    tools = params.get("tools")
    if isinstance(tools, list) and tools and isinstance(tools[-1], dict):
        tools[-1] = {**tools[-1], "cache_control": _EPHEMERAL}
    system = params.get("system")
    if isinstance(system, list) and system and isinstance(system[-1], dict):
        system[-1] = {**system[-1], "cache_control": _EPHEMERAL}
    users = [turn for turn in params.get("messages", []) if turn.get("role") == "user"]
    for turn in users[-2:]:
        content = turn.get("content")
        if not isinstance(content, list):
            continue
        for i in range(len(content) - 1, -1, -1):
            if content[i].get("type") not in _UNCACHEABLE:
                content[i] = {**content[i], "cache_control": _EPHEMERAL}
                break


# -- answers ----------------------------------------------------------------------------------


@dataclass
class _Block:
    """One content block of an answer, whole or being streamed."""

    type: str
    text: list[str] = field(default_factory=list)  # a text block's, or a thinking block's
    arguments: list[str] = field(default_factory=list)  # a tool_use block's streamed JSON
    input: Any = None  # a tool_use block's input as the block started (or whole)
    id: str = ""
    name: str = ""
    signature: str | None = None
    data: str | None = None

    @classmethod
    def of(cls, block: ContentBlock) -> _Block:
        """A block of the SDK's types; other kinds (server tools' blocks) keep their type."""
        if block.type == "text":
            return cls("text", text=[block.text])
        if block.type == "thinking":
            return cls("thinking", text=[block.thinking], signature=block.signature or None)
        if block.type == "redacted_thinking":
            return cls("redacted_thinking", data=block.data)
        if block.type == "tool_use":
            return cls("tool_use", input=block.input, id=block.id, name=block.name)
        return cls(str(block.type))


def _response(
    blocks: list[_Block],
    *,
    stop_reason: str | None,
    stop_details: str,
    usage: Usage,
    model: str,
    raw_id: str | None,
) -> ChatResponse:
    texts: list[str] = []
    reasoning: list[ReasoningBlock] = []
    calls: list[ToolCall] = []
    for block in blocks:
        if block.type == "text":
            texts.append("".join(block.text))
        elif block.type == "thinking":
            reasoning.append(
                ReasoningBlock(text="".join(block.text), signature=block.signature, provider=_KIND)
            )
        elif block.type == "redacted_thinking":
            reasoning.append(ReasoningBlock(redacted=block.data or "", provider=_KIND))
        elif block.type == "tool_use":
            arguments = "".join(block.arguments) or json.dumps(block.input or {})
            calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments))
    content = "".join(texts) if texts or not calls else None
    refusal = None
    if stop_reason == "refusal":
        refusal = content or stop_details or "the model declined to answer (stop_reason: refusal)"
    thoughts = "".join(block.text for block in reasoning)
    return ChatResponse(
        message=Message(
            role="assistant",
            content=content,
            tool_calls=calls,
            reasoning=thoughts or None,
            reasoning_blocks=reasoning,
        ),
        usage=usage,
        finish_reason=_FINISH.get(stop_reason or "", stop_reason),
        model=model,
        raw_id=raw_id,
        refusal=refusal,
    )


def _details(details: Any) -> str:
    """A refusal's `stop_details` in words: its category and explanation, when given."""
    if details is None:
        return ""
    category = getattr(details, "category", None)
    explanation = getattr(details, "explanation", None)
    said = [str(part) for part in (category, explanation) if part]
    return f"refused ({': '.join(said)})" if said else ""


def _usage(usage: AnthropicUsage | MessageDeltaUsage | None, into: Usage | None = None) -> Usage:
    """Anthropic's usage as bosun counts it: `input_tokens` leaves out cache reads and writes,
    `prompt_tokens` holds them. On a stream, `message_delta`'s counts are totals that replace
    those of `message_start` (`into`) where given."""
    before = into or Usage()
    if usage is None:
        return before
    read = usage.cache_read_input_tokens
    written = usage.cache_creation_input_tokens
    cached = before.cached_tokens if read is None else read
    writes = before.cache_write_tokens if written is None else written
    uncached = usage.input_tokens
    if uncached is None:
        uncached = before.prompt_tokens - before.cached_tokens - before.cache_write_tokens
    return Usage(
        prompt_tokens=uncached + cached + writes,
        completion_tokens=usage.output_tokens or 0,
        cached_tokens=cached,
        cache_write_tokens=writes,
    )


@dataclass
class _Assembly:
    """A streamed message put back together from its events."""

    model: str
    raw_id: str | None = None
    blocks: dict[int, _Block] = field(default_factory=dict)
    stop_reason: str | None = None
    stop_details: str = ""
    usage: Usage = field(default_factory=Usage)
    stopped: bool = False

    def feed(self, event: RawMessageStreamEvent) -> list[StreamDelta]:
        """Take one event; return its new text or thinking."""
        if event.type == "message_start":
            self.raw_id = event.message.id
            self.model = event.message.model or self.model
            self.usage = _usage(event.message.usage)
            for i, block in enumerate(event.message.content or []):
                self.blocks[i] = _Block.of(block)
        elif event.type == "content_block_start":
            self.blocks[event.index] = _Block.of(event.content_block)
        elif event.type == "content_block_delta":
            return self._delta(event.index, event.delta)
        elif event.type == "message_delta":
            self.stop_reason = event.delta.stop_reason
            self.stop_details = _details(event.delta.stop_details)
            self.usage = _usage(event.usage, self.usage)
        elif event.type == "message_stop":
            self.stopped = True
        return []

    def _delta(self, index: int, delta: Any) -> list[StreamDelta]:
        block = self.blocks.get(index)
        if block is None:
            raise ProviderError(
                f"the stream sent a delta for content block {index}, which never started",
                retryable=False,
                status=200,
            )
        kind = delta.type
        if kind == "text_delta" and delta.text:
            block.text.append(delta.text)
            return [StreamDelta(text=delta.text)]
        if kind == "thinking_delta" and delta.thinking:
            block.text.append(delta.thinking)
            return [StreamDelta(reasoning=delta.thinking)]
        if kind == "input_json_delta":
            block.arguments.append(delta.partial_json)
        elif kind == "signature_delta":
            block.signature = delta.signature
        return []  # citations are not kept

    def response(self) -> ChatResponse:
        return _response(
            [self.blocks[i] for i in sorted(self.blocks)],
            stop_reason=self.stop_reason,
            stop_details=self.stop_details,
            usage=self.usage,
            model=self.model,
            raw_id=self.raw_id,
        )


# -- errors -----------------------------------------------------------------------------------


def _status_error(origin: str, exc: Any) -> ProviderError:
    """An `APIStatusError`: an HTTP error answer, or an `error` event mid-stream (status 200)."""
    kind = getattr(exc, "type", None) or ""
    detail = getattr(exc, "api_message", None) or str(exc)
    status: int = exc.status_code
    if status < 400:  # an `error` event in a stream that had begun
        status = _STREAM_ERRORS.get(kind, 500)
        where, headers = f"{origin} failed mid-stream ({kind or 'error'})", None
    else:
        where, headers = f"{origin} answered {status}", exc.response.headers
    code = getattr(exc, "error_code", None) or ""
    if status in (429, 529) and "spend_limit" in code:
        return ProviderError(
            f"{where}: {detail}; a spend limit ({code}) is reached, and retrying will not help "
            f"until it is raised",
            retryable=False,
            status=status,
        )
    if status in (429, 529):
        retry_after = _retry_after(headers) if headers is not None else None
        wait = "" if retry_after is None else f"; retry in {retry_after:g} s"
        busy = " (overloaded)" if status == 529 else ""
        return ProviderRateLimited(
            f"{where}{busy}: {detail}{wait}", retry_after=retry_after, status=status
        )
    retryable = status >= 500 or status in _RETRYABLE_STATUSES
    should = headers.get("x-should-retry") if headers is not None else None
    if should in ("true", "false"):  # the server's own word on it
        retryable = should == "true"
    return ProviderError(
        f"{where}: {detail}{_HINTS.get(status, '')}", retryable=retryable, status=status
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: `retry-after-ms`, `retry-after` (seconds or a date), or else the latest
    reset time (`anthropic-ratelimit-*-reset`, RFC 3339) of the limits with nothing left."""
    asked = retry_after_seconds(headers)
    if asked is not None:
        return asked
    try:
        resets = [
            datetime.fromisoformat(reset.replace("Z", "+00:00")).timestamp()
            for limit in _RESET_LIMITS
            if headers.get(f"anthropic-ratelimit-{limit}-remaining") == "0"
            and (reset := headers.get(f"anthropic-ratelimit-{limit}-reset"))
        ]
    except (ValueError, TypeError):
        return None
    return max(0.0, max(resets) - time.time()) if resets else None
