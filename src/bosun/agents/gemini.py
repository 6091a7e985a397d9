"""`GeminiProvider`: Google's Gemini models through the Gemini API, with the official
`google-genai` SDK.

The SDK is an optional extra (`pip install 'bosun[gemini]'`). `import bosun` does not load it:
the provider imports it when it first calls, in a thread (its first import takes half a second
or more), and says which extra to install when it is missing.

The SDK does the transport over an `httpx` client of the provider's own, with its retries off
(`HttpRetryOptions(attempts=1)`) and its automatic function calling and continuation off: each
call is one HTTP request, and the runtime retries on durable timers. The client's request hook
sets the timeouts: `idle_timeout` bounds each wait for bytes (never a whole streamed call), and
the SDK's `X-Server-Timeout` header, which would cap the whole call on Google's side, is never
sent. Its errors become `ProviderError`s: 429 (`RESOURCE_EXHAUSTED`) and 503 (`UNAVAILABLE`,
the model is overloaded) are `ProviderRateLimited` with the wait the server asked for (the
`retryDelay` of a `google.rpc.RetryInfo` detail, or a `Retry-After` header); other 5xx, 408,
lost connections and timeouts are retryable; other 4xx are not, with a hint for a bad key, a
key without access and an unknown model.

A `ChatRequest` becomes the arguments of `generate_content` (`request_params`):

- system messages become `system_instruction`; user messages and tool results are `user`
  turns (a turn's results in one turn, as `function_response` parts, first), assistant
  messages `model` turns; tools are function declarations with their JSON schema as it is
  (`parameters_json_schema`); `tool_choice` `required` is mode `ANY`, a tool's name `ANY`
  with that one function allowed.
- `max_tokens` is `max_output_tokens`; a response schema asks for JSON
  (`response_mime_type` and `response_json_schema`) unless the model's `json_schema` is off.
- `extra` (the model's `body` and a call's `extra=`): a key that names a field of the SDK's
  `GenerateContentConfig` (`thinking_config`, `top_p`, `seed`, `safety_settings`…, snake or
  camel case) sets that field; any other key is sent in the body as it is written (the SDK's
  `extra_body`), so new API fields need no SDK release.
- An assistant message goes back with its signatures where Gemini put them: signed thought
  parts first, the text (with the answer's signature), then each function call with its own
  (`ToolCall.signature`), as the API requires in a tool loop. Thoughts without a signature are
  summaries (or another provider's reasoning) and do not go back.

And the answer becomes a `ChatResponse`: text parts joined into `content`; function calls into
tool calls, with the API's ids or, where it gives none, ids made from the answer's id and the
call's position (the journal keeps them, so a replay sees the same); thought parts (asked for
with `thinking_config={"include_thoughts": True}`) into `reasoning`, streamed as reasoning
deltas, and `reasoning_blocks` with their signatures; usage counts cached input inside
`prompt_tokens` and thoughts inside `completion_tokens` (Gemini bills them as output).
`finish_reason` `MAX_TOKENS` reads as `length`, the safety and recitation reasons (and a
blocked prompt) as `content_filter`, `STOP` with function calls as `tool_calls`; a malformed
function call is a retryable error.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, cast

import httpx
from pydantic import ValidationError

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
from bosun.agents.wire_parts import described, gemini_parts
from bosun.errors import ConfigurationError
from bosun.retry import retry_after_seconds

if TYPE_CHECKING:
    from google.genai import Client
    from google.genai.types import (
        FunctionCall,
        GenerateContentResponse,
        GenerateContentResponseUsageMetadata,
        Part,
    )

__all__ = [
    "EXTRA",
    "GeminiOptions",
    "GeminiProvider",
    "load_sdk",
    "request_params",
    "sdk_installed",
]

_KIND = "gemini"  # the name its reasoning blocks carry (`ReasoningBlock.provider`)

EXTRA = "gemini"
INSTALL = f"pip install 'bosun[{EXTRA}]'"
DEFAULT_ORIGIN = "https://generativelanguage.googleapis.com"
_IDLE_HEADER = "x-bosun-idle-timeout"  # the call's idle timeout, read (and removed) by the hook
_SERVER_TIMEOUT = "x-server-timeout"
_CALL_ID = "gemini-call-"  # the ids made for calls the API gave none
_TOOL_MODES = {"auto": "AUTO", "required": "ANY", "any": "ANY", "none": "NONE"}
_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
    }
)
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"} | {r: "content_filter" for r in _FILTERED}
_MALFORMED = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"})
_BUSY = frozenset({429, 503})  # rate limited, overloaded: wait as the server says
_RETRYABLE_STATUSES = frozenset({408, 409})  # and every 5xx
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_KEY_HINT = "; check the API key ($GEMINI_API_KEY or $GOOGLE_API_KEY, or the model's api_key_env)"
_HINTS = {
    401: _KEY_HINT,
    403: "; the API key may lack access to this model, or the Generative Language API is not "
    "enabled for its project",
    404: "; check the model name (and the base URL)",
}
# GenerateContentConfig fields a call's `extra` may not set: the provider's own transport.
_RESERVED_CONFIG = frozenset({"http_options", "should_return_http_response"})


def sdk_installed() -> bool:
    """Whether the `google-genai` SDK can be imported (without importing it)."""
    return vendor_sdk_installed("google.genai")


def load_sdk() -> ModuleType:
    """The `google.genai` module; a `ConfigurationError` naming the extra when it is missing."""
    return load_vendor_sdk("google.genai", "Gemini models need the google-genai SDK", INSTALL)


@dataclass(frozen=True)
class GeminiOptions:
    """How requests are written (see `GeminiProvider`'s arguments of the same names)."""

    json_schema: bool = True


class GeminiProvider:
    """A provider for the Gemini API (Google AI Studio keys), through the official SDK.

    Args:
        api_key: the key; `None` leaves it to the SDK (`GOOGLE_API_KEY`, `GEMINI_API_KEY`).
        base_url: the API root; Google's (or the SDK's `GOOGLE_GEMINI_BASE_URL`) when `None`.
        timeout: seconds to connect, to send, and to wait for the next bytes when a call gives
            no `idle_timeout`. Never a limit on a whole streamed call.
        headers: more headers for every request.
        params: query parameters for every request.
        json_schema: send a structured-output schema as `response_json_schema` (Gemini's
            controlled generation); otherwise it only travels in the prompt that
            `ctx.llm.structured` writes.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 600.0,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json_schema: bool = True,
    ) -> None:
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"Gemini base URL {base_url!r} is not an http(s) URL; use e.g. "
                f"{DEFAULT_ORIGIN} or http://localhost:8080"
            )
        self.base_url = base_url
        self.timeout = timeout
        self.options = GeminiOptions(json_schema=json_schema)
        self._api_key = api_key
        self._headers = dict(headers or {})
        self._params = dict(params or {})
        self._client: Client | None = None
        self._http: httpx.AsyncClient | None = None
        self._sdk: ModuleType | None = None
        self._lock = asyncio.Lock()

    async def chat(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> ChatResponse:
        """The complete answer to `request`, in one non-streamed call (see `Provider.chat`)."""
        client, sdk = await self._ready()
        arguments = self._arguments(sdk, request, idle_timeout)
        try:
            answer = await client.aio.models.generate_content(**arguments)
        except Exception as exc:
            raise self._error(sdk, exc, idle_timeout) from exc
        assembly = _Assembly(model=request.model)
        assembly.feed(answer)
        return assembly.response()

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> AsyncIterator[StreamDelta | ChatResponse]:
        """Text and thought deltas as the server streams them, then the assembled
        `ChatResponse` (see `Provider.stream`)."""
        client, sdk = await self._ready()
        arguments = self._arguments(sdk, request, idle_timeout)
        assembly = _Assembly(model=request.model)
        try:
            chunks = await client.aio.models.generate_content_stream(**arguments)
            # An async generator: closed here, with its connection, if the caller stops early.
            async with aclosing(cast("AsyncGenerator[GenerateContentResponse]", chunks)) as stream:
                async for chunk in stream:
                    for delta in assembly.feed(chunk):
                        yield delta
        except ProviderError:
            raise
        except Exception as exc:
            raise self._error(sdk, exc, idle_timeout) from exc
        if not assembly.finished:
            raise ProviderError(
                f"{self._origin()} closed the stream before it finished (no finishReason)",
                retryable=True,
                status=200,
            )
        yield assembly.response()

    async def aclose(self) -> None:
        """Close the SDK client and its connections."""
        client, http = self._client, self._http
        self._client = self._http = None
        if client is not None:
            await client.aio.aclose()
            client.close()
        if http is not None:
            await http.aclose()

    async def __aenter__(self) -> GeminiProvider:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- the SDK ----------------------------------------------------------------------------

    async def _ready(self) -> tuple[Client, ModuleType]:
        """The SDK client and module, made (and the SDK imported, off the loop) on first use."""
        if self._sdk is None or self._client is None:
            async with self._lock:
                if self._sdk is None:
                    self._sdk = await load_sdk_off_loop(load_sdk)
                if self._client is None:
                    try:
                        self._client = await asyncio.to_thread(self._make_client, self._sdk)
                    except ProviderError:
                        await self.aclose()  # the httpx client made before the SDK's refused
                        raise
        assert self._client is not None and self._sdk is not None
        return self._client, self._sdk

    def _make_client(self, sdk: ModuleType) -> Client:
        """An SDK client on the provider's own `httpx` client (so never on `aiohttp`, whose
        timeouts are for whole calls), with the SDK's retries off."""
        self._http = httpx.AsyncClient(
            params=self._params or None,
            timeout=httpx.Timeout(self.timeout),
            event_hooks={"request": [self._set_timeouts]},
        )
        options = sdk.types.HttpOptions(
            base_url=self.base_url,
            headers=self._headers or None,
            retry_options=sdk.types.HttpRetryOptions(attempts=1),  # the runtime retries
            httpx_async_client=self._http,
        )
        try:
            client: Client = sdk.Client(api_key=self._api_key, vertexai=False, http_options=options)
        except ValueError as exc:  # no key given, none in the environment
            raise ProviderError(
                f"Gemini needs an API key ({exc}): set GEMINI_API_KEY or GOOGLE_API_KEY",
                retryable=False,
            ) from exc
        return client

    async def _set_timeouts(self, request: httpx.Request) -> None:
        """Bound each wait for bytes by the call's idle timeout, the rest by `timeout`: the
        SDK would give httpx one timeout for everything, or none."""
        idle = request.headers.pop(_IDLE_HEADER, None)
        request.headers.pop(_SERVER_TIMEOUT, None)
        read = float(idle) if idle else self.timeout
        request.extensions["timeout"] = httpx.Timeout(self.timeout, read=read).as_dict()

    def _arguments(
        self, sdk: ModuleType, request: ChatRequest, idle_timeout: float | None
    ) -> dict[str, Any]:
        """The arguments of `generate_content`, the config checked against the SDK's type."""
        params = request_params(request, self.options)
        config = params["config"]
        http_options = config.setdefault("http_options", {})
        idle = self.timeout if idle_timeout is None else idle_timeout
        http_options["headers"] = {_IDLE_HEADER: f"{idle:g}"}
        try:
            params["config"] = sdk.types.GenerateContentConfig.model_validate(config)
        except ValidationError as exc:
            raise ProviderError(
                f"the request for {request.model!r} is not a valid Gemini config (check the "
                f"model's body and the call's extra=): {exc}",
                retryable=False,
            ) from exc
        return params

    def _origin(self) -> str:
        return (self.base_url or DEFAULT_ORIGIN).rstrip("/")

    def _error(self, sdk: ModuleType, exc: Exception, idle_timeout: float | None) -> ProviderError:
        """`exc`, raised by the SDK or the transport, as a `ProviderError` that says whether
        to retry."""
        origin = self._origin()
        if isinstance(exc, sdk.errors.APIError):
            return _status_error(origin, exc)
        if isinstance(exc, httpx.ReadTimeout):
            idle = self.timeout if idle_timeout is None else idle_timeout
            return ProviderTimeout(
                f"{origin} sent nothing for {idle:g} s (idle timeout): the server is "
                f"overloaded or the connection hung"
            )
        if isinstance(exc, httpx.TimeoutException):
            return ProviderError(f"{origin} timed out: {type(exc).__name__}", retryable=True)
        if isinstance(exc, httpx.TransportError):
            return ProviderError(
                f"{origin} could not be reached or dropped the connection: "
                f"{type(exc).__name__}: {exc}",
                retryable=True,
            )
        if isinstance(exc, ProviderError):
            return exc
        return ProviderError(
            f"{origin} answered something the google-genai SDK could not read: "
            f"{type(exc).__name__}: {exc}",
            retryable=False,
        )


