"""`OpenAIProvider`: the OpenAI chat-completions protocol, for every server that speaks it.

Base URLs: OpenAI `https://api.openai.com/v1`; vLLM, TGI and LM Studio `http://host:port/v1`;
Ollama `http://localhost:11434/v1`; Azure OpenAI the resource's `…/openai/v1` endpoint with
`api_key_header="api-key"` (and `params={"api-version": …}` for the dated API versions).

Each call is exactly one HTTP request: the provider never retries. Failures become a
`ProviderError` whose `retryable` says whether to try again (429, 408, 409, 5xx, lost
connections and timeouts are; other 4xx and unreadable answers are not), and a 429 becomes
`ProviderRateLimited` with the server's `Retry-After`, so the runtime can back off durably.

Timeouts are progress-based: `idle_timeout` bounds each wait for the next bytes, never the
whole call, so a long generation that keeps streaming is not cut off, and a hung one fails
with `ProviderTimeout` in `idle_timeout` seconds. A non-streamed call sends nothing until the
whole answer is ready, so there `idle_timeout` bounds the generation itself: stream long ones.

What comes back is read through pydantic models (`_Completion`, `_Chunk`…) whose fields are
those of the official `openai` package's types (`ChatCompletion`, `ChatCompletionChunk`; a
test holds them to it), plus the reasoning fields vLLM, DeepSeek and Ollama add. They are
lenient where servers differ (unknown fields ignored, `finish_reason` any string, tool-call
arguments as an object, `index` missing) and strict where a missing field means the answer
cannot be read. The official SDK is not used for transport: see docs/agents.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bosun.agents.errors import ProviderError, ProviderRateLimited, ProviderTimeout
from bosun.agents.messages import (
    ChatRequest,
    ChatResponse,
    Message,
    StreamDelta,
    ToolCall,
    Usage,
)
from bosun.agents.structured import strict_schema
from bosun.agents.wire_parts import openai_content
from bosun.errors import ConfigurationError
from bosun.retry import retry_after_seconds
from bosun.sse import EventStreamDecoder
from bosun.version import __version__

__all__ = ["DEFAULT_BASE_URL", "OpenAIProvider", "WireOptions", "request_body"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_EXCERPT_CHARS = 300  # of an unexpected answer, enough to say what it was
_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_TOOL_CHOICES = frozenset({"auto", "none", "required"})
_RETRYABLE_STATUSES = frozenset({408, 409, 429})  # and every 5xx
# Hosts whose API refuses `max_tokens` for reasoning models and takes `max_completion_tokens`.
_COMPLETION_TOKENS_HOSTS = ("api.openai.com", ".openai.azure.com")
_HINTS = {
    401: "; check the API key (BOSUN_LLM_API_KEY or the model's api_key_env)",
    403: "; the API key may lack access to this model",
    404: "; check the base URL (it usually ends in /v1) and the model name",
}


class OpenAIProvider:
    """A provider for any OpenAI-compatible chat-completions API.

    Args:
        base_url: the API root, e.g. `https://api.openai.com/v1` or `http://localhost:8000/v1`;
            requests go to `{base_url}/chat/completions` and `{base_url}/embeddings`.
        api_key: the key, sent as `Authorization: Bearer …` (or in `api_key_header`); `None`
            for local servers that need none.
        timeout: seconds to connect, to send, and to wait for the next bytes when a call
            gives no `idle_timeout`. Never a limit on a whole streamed call.
        client: an `httpx.AsyncClient` to use (proxies, tests); the provider makes and owns
            one when omitted, closed by `aclose`.
        headers: more headers for every request (organisation, project, gateway tokens).
        params: query parameters for every request (Azure's `api-version`).
        api_key_header: the header that carries the key: `Authorization` (as a bearer token)
            or, for Azure, `api-key` (as it is).
        json_schema: send `response_format` as a JSON schema for structured output; when
            `False` (servers without schema support) send `{"type": "json_object"}` instead,
            and the schema only travels in the prompt the caller writes.
        strict: send schemas and tools with `"strict": true` (OpenAI's guaranteed schema
            adherence), rewritten into the form strict mode accepts (`strict_schema`).
        stream_options: ask for usage at the end of a stream (`stream_options`); turn off
            for servers that reject the field (usage then reads as zero).
        max_tokens_field: the body field that carries `max_tokens`: `max_completion_tokens`
            (OpenAI and Azure OpenAI, whose reasoning models refuse `max_tokens`) or
            `max_tokens` (most other servers); chosen by the base URL's host when `None`.
        reasoning_field: the field that passes an assistant message's reasoning back while
            the model is in a tool loop (`reasoning_content`: vLLM, DeepSeek, SGLang;
            `reasoning`: Ollama, OpenRouter); `None` never sends it.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        timeout: float = 600.0,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        api_key_header: str = "Authorization",
        json_schema: bool = True,
        strict: bool = False,
        stream_options: bool = True,
        max_tokens_field: str | None = None,
        reasoning_field: str | None = "reasoning_content",
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL as exc:
            raise ConfigurationError(f"LLM base URL {base_url!r} is not a URL: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError(
                f"LLM base URL {base_url!r} is not an http(s) URL; use e.g. "
                f"{DEFAULT_BASE_URL} or http://localhost:8000/v1"
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        if max_tokens_field is None:
            host = url.host.lower()
            wants_completion = any(
                host == h or (h.startswith(".") and host.endswith(h))
                for h in _COMPLETION_TOKENS_HOSTS
            )
            max_tokens_field = "max_completion_tokens" if wants_completion else "max_tokens"
        self.options = WireOptions(
            json_schema=json_schema,
            strict=strict,
            stream_options=stream_options,
            max_tokens_field=max_tokens_field,
            reasoning_field=reasoning_field,
        )
        self._origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
        self._headers = {"User-Agent": f"bosun/{__version__}", **(headers or {})}
        if api_key:
            bearer = api_key_header.lower() == "authorization"
            self._headers[api_key_header] = f"Bearer {api_key}" if bearer else api_key
        self._params = dict(params or {})
        self._client = client
        self._owns_client = client is None

    async def chat(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> ChatResponse:
        """The complete answer to `request`, in one non-streamed call (see `Provider.chat`)."""
        body = request_body(request, self.options, stream=False)
        async with self._exchange("/chat/completions", body, idle_timeout) as response:
            data = self._decode(await response.aread())
        return self._completion(data, request.model)

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> AsyncIterator[StreamDelta | ChatResponse]:
        """Text deltas as the server sends them, then the assembled `ChatResponse` (see
        `Provider.stream`). Usage comes from the last chunk (`stream_options.include_usage`)."""
        body = request_body(request, self.options, stream=True)
        async with self._exchange("/chat/completions", body, idle_timeout) as response:
            if response.headers.get("content-type", "").startswith("application/json"):
                # The server ignored `stream: true` and answered in one piece.
                completion = self._completion(self._decode(await response.aread()), request.model)
                if completion.message.reasoning:
                    yield StreamDelta(reasoning=completion.message.reasoning)
                if completion.message.content:
                    yield StreamDelta(text=completion.message.content)
                yield completion
                return
            assembly = _Assembly(model=request.model)
            decoder = EventStreamDecoder()
            async for chunk in response.aiter_bytes():
                for data in decoder.feed(chunk):
                    if data.strip() == "[DONE]":
                        assembly.done = True
                        break
                    for delta in assembly.feed(self._event(data)):
                        yield delta
                if assembly.done:
                    break
            if not assembly.done and assembly.finish_reason is None:
                raise ProviderError(
                    f"{self._origin} closed the stream before it finished (no [DONE])",
                    retryable=True,
                    status=response.status_code,
                )
        yield assembly.response()

    async def embed(self, model: str, texts: list[str]) -> tuple[list[list[float]], Usage]:
        """One embedding per text, in order, from `POST {base_url}/embeddings`."""
        if not texts:
            return [], Usage()
        body = {"model": model, "input": texts}
        async with self._exchange("/embeddings", body, None) as response:
            data = self._decode(await response.aread())
        try:
            items = sorted(data["data"], key=lambda item: int(item.get("index", 0)))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
            usage = Usage(prompt_tokens=int((data.get("usage") or {}).get("prompt_tokens", 0)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._unexpected("embeddings", data, exc) from exc
        if len(vectors) != len(texts):
            raise ProviderError(
                f"{self._origin} returned {len(vectors)} embeddings for {len(texts)} texts",
                retryable=False,
                status=200,
            )
        return vectors, usage

    async def aclose(self) -> None:
        """Close the provider's own HTTP client (a client passed in is the caller's)."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> OpenAIProvider:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- HTTP -------------------------------------------------------------------------------

    @asynccontextmanager
    async def _exchange(
        self, path: str, body: dict[str, Any], idle_timeout: float | None
    ) -> AsyncIterator[httpx.Response]:
        """POST `body` and yield the streamed response once its status is a success; every
        transport failure, while sending or while reading, becomes a `ProviderError`."""
        if self._client is None:
            self._client = httpx.AsyncClient()
        idle = self.timeout if idle_timeout is None else idle_timeout
        request = self._client.build_request(
            "POST",
            f"{self.base_url}{path}",
            json=body,
            headers=self._headers,
            params=self._params,
            # The read timeout applies to each wait for bytes: progress, not the whole call.
            timeout=httpx.Timeout(self.timeout, read=idle),
        )
        try:
            response = await self._client.send(request, stream=True)
            try:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response)
                yield response
            finally:
                await response.aclose()
        except httpx.ReadTimeout as exc:
            raise ProviderTimeout(
                f"{self._origin} sent nothing for {idle:g} s (idle timeout): the server is "
                f"overloaded or the connection hung"
            ) from exc
        except httpx.TimeoutException as exc:
            raise ProviderError(
                f"{self._origin} timed out ({type(exc).__name__}) after {self.timeout:g} s",
                retryable=True,
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"{self._origin} could not be reached or dropped the connection: "
                f"{type(exc).__name__}: {exc}",
                retryable=True,
            ) from exc

    def _status_error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        where = f"{self._origin} answered {status} {response.reason_phrase}"
        detail = _error_detail(response)
        if status == 429:
            retry_after = _retry_after(response.headers)
            wait = "" if retry_after is None else f"; retry in {retry_after:g} s"
            return ProviderRateLimited(f"{where}: {detail}{wait}", retry_after=retry_after)
        retryable = status >= 500 or status in _RETRYABLE_STATUSES
        return ProviderError(
            f"{where}: {detail}{_HINTS.get(status, '')}", retryable=retryable, status=status
        )

    def _decode(self, raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ProviderError(
                f"{self._origin} answered something that is not JSON: {_excerpt(raw)!r}; check "
                f"that the base URL points at an OpenAI-compatible API (it usually ends in /v1)",
                retryable=False,
                status=200,
            ) from exc

    def _event(self, data: str) -> _Chunk:
        event = self._decode(data.encode())
        if not isinstance(event, dict):
            raise self._unexpected("stream event", event, None)
        if "error" in event:
            raise ProviderError(
                f"{self._origin} failed mid-stream: {_message_of(event['error'])}", retryable=True
            )
        try:
            return _Chunk.model_validate(event)
        except ValidationError as exc:
            raise self._unexpected("stream chunk", event, exc) from exc

    def _completion(self, data: Any, model: str) -> ChatResponse:
        try:
            completion = _Completion.model_validate(data)
            choice = completion.choices[0]
            message = choice.message
            calls = [_tool_call(raw, i) for i, raw in enumerate(message.tool_calls or [])]
        except (IndexError, ValueError, ValidationError) as exc:
            raise self._unexpected("chat completion", data, exc) from exc
        return ChatResponse(
            message=Message(
                role="assistant",
                content=_text(message.content),
                tool_calls=calls,
                reasoning=_reasoning(message),
            ),
            usage=_usage(completion.usage),
            finish_reason=choice.finish_reason,
            model=completion.model or model,
            raw_id=completion.id,
            refusal=message.refusal or None,
        )

    def _unexpected(self, what: str, data: Any, exc: Exception | None) -> ProviderError:
        why = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        return ProviderError(
            f"{self._origin} answered a {what} without the expected fields{why}: "
            f"{_excerpt(json.dumps(data).encode())}",
            retryable=False,
            status=200,
        )


# -- wire format ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WireOptions:
    """How one model's server wants its requests written (see `OpenAIProvider`'s arguments
    of the same names)."""

    json_schema: bool = True
    strict: bool = False
    stream_options: bool = True
    max_tokens_field: str = "max_tokens"
    reasoning_field: str | None = "reasoning_content"


def request_body(
    request: ChatRequest, options: WireOptions = WireOptions(), *, stream: bool
) -> dict[str, Any]:
    """The JSON body of `POST /chat/completions` for `request`."""
    # Reasoning goes back only for the turn in progress: the assistant messages after the
    # last user message (a tool loop), where DeepSeek requires it and the chat templates of
    # Qwen3, GLM and Kimi render it; older turns' reasoning is dropped, as those APIs want.
    last_user = max(
        (i for i, message in enumerate(request.messages) if message.role == "user"), default=-1
    )
    echo = options.reasoning_field
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [
            _wire_message(message, echo if i > last_user else None)
            for i, message in enumerate(request.messages)
        ],
    }
    if request.tools:
        body["tools"] = [_wire_tool(spec.model_dump(), options.strict) for spec in request.tools]
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = (
            choice
            if choice in _TOOL_CHOICES
            else {"type": "function", "function": {"name": choice}}
        )
    if request.response_schema is not None:
        body["response_format"] = _response_format(request, options)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body[options.max_tokens_field] = request.max_tokens
    if stream:
        body["stream"] = True
        if options.stream_options:
            body["stream_options"] = {"include_usage": True}
    body.update(request.extra)
    return body


def _wire_tool(spec: dict[str, Any], strict: bool) -> dict[str, Any]:
    function = {key: value for key, value in spec.items() if value != ""}
    if strict:
        function["parameters"] = strict_schema(function["parameters"])
        function["strict"] = True
    return {"type": "function", "function": function}


def _response_format(request: ChatRequest, options: WireOptions) -> dict[str, Any]:
    if not options.json_schema:
        return {"type": "json_object"}
    name = _SCHEMA_NAME.sub("_", request.schema_name or "output")[:64] or "output"
    schema = request.response_schema or {}
    if options.strict:
        schema = strict_schema(schema)
    described = {"name": name, "schema": schema, "strict": options.strict}
    return {"type": "json_schema", "json_schema": described}


def _wire_message(message: Message, reasoning_field: str | None) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": openai_content(message)}
    if message.tool_calls:
        wire["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    elif message.content is None:
        wire["content"] = ""  # only an assistant message with tool calls may have none
    if message.tool_call_id is not None:
        wire["tool_call_id"] = message.tool_call_id
    if message.name is not None and message.role != "tool":
        wire["name"] = message.name  # tool messages carry only the call's id on the wire
    if reasoning_field is not None and message.role == "assistant" and message.reasoning:
        wire[reasoning_field] = message.reasoning
    return wire


# What comes back: the fields of the `openai` package's types that bosun reads, under the same
# names (tests/integration/test_openai_provider.py holds them to it), plus the reasoning
# fields of vLLM, DeepSeek and Ollama. Unknown fields are ignored.


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Function(_Wire):
    """`ChoiceDeltaToolCallFunction` / `Function`: `arguments` is JSON text, or an object
    (some servers)."""

    name: str | None = None
    arguments: Any = None


class _ToolCall(_Wire):
    """`ChoiceDeltaToolCall` / `ChatCompletionMessageToolCall`."""

    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: _Function | None = None


class _Message(_Wire):
    """`ChatCompletionMessage` / `ChoiceDelta`; `content` may be a list of parts (some
    servers), `reasoning_content` (vLLM, DeepSeek) or `reasoning` (Ollama, OpenRouter, newer
    vLLM) holds the model's reasoning."""

    role: str | None = None
    content: str | list[Any] | None = None
    refusal: str | None = None
    tool_calls: list[_ToolCall] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None


class _PromptTokensDetails(_Wire):
    cached_tokens: int | None = None


class _CompletionTokensDetails(_Wire):
    reasoning_tokens: int | None = None


class _Usage(_Wire):
    """`CompletionUsage`."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: _PromptTokensDetails | None = None
    completion_tokens_details: _CompletionTokensDetails | None = None


class _Choice(_Wire):
    """`chat_completion.Choice`; `finish_reason` is any string (vLLM says `abort`…)."""

    index: int | None = 0
    message: _Message
    finish_reason: str | None = None


class _Completion(_Wire):
    """`ChatCompletion`."""

    id: str | None = None
    model: str | None = None
    choices: list[_Choice] = Field(min_length=1)
    usage: _Usage | None = None


class _ChunkChoice(_Wire):
    """`chat_completion_chunk.Choice`."""

    index: int | None = 0
    delta: _Message | None = None
    finish_reason: str | None = None


class _Chunk(_Wire):
    """`ChatCompletionChunk`."""

    id: str | None = None
    model: str | None = None
    choices: list[_ChunkChoice] | None = None
    usage: _Usage | None = None


def _text(content: str | list[Any] | None) -> str | None:
    """The text of `content`: a string, or the text of a list of parts."""
    if content is None or isinstance(content, str):
        return content
    return "".join(
        str(part.get("text") or "")
        for part in content
        if isinstance(part, dict) and part.get("type", "text") == "text"
    )


def _reasoning(message: _Message) -> str | None:
    # vLLM sends both names while it moves from one to the other: never count it twice.
    return message.reasoning_content or message.reasoning or None


def _tool_call(raw: _ToolCall, position: int) -> ToolCall:
    function = raw.function
    if function is None or not function.name:
        raise ValueError(f"tool call {position} has no function name")
    arguments = function.arguments
    if not isinstance(arguments, str):  # some servers send an object, not JSON text
        arguments = json.dumps(arguments if arguments is not None else {})
    return ToolCall(id=raw.id or f"call_{position}", name=function.name, arguments=arguments)


def _usage(raw: _Usage | None) -> Usage:
    if raw is None:
        return Usage()
    details = raw.prompt_tokens_details
    return Usage(
        prompt_tokens=raw.prompt_tokens or 0,
        completion_tokens=raw.completion_tokens or 0,
        cached_tokens=(details.cached_tokens or 0) if details is not None else 0,
    )


@dataclass
class _Slot:
    """One tool call being assembled."""

    index: int  # on the wire, or its opening position when the server sent none
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class _Assembly:
    """A streamed completion put back together from its chunks."""

    model: str
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    calls: list[_Slot] = field(default_factory=list)  # in the order they opened
    open_at: dict[int, _Slot] = field(default_factory=dict)  # the call open at each index
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    raw_id: str | None = None
    done: bool = False

    def feed(self, chunk: _Chunk) -> list[StreamDelta]:
        """Take one chunk; return its new reasoning and text."""
        self.model = chunk.model or self.model
        self.raw_id = chunk.id or self.raw_id
        if chunk.usage is not None:
            self.usage = _usage(chunk.usage)
        deltas: list[StreamDelta] = []
        for choice in chunk.choices or []:
            if (choice.index or 0) != 0:
                continue  # only the first choice is asked for (n is never sent)
            delta = choice.delta or _Message()
            reasoning = _reasoning(delta)
            if reasoning:
                self.reasoning.append(reasoning)
                deltas.append(StreamDelta(reasoning=reasoning))
            text = _text(delta.content)
            if text:
                self.text.append(text)
                deltas.append(StreamDelta(text=text))
            if delta.refusal:
                self.refusal.append(delta.refusal)
            for fragment in delta.tool_calls or []:
                self._add_call(fragment)
            self.finish_reason = choice.finish_reason or self.finish_reason
        return deltas

    def _slot(self, fragment: _ToolCall) -> _Slot:
        """The call `fragment` belongs to, opened if it is new."""
        new_id = fragment.id or ""
        if fragment.index is None:  # servers that omit it send one call per fragment
            known = [slot for slot in self.calls if new_id and slot.id == new_id]
            if known:
                return known[0]
            if self.calls and not new_id:
                return self.calls[-1]
            slot = _Slot(index=len(self.calls))
        else:
            open_slot = self.open_at.get(fragment.index)
            # Ollama sends each of several parallel calls whole, all at index 0, with ids of
            # their own: a new id at an occupied index opens a new call.
            if open_slot is not None and not (new_id and open_slot.id and new_id != open_slot.id):
                return open_slot
            slot = _Slot(index=fragment.index)
            self.open_at[fragment.index] = slot
        self.calls.append(slot)
        return slot

    def _add_call(self, fragment: _ToolCall) -> None:
        slot = self._slot(fragment)
        slot.id = slot.id or fragment.id or ""
        function = fragment.function or _Function()
        name = function.name or ""
        if name != slot.name:  # sent once by OpenAI, repeated by some servers
            slot.name += name
        if isinstance(function.arguments, str):
            slot.arguments += function.arguments
        elif function.arguments is not None:
            slot.arguments = json.dumps(function.arguments)

    def response(self) -> ChatResponse:
        ordered = sorted(self.calls, key=lambda slot: slot.index)  # stable: opening order
        calls = [
            ToolCall(id=slot.id or f"call_{i}", name=slot.name, arguments=slot.arguments or "{}")
            for i, slot in enumerate(ordered)
        ]
        content = "".join(self.text) if self.text or not calls else None
        return ChatResponse(
            message=Message(
                role="assistant",
                content=content,
                tool_calls=calls,
                reasoning="".join(self.reasoning) or None,
            ),
            usage=self.usage,
            finish_reason=self.finish_reason,
            model=self.model,
            raw_id=self.raw_id,
            refusal="".join(self.refusal) or None,
        )


# -- errors -----------------------------------------------------------------------------------


def _excerpt(raw: bytes) -> str:
    return raw[:_EXCERPT_CHARS].decode("utf-8", "replace").strip()


def _message_of(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("detail") or json.dumps(error))
    return str(error)


def _error_detail(response: httpx.Response) -> str:
    """The server's own explanation: OpenAI's `{"error": {"message"}}`, vLLM's and FastAPI's
    variants, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return _excerpt(response.content) or "(empty body)"
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            if body.get(key):
                return _message_of(body[key])
    return _excerpt(response.content)


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `Retry-After` (seconds or a date)."""
    return retry_after_seconds(headers)
