"""`ctx.llm`: LLM calls as journaled steps.

Each call takes one position in the run's journal (kind `llm`). Its response, usage and cost
are recorded there; a replay returns the recorded response and never calls, or bills, the
provider again. Calls stream from the provider, so `idle_timeout` is progress-based: a long
generation that keeps producing tokens is never cut off, a stalled one fails in seconds.
Retryable provider errors (429, 5xx, stalls) are retried on durable timers, honouring a
provider's Retry-After. A rate limit registered as `llm:<alias>`
(`app.rate_limit("llm:default", RateLimit(requests=500, tokens=200_000, per=60))`) is
reserved before each call and settled with the real usage after it, across all workers.

An answer the run cannot use raises once it is journaled (so a replay raises it again without
calling): `Refused` when the model refused, `ContentFiltered` when the provider's filter
withheld it, `OutputTruncated` when a final answer (one without tool calls) hit the token
limit. Reasoning the model writes before its answer is kept on the message, and streamed as
`llm.reasoning.delta` events beside the answer's `llm.delta`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from bosun import ratelimit
from bosun.agents import budget
from bosun.agents.errors import (
    ContentFiltered,
    OutputTruncated,
    Refused,
    StructuredOutputError,
)
from bosun.agents.genai import content_of
from bosun.agents.messages import (
    ChatRequest,
    ChatResponse,
    Content,
    File,
    Image,
    Message,
    TextPart,
    ToolSpec,
    estimate_tokens,
)
from bosun.agents.registry import MODELS
from bosun.agents.structured import json_schema_for, validate
from bosun.engine.definitions import StepDef
from bosun.engine.execution import current_step
from bosun.engine.hooks import LlmCall
from bosun.errors import ConfigurationError, StepFailed
from bosun.retry import Retry

if TYPE_CHECKING:
    from bosun.agents.provider import Provider
    from bosun.agents.registry import Models
    from bosun.engine.execution import Execution

T = TypeVar("T")

LLM_RETRY = Retry(attempts=5, initial=1.0, backoff=2.0, max_interval=60.0)
DEFAULT_IDLE_TIMEOUT = 60.0
REPAIR_ATTEMPTS = 3
ESTIMATED_COMPLETION = 512  # tokens reserved for an answer when max_tokens is not given
DELTA_INTERVAL = 0.05  # seconds between published batches of token deltas
TEXT_DELTA = "llm.delta"  # the ephemeral events that stream an answer's text…
REASONING_DELTA = "llm.reasoning.delta"  # …and the reasoning the model writes before it
SCHEMA_INSTRUCTION = "Answer with JSON only: one value matching this JSON schema:\n{schema}"


class LLM:
    """The LLM calls of one run (`ctx.llm`)."""

    def __init__(self, execution: Execution) -> None:
        self._execution = execution

    @property
    def _models(self) -> Models:
        models = self._execution.env.extensions.get(MODELS)
        if models is None:
            raise ConfigurationError("this worker has no models configured (ctx.llm)")
        return models

    def context_tokens(self, model: str = "default") -> int | None:
        """The model's context window, when configured."""
        return self._models.config(model).context_tokens

    async def chat(
        self,
        prompt: str | None = None,
        *,
        messages: list[Message] | None = None,
        system: str | None = None,
        model: str = "default",
        tools: list[ToolSpec] | None = None,
        tool_choice: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        response_schema: dict[str, Any] | None = None,
        schema_name: str | None = None,
        on_delta: Callable[[str], None] | None = None,
        extra: dict[str, Any] | None = None,
        allow_truncated: bool = False,
        images: list[Image] | None = None,
        files: list[File] | None = None,
    ) -> ChatResponse:
        """One journaled chat completion.

        Args:
            prompt: a user message (appended after `messages`).
            messages: the conversation so far.
            system: a system message put first.
            model: a model alias (`BOSUN_MODELS`, `app.models.register`).
            tools: tools the model may call (see `bosun.agents.tools.tool_spec`).
            max_tokens: the most tokens to generate (sent as `max_completion_tokens` where
                the API wants that).
            idle_timeout: seconds without a token before the call fails over.
            on_delta: called with each piece of text as it is generated (not on replay).
            extra: more request body fields (`reasoning_effort`, `seed`, `top_p`,
                `parallel_tool_calls`…), over the model's own `body` defaults.
            allow_truncated: return an answer cut off at the token limit instead of raising
                `OutputTruncated`.
            images: images sent with `prompt` (`ImagePart`s, bytes, URLs or paths: see
                `Message.user`).
            files: files (PDFs…) sent with `prompt`, in the same forms.

        Raises:
            Refused: the model refused to answer.
            ContentFiltered: the provider's content filter withheld the answer.
            OutputTruncated: an answer without tool calls hit the token limit.
        """
        conversation = list(messages or [])
        if system is not None:
            conversation.insert(0, Message.system(system))
        if prompt is not None:
            conversation.append(Message.user(prompt, images=images or (), files=files or ()))
        elif images or files:
            raise ConfigurationError("ctx.llm.chat sends images= and files= with a prompt")
        if not conversation:
            raise ConfigurationError("ctx.llm.chat needs a prompt or messages")
        config = self._models.config(model)
        request = ChatRequest(
            model=config.model,
            messages=conversation,
            tools=list(tools or []),
            tool_choice=tool_choice,
            response_schema=response_schema,
            schema_name=schema_name,
            temperature=temperature,
            max_tokens=max_tokens,
            extra={**config.body, **(extra or {})},
        )
        models = self._models
        execution = self._execution
        # A rate limit named `llm:<alias>` is shared by every worker: reserve an estimate
        # first (the run waits, holding no worker, while the model is at its limit).
        limit = f"llm:{model}"
        reservation = None
        if limit in execution.env.rate_limits:
            estimate = estimate_tokens(conversation) + (max_tokens or ESTIMATED_COMPLETION)
            reservation = await ratelimit.reserve(execution, limit, estimate)
        if execution.recorded_next() is None:  # about to make a new call, not replay one
            await budget.check(execution)

        async def call() -> dict[str, Any]:
            provider = models.provider(model)
            started = time.monotonic()
            response = await _streamed(execution, provider, request, idle_timeout, on_delta)
            if response is None:  # a provider that broke its protocol
                raise ConfigurationError(f"model {model!r}: the stream ended without a response")
            cost = config.cost(response.usage)
            usage = response.usage
            budget.spend(execution, usage.prompt_tokens + usage.completion_tokens, cost)
            report = LlmCall(
                alias=model,
                model=config.model,
                provider=config.provider,
                input_tokens=usage.prompt_tokens,
                output_tokens=usage.completion_tokens,
                cached_tokens=usage.cached_tokens,
                cost=cost,
                seconds=time.monotonic() - started,
                cache_write_tokens=usage.cache_write_tokens,
                response_model=response.model,
                response_id=response.raw_id,
                finish_reason=response.finish_reason,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                content=functools.partial(content_of, request, response),
            )
            execution.env.observer.llm_called(execution, report)
            return {"response": response.model_dump(), "cost": cost}

        step = StepDef(
            fn=call, name=f"llm:{model}", retry=LLM_RETRY, is_async=True, return_hint=Any
        )
        recorded = await self._execution.call_step(step, (), {}, kind="llm")
        response = ChatResponse.model_validate(recorded["response"])
        if reservation is not None:
            await ratelimit.settle(execution, reservation, response.usage.total_tokens)
        _check_answer(model, response, allow_truncated)
        return response

    async def stream(self, prompt: str | None = None, **options: Any) -> AsyncIterator[str]:
        """The answer's text as the model generates it, piece by piece: a journaled call like
        `chat` (same options). A replayed call yields its recorded text at once; a call that
        fails yields what came before the error, then raises it (a retried call starts its
        text again)."""
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        call = asyncio.ensure_future(self.chat(prompt, on_delta=queue.put_nowait, **options))
        call.add_done_callback(lambda _: queue.put_nowait(None))
        streamed = False
        try:
            while (piece := await queue.get()) is not None:
                streamed = True
                yield piece
            response = await call
            if not streamed and response.message.text:
                yield response.message.text  # replayed: the recorded answer, whole
        finally:
            if not call.done():
                call.cancel()
                with contextlib.suppress(BaseException):
                    await call

    @overload
    async def structured(self, output: type[T], prompt: str | None = None, **kw: Any) -> T: ...
    @overload
    async def structured(self, output: Any, prompt: str | None = None, **kw: Any) -> Any: ...
    async def structured(
        self,
        output: Any,
        prompt: str | None = None,
        *,
        messages: list[Message] | None = None,
        system: str | None = None,
        model: str = "default",
        attempts: int = REPAIR_ATTEMPTS,
        images: list[Image] | None = None,
        files: list[File] | None = None,
        **options: Any,
    ) -> Any:
        """Ask for a value of type `output` (a pydantic model, or any type pydantic knows).

        The JSON schema goes to the provider where it supports one, and into the prompt as
        JSON: appended to the leading system message, or else to the last user message (chat
        templates such as Mistral's and Gemma's reject a system message anywhere but first).
        The answer is extracted tolerantly (code fences, prose around it, trailing commas) and
        validated; when it does not fit, the model is asked again with the validation errors,
        up to `attempts` calls, each journaled. Then `StructuredOutputError` says what was
        wrong and shows the last answer. A refusal, a filtered answer and one cut off at the
        token limit are not parse failures: `Refused`, `ContentFiltered` and `OutputTruncated`
        are raised at once, without asking again. `images` and `files` go with `prompt`, as in
        `chat`.
        """
        if attempts < 1:
            raise ConfigurationError("attempts must be >= 1")
        schema = json_schema_for(output)
        name = getattr(output, "__name__", "output")
        conversation = list(messages or [])
        if system is not None:
            conversation.insert(0, Message.system(system))
        if prompt is not None:
            conversation.append(Message.user(prompt, images=images or (), files=files or ()))
        elif images or files:
            raise ConfigurationError("ctx.llm.structured sends images= and files= with a prompt")
        conversation = with_schema_instruction(conversation, schema)
        problem, raw = "", ""
        for _ in range(attempts):
            response = await self.chat(
                messages=conversation,
                model=model,
                response_schema=schema,
                schema_name=name,
                **options,
            )
            raw = response.message.text
            value, problem_or_none = validate(output, raw)
            if problem_or_none is None:
                return value
            problem = problem_or_none
            conversation += [
                Message.assistant(raw),
                Message.user(
                    f"That answer does not fit the schema: {problem}\n"
                    "Reply again with corrected JSON only."
                ),
            ]
        raise StructuredOutputError(name, attempts, problem, raw)