# -- requests ---------------------------------------------------------------------------------


def request_params(request: ChatRequest, options: GeminiOptions | None = None) -> dict[str, Any]:
    """The arguments of the SDK's `generate_content` for `request`: `model`, `contents` and
    `config` (a `GenerateContentConfig` as a dict, snake case; see the module docstring)."""
    options = options or GeminiOptions()
    system, contents = _conversation(request.messages)
    config: dict[str, Any] = {
        "automatic_function_calling": {"disable": True},  # bosun runs the tools, journaled
        "automatic_continuation": False,  # one call, one request
    }
    if system:
        config["system_instruction"] = {"parts": [{"text": text} for text in system]}
    if request.tools:
        config["tools"] = [{"function_declarations": [_declaration(s) for s in request.tools]}]
        if request.tool_choice is not None:
            config["tool_config"] = {"function_calling_config": _tool_choice(request.tool_choice)}
    if request.response_schema is not None and options.json_schema:
        config["response_mime_type"] = "application/json"
        config["response_json_schema"] = request.response_schema
    if request.temperature is not None:
        config["temperature"] = request.temperature
    body = _apply_extra(config, request.extra)
    if request.max_tokens:  # the call's limit, over a model's body default
        config["max_output_tokens"] = request.max_tokens
    if body:
        config["http_options"] = {"extra_body": body}
    return {"model": request.model, "contents": contents, "config": config}


