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
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
from pydantic import ValidationError

from bosun.agents.errors import ProviderError, ProviderRateLimited, ProviderTimeout
from bosun.agents.messages import (
    ChatRequest,
    ChatResponse,
    Message,
    StreamDelta,
    ToolCall,
    Usage,
)
from bosun.client.sse import EventStreamDecoder
from bosun.errors import ConfigurationError

__all__ = ["DEFAULT_BASE_URL", "OpenAIProvider", "request_body"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_EXCERPT_CHARS = 300  # of an unexpected answer, enough to say what it was
_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_TOOL_CHOICES = frozenset({"auto", "none", "required"})
_RETRYABLE_STATUSES = frozenset({408, 409, 429})  # and every 5xx
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
    ) -> None:
        import bosun  # here, not at the top: `bosun` itself may import the agents

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
        self.json_schema = json_schema
        self._origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
        self._headers = {"User-Agent": f"bosun/{bosun.__version__}", **(headers or {})}
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
        body = request_body(request, json_schema=self.json_schema, stream=False)
        async with self._exchange("/chat/completions", body, idle_timeout) as response:
            data = self._decode(await response.aread())
        return self._completion(data, request.model)

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> AsyncIterator[StreamDelta | ChatResponse]:
        """Text deltas as the server sends them, then the assembled `ChatResponse` (see
        `Provider.stream`). Usage comes from the last chunk (`stream_options.include_usage`)."""
        body = request_body(request, json_schema=self.json_schema, stream=True)
        async with self._exchange("/chat/completions", body, idle_timeout) as response:
            if response.headers.get("content-type", "").startswith("application/json"):
                # The server ignored `stream: true` and answered in one piece.
                completion = self._completion(self._decode(await response.aread()), request.model)
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
                    text = assembly.feed(self._event(data))
                    if text:
                        yield StreamDelta(text=text)
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

    def _event(self, data: str) -> dict[str, Any]:
        event = self._decode(data.encode())
        if not isinstance(event, dict):
            raise self._unexpected("stream event", event, None)
        if "error" in event:
            raise ProviderError(
                f"{self._origin} failed mid-stream: {_message_of(event['error'])}", retryable=True
            )
        return event

    def _completion(self, data: Any, model: str) -> ChatResponse:
        try:
            choice = data["choices"][0]
            message = choice["message"]
            calls = [_tool_call(raw, i) for i, raw in enumerate(message.get("tool_calls") or [])]
            return ChatResponse(
                message=Message(role="assistant", content=message.get("content"), tool_calls=calls),
                usage=_usage(data.get("usage")),
                finish_reason=choice.get("finish_reason"),
                model=data.get("model") or model,
                raw_id=data.get("id"),
            )
        except (KeyError, IndexError, TypeError, AttributeError, ValidationError) as exc:
            raise self._unexpected("chat completion", data, exc) from exc

    def _unexpected(self, what: str, data: Any, exc: Exception | None) -> ProviderError:
        why = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
        return ProviderError(
            f"{self._origin} answered a {what} without the expected fields{why}: "
            f"{_excerpt(json.dumps(data).encode())}",
            retryable=False,
            status=200,
        )


# -- wire format ------------------------------------------------------------------------------


def request_body(request: ChatRequest, *, json_schema: bool, stream: bool) -> dict[str, Any]:
    """The JSON body of `POST /chat/completions` for `request`."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [_wire_message(message) for message in request.messages],
    }
    if request.tools:
        body["tools"] = [
            {"type": "function", "function": _drop_empty(spec.model_dump())}
            for spec in request.tools
        ]
    if request.tool_choice is not None:
        choice = request.tool_choice
        body["tool_choice"] = (
            choice
            if choice in _TOOL_CHOICES
            else {"type": "function", "function": {"name": choice}}
        )
    if request.response_schema is not None:
        body["response_format"] = _response_format(request, json_schema)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body.update(request.extra)
    return body


def _drop_empty(function: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in function.items() if value != ""}


def _response_format(request: ChatRequest, json_schema: bool) -> dict[str, Any]:
    if not json_schema:
        return {"type": "json_object"}
    name = _SCHEMA_NAME.sub("_", request.schema_name or "output")[:64] or "output"
    schema = {"name": name, "schema": request.response_schema, "strict": False}
    return {"type": "json_schema", "json_schema": schema}


def _wire_message(message: Message) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
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
    return wire


def _tool_call(raw: dict[str, Any], position: int) -> ToolCall:
    function = raw["function"]
    arguments = function.get("arguments")
    if not isinstance(arguments, str):  # some servers send an object, not JSON text
        arguments = json.dumps(arguments if arguments is not None else {})
    return ToolCall(
        id=raw.get("id") or f"call_{position}", name=function["name"], arguments=arguments
    )


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )


@dataclass
class _Assembly:
    """A streamed completion put back together from its chunks."""

    model: str
    text: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, str]] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    raw_id: str | None = None
    done: bool = False

    def feed(self, chunk: dict[str, Any]) -> str:
        """Take one chunk; return its new text."""
        self.model = chunk.get("model") or self.model
        self.raw_id = chunk.get("id") or self.raw_id
        if isinstance(chunk.get("usage"), dict):
            self.usage = _usage(chunk["usage"])
        pieces: list[str] = []
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # only the first choice is asked for (n is never sent)
            delta = choice.get("delta") or {}
            if delta.get("content"):
                pieces.append(delta["content"])
            for fragment in delta.get("tool_calls") or []:
                self._add_call(fragment)
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        self.text.extend(pieces)
        return "".join(pieces)

    def _add_call(self, fragment: dict[str, Any]) -> None:
        index = fragment.get("index")
        if not isinstance(index, int):  # servers that omit it send one call per fragment
            known = any(slot["id"] == fragment.get("id") for slot in self.calls.values())
            same = self.calls and (known or not fragment.get("id"))
            index = max(self.calls) if same else len(self.calls)
        slot = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        slot["id"] = slot["id"] or fragment.get("id") or ""
        function = fragment.get("function") or {}
        name = function.get("name") or ""
        if name != slot["name"]:  # sent once by OpenAI, repeated by some servers
            slot["name"] += name
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            slot["arguments"] += arguments
        elif arguments is not None:
            slot["arguments"] = json.dumps(arguments)

    def response(self) -> ChatResponse:
        calls = [
            ToolCall(
                id=slot["id"] or f"call_{i}", name=slot["name"], arguments=slot["arguments"] or "{}"
            )
            for i, slot in sorted(self.calls.items())
        ]
        content = "".join(self.text) if self.text or not calls else None
        return ChatResponse(
            message=Message(role="assistant", content=content, tool_calls=calls),
            usage=self.usage,
            finish_reason=self.finish_reason,
            model=self.model,
            raw_id=self.raw_id,
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
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (ValueError, TypeError):
        return None