def with_schema_instruction(messages: list[Message], schema: dict[str, Any]) -> list[Message]:
    """`messages` with the instruction to answer in JSON following `schema`, where every chat
    template accepts it: in the leading system message, else in the last user message, else
    (a conversation without either) as a system message put first. The caller's messages
    are not changed."""
    instruction = SCHEMA_INSTRUCTION.format(schema=json.dumps(schema, ensure_ascii=False))
    conversation = list(messages)
    if conversation and conversation[0].role == "system":
        at = 0
    else:
        users = [i for i, message in enumerate(conversation) if message.role == "user"]
        if not users:
            return [Message.system(instruction), *conversation]
        at = users[-1]
    message = conversation[at]
    content: Content
    if isinstance(message.content, list):
        content = [*message.content, TextPart(instruction)]
    else:
        content = f"{message.content}\n\n{instruction}" if message.content else instruction
    conversation[at] = message.model_copy(update={"content": content})
    return conversation


async def _streamed(
    execution: Execution,
    provider: Provider,
    request: ChatRequest,
    idle_timeout: float,
    on_delta: Callable[[str], None] | None,
) -> ChatResponse | None:
    """The provider's answer to `request`, its deltas published as they come."""
    response: ChatResponse | None = None
    async with DeltaBatcher(execution) as deltas:
        async for item in provider.stream(request, idle_timeout=idle_timeout):
            if isinstance(item, ChatResponse):
                response = item
                continue
            if item.reasoning:
                await deltas.add(REASONING_DELTA, item.reasoning)
            if item.text:
                await deltas.add(TEXT_DELTA, item.text)
                if on_delta is not None:
                    on_delta(item.text)
    return response