def _apply_extra(config: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Set the config fields `extra` names (over bosun's); return the rest, for the body.
    `max_tokens`, the name other providers use, is `max_output_tokens`."""
    fields = _config_fields()
    body: dict[str, Any] = {}
    for key, value in extra.items():
        name = "max_output_tokens" if key == "max_tokens" else fields.get(key)
        if name is None:
            body[key] = value
        else:
            config[name] = value
    return body


@functools.cache
def _config_fields() -> dict[str, str]:
    """The fields of the SDK's `GenerateContentConfig`, by their snake and camel names."""
    model = load_sdk().types.GenerateContentConfig
    names: dict[str, str] = {}
    for name, info in model.model_fields.items():
        if name in _RESERVED_CONFIG:
            continue
        names[name] = name
        if info.alias:
            names[info.alias] = name
        elif model.model_config.get("alias_generator") is not None:
            names[model.model_config["alias_generator"](name)] = name
    return names


def _conversation(messages: Iterable[Message]) -> tuple[list[str], list[dict[str, Any]]]:
    """The system texts and the `contents` of a conversation: consecutive messages of one
    role join into one turn, a user turn's function responses first."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # call id -> tool name, for results that do not say
    for message in messages:
        if message.role == "system":
            gemini_parts(message)  # refuses images and files there
            if message.text:
                system.append(message.text)
            continue
        role = "model" if message.role == "assistant" else "user"
        parts = _parts(message, names)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    for content in contents:
        if content["role"] == "user":
            content["parts"].sort(key=lambda part: "function_response" not in part)
    return system, contents


def _parts(message: Message, names: dict[str, str]) -> list[dict[str, Any]]:
    if message.role == "tool":
        call_id = message.tool_call_id or ""
        answer: dict[str, Any] = {
            "name": message.name or names.get(call_id, ""),
            "response": _tool_result(described(message)),
        }
        if call_id and not call_id.startswith(_CALL_ID):
            answer["id"] = call_id
        return [{"function_response": answer}]
    if message.role == "assistant":
        for call in message.tool_calls:
            names[call.id] = call.name
        return _model_parts(message)
    return gemini_parts(message)


def _model_parts(message: Message) -> list[dict[str, Any]]:
    """An assistant message as Gemini wrote it: signed thoughts, the text, the calls, each
    with its signature (another provider's redacted blocks do not go)."""
    parts: list[dict[str, Any]] = []
    answer_signature: str | None = None
    for block in signed_by(message, _KIND):
        if block.redacted is not None or not block.signature:
            continue
        if block.text:
            parts.append({"text": block.text, "thought": True, **_signed(block.signature)})
        else:
            answer_signature = block.signature
    if message.text or answer_signature:
        parts.append({"text": message.text, **_signed(answer_signature)})
    parts += [part for part in gemini_parts(message) if "text" not in part]
    for call in message.tool_calls:
        function_call: dict[str, Any] = {"name": call.name, "args": _args(call.arguments)}
        if not call.id.startswith(_CALL_ID):
            function_call["id"] = call.id
        parts.append({"function_call": function_call, **_signed(call.signature)})
    return parts


def _signed(signature: str | None) -> dict[str, Any]:
    """A part's `thought_signature`, as the bytes the SDK takes; none if it is not base64."""
    if not signature:
        return {}
    try:
        return {"thought_signature": base64.b64decode(signature, validate=True)}
    except (binascii.Error, ValueError):
        return {}


def _args(arguments: str) -> dict[str, Any]:
    """A call's arguments as the object the API wants back; `{}` for arguments that were not
    a JSON object (the tool already answered that they were malformed)."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool_result(content: str) -> dict[str, Any]:
    """A tool's answer as Gemini's function response: `output`, or `error` for bosun's
    `error: …` answers (a failed call, bad arguments, an unknown tool)."""
    if content.startswith("error: "):
        return {"error": content.removeprefix("error: ")}
    return {"output": content}


def _declaration(spec: ToolSpec) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": spec.name}
    if spec.description:
        declaration["description"] = spec.description
    declaration["parameters_json_schema"] = spec.parameters
    return declaration


def _tool_choice(choice: str) -> dict[str, Any]:
    mode = _TOOL_MODES.get(choice)
    if mode is not None:
        return {"mode": mode}
    return {"mode": "ANY", "allowed_function_names": [choice]}


# -- answers ----------------------------------------------------------------------------------


@dataclass
class _Call:
    name: str
    args: dict[str, Any]
    id: str | None
    signature: str | None


@dataclass
class _Assembly:
    """An answer read from one response, or put back together from a stream's chunks."""

    model: str
    raw_id: str | None = None
    texts: list[str] = field(default_factory=list)
    thoughts: list[ReasoningBlock] = field(default_factory=list)
    calls: list[_Call] = field(default_factory=list)
    answer_signature: str | None = None
    finish: str | None = None
    blocked: str | None = None
    usage: Usage = field(default_factory=Usage)
    last_kind: str = ""  # the kind of the last part read: consecutive thoughts join

    @property
    def finished(self) -> bool:
        """Whether the answer said why it stopped (or that the prompt was blocked)."""
        return self.finish is not None or self.blocked is not None

    def feed(self, response: GenerateContentResponse) -> list[StreamDelta]:
        """Take one response (or chunk); return its new text and thoughts."""
        self.raw_id = response.response_id or self.raw_id
        self.model = response.model_version or self.model
        if response.usage_metadata is not None:  # a stream's are running totals
            self.usage = _usage(response.usage_metadata)
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            self.blocked = _name(feedback.block_reason)
        if not response.candidates:
            return []
        candidate = response.candidates[0]
        if candidate.finish_reason is not None:
            self.finish = _name(candidate.finish_reason)
        parts = candidate.content.parts if candidate.content is not None else None
        deltas: list[StreamDelta] = []
        for part in parts or []:
            deltas.extend(self._part(part))
        return deltas

    def _part(self, part: Part) -> list[StreamDelta]:
        signature = _encoded(part.thought_signature)
        if part.function_call is not None:
            self.last_kind = "call"
            self.calls.append(_call(part.function_call, signature))
            return []
        if part.thought:
            return self._thought(part.text or "", signature)
        self.last_kind = "text"
        if signature is not None:
            self.answer_signature = signature
        if part.text:
            self.texts.append(part.text)
            return [StreamDelta(text=part.text)]
        return []  # other kinds of part (code execution, inline data) are not kept

    def _thought(self, text: str, signature: str | None) -> list[StreamDelta]:
        """A thought, or the next piece of one: pieces join until a signature ends it."""
        last = self.thoughts[-1] if self.thoughts else None
        if self.last_kind == "thought" and last is not None and last.signature is None:
            last.text += text
            last.signature = signature
        else:
            self.thoughts.append(ReasoningBlock(text=text, signature=signature, provider=_KIND))
        self.last_kind = "thought"
        return [StreamDelta(reasoning=text)] if text else []

    def response(self) -> ChatResponse:
        """The answer as bosun's `ChatResponse`.

        Raises:
            ProviderError: the model wrote a function call it could not form (retryable: a
                new sample may well succeed).
        """
        if self.finish in _MALFORMED:
            raise ProviderError(
                f"model {self.model!r} stopped with {self.finish}: it tried to call a tool "
                f"with a call it could not form (or a tool it was not given)",
                retryable=True,
                status=200,
            )
        calls = [self._tool_call(i, call) for i, call in enumerate(self.calls)]
        content = "".join(self.texts) if self.texts or not calls else None
        blocks = [b for b in self.thoughts if b.text or b.signature]
        if self.answer_signature is not None:
            blocks.append(ReasoningBlock(signature=self.answer_signature, provider=_KIND))
        thoughts = "".join(block.text for block in blocks)
        return ChatResponse(
            message=Message(
                role="assistant",
                content=content,
                tool_calls=calls,
                reasoning=thoughts or None,
                reasoning_blocks=blocks,
            ),
            usage=self.usage,
            finish_reason=self._finish_reason(bool(calls)),
            model=self.model,
            raw_id=self.raw_id,
        )

    def _tool_call(self, position: int, call: _Call) -> ToolCall:
        call_id = call.id or f"{_CALL_ID}{self._digest()}-{position}"
        arguments = json.dumps(call.args)
        return ToolCall(id=call_id, name=call.name, arguments=arguments, signature=call.signature)

    def _digest(self) -> str:
        """A short digest of the answer (its id, else its calls), so made-up ids differ from
        one answer to the next yet are the same for the same answer."""
        seed = self.raw_id or json.dumps([[c.name, c.args] for c in self.calls], sort_keys=True)
        return hashlib.sha256(seed.encode()).hexdigest()[:8]

    def _finish_reason(self, has_calls: bool) -> str | None:
        if self.blocked is not None and not self.finish:
            return "content_filter"  # the prompt was blocked: no candidate at all
        if self.finish in (None, "STOP") and has_calls:
            return "tool_calls"
        if self.finish is None:
            return None
        return _FINISH.get(self.finish, self.finish.lower())


def _call(function_call: FunctionCall, signature: str | None) -> _Call:
    return _Call(
        name=function_call.name or "",
        args=dict(function_call.args or {}),
        id=function_call.id or None,
        signature=signature,
    )


def _name(value: Any) -> str:
    """An SDK enum's wire name (unknown ones come as plain strings)."""
    return str(getattr(value, "value", value))


def _encoded(signature: bytes | None) -> str | None:
    return base64.b64encode(signature).decode("ascii") if signature else None


def _usage(usage: GenerateContentResponseUsageMetadata) -> Usage:
    """Gemini's usage as bosun counts it: prompt tokens hold the cached ones and those of tool
    results; completion tokens hold the thoughts, which Gemini bills as output."""
    prompt = (usage.prompt_token_count or 0) + (usage.tool_use_prompt_token_count or 0)
    completion = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=usage.cached_content_token_count or 0,
    )


# -- errors -----------------------------------------------------------------------------------


def _status_error(origin: str, exc: Any) -> ProviderError:
    """An SDK `APIError`: an HTTP error answer, or an error chunk in a stream."""
    code: int = exc.code or 500
    state = exc.status or ""
    detail = exc.message or str(exc)
    details = _details(exc.details)
    where = f"{origin} answered {code}" + (f" {state}" if state else "")
    if code in _BUSY:
        retry_after = _retry_delay(details)
        if retry_after is None:
            headers = getattr(exc.response, "headers", None)
            retry_after = retry_after_seconds(headers) if headers is not None else None
        wait = "" if retry_after is None else f"; retry in {retry_after:g} s"
        busy = " (the model is overloaded)" if code == 503 else ""
        return ProviderRateLimited(
            f"{where}{busy}: {detail}{wait}", retry_after=retry_after, status=code
        )
    retryable = code >= 500 or code in _RETRYABLE_STATUSES
    hint = _HINTS.get(code, "")
    if any(d.get("reason") == "API_KEY_INVALID" for d in details):
        hint = _KEY_HINT
    return ProviderError(f"{where}: {detail}{hint}", retryable=retryable, status=code)


def _details(body: Any) -> list[dict[str, Any]]:
    """The `details` of an error answer (`{"error": {"details": [...]}}`)."""
    error = body.get("error", body) if isinstance(body, dict) else None
    found = error.get("details") if isinstance(error, dict) else None
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    """The `retryDelay` of a `google.rpc.RetryInfo` detail (a duration: `"23s"`, `"1.5s"`)."""
    for detail in details:
        delay = detail.get("retryDelay")
        if detail.get("@type") == _RETRY_INFO and isinstance(delay, str):
            try:
                return max(0.0, float(delay.removesuffix("s")))
            except ValueError:
                return None
    return None