def _check_answer(model: str, response: ChatResponse, allow_truncated: bool) -> None:
    """Raise when the answer cannot be used as it is (see the module docstring)."""
    text = response.message.text
    if response.refusal:
        raise Refused(model, response.refusal)
    if response.finish_reason == "content_filter":
        raise ContentFiltered(model, text)
    final = not response.message.tool_calls
    if response.finish_reason == "length" and final and not allow_truncated:
        tokens = response.usage.completion_tokens
        detail = f" ({tokens} tokens written)" if tokens else ""
        raise OutputTruncated(model, text, detail)


def step_failed_message(exc: StepFailed) -> str:
    """What a failed tool call tells the model."""
    return f"error: {exc.error_type}: {exc.message}"


class DeltaBatcher:
    """Token deltas of one call, published to the run's streams as ephemeral events:
    `llm.delta` for the answer's text, `llm.reasoning.delta` for the model's reasoning.
    Batched, but never held back more than `DELTA_INTERVAL` seconds (a ticker flushes while
    the model pauses, e.g. to write a tool call's arguments); pieces keep their order across
    the two kinds. A replayed call publishes nothing."""

    def __init__(self, execution: Execution) -> None:
        self._execution = execution
        scope = current_step.get()
        self._seq = scope.seq if scope is not None else ""
        self._pieces: list[tuple[str, str]] = []  # (event type, text), in order
        self._last = time.monotonic()
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> DeltaBatcher:
        self._ticker = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.flush()

    async def add(self, event_type: str, text: str) -> None:
        self._pieces.append((event_type, text))
        if time.monotonic() - self._last >= DELTA_INTERVAL:
            await self.flush()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(DELTA_INTERVAL)
            if self._pieces and time.monotonic() - self._last >= DELTA_INTERVAL:
                await self.flush()

    async def flush(self) -> None:
        async with self._lock:  # one publish at a time keeps the deltas in order
            self._last = time.monotonic()
            pieces, self._pieces = self._pieces, []
            batches: list[tuple[str, list[str]]] = []
            for event_type, text in pieces:  # adjacent pieces of one kind: one event
                if batches and batches[-1][0] == event_type:
                    batches[-1][1].append(text)
                else:
                    batches.append((event_type, [text]))
            run_id = self._execution.run.id
            for event_type, texts in batches:
                data = json.dumps({"seq": self._seq, "text": "".join(texts)})
                await self._execution.env.store.publish(run_id, event_type, data)
