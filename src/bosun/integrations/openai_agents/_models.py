"""The SDK's models, with every call a journaled bosun LLM call.

Both kinds implement the SDK's public `Model` interface and are handed out by a
`ModelProvider` (`RunConfig.model_provider`), or put in place of an agent's own `Model`:

- `AliasModel`: a bosun model alias (`BOSUN_MODELS`, `app.models.register`). The call is
  `ctx.llm.chat` itself: bosun's provider speaks the wire (OpenAI-compatible servers, the
  offline scripted model), prices it, streams its tokens, retries it on durable timers.
- `JournaledModel`: any other SDK model (the Responses API by default, Chat Completions,
  LiteLLM, a custom one), called by the SDK as usual, inside a journaled step of kind `llm`
  that counts like `ctx.llm`'s: the run's and tenant's budgets are checked before it, the
  `llm:<alias>` rate limit is reserved and settled around it, its usage and cost are
  recorded where the usage table and budgets read them.

Either way the answer is journaled: a replay, or another worker resuming the run, gets the
recorded `ModelResponse` and never calls the model again.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import openai
from agents import (
    AgentOutputSchemaBase,
    AgentsException,
    FunctionTool,
    Handoff,
    Model,
    ModelProvider,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    Tool,
    TResponseInputItem,
    Usage,
    UserError,
)
from agents.items import TResponseStreamEvent
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseOutputItem,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from bosun import ratelimit
from bosun.agents import budget
from bosun.agents.errors import ProviderError, ProviderRateLimited, ProviderTimeout
from bosun.agents.llm import LLM, LLM_RETRY, REASONING_DELTA, TEXT_DELTA, DeltaBatcher
from bosun.agents.messages import ToolSpec, estimate_tokens
from bosun.agents.registry import MODELS
from bosun.engine.definitions import StepDef
from bosun.engine.hooks import LlmCall
from bosun.errors import ConfigurationError
from bosun.integrations.openai_agents._convert import (
    bosun_usage,
    dump_response,
    items_to_messages,
    load_response,
    response_from_chat,
)
from bosun.retry import retry_after_seconds

if TYPE_CHECKING:
    from bosun.agents.pricing import ModelConfig
    from bosun.agents.registry import Models
    from bosun.integrations.openai_agents._scope import Scope

ESTIMATED_COMPLETION = 512  # tokens reserved for an answer when max_tokens is not given
# An SDK model's own errors (a malformed answer, a misuse) are final; a provider's are mapped
# to bosun's ProviderError, which says whether a later try may succeed.
MODEL_RETRY = dataclasses.replace(LLM_RETRY, non_retryable=(AgentsException,))
_TEXT_EVENTS = {"response.output_text.delta"}
_REASONING_EVENTS = {"response.reasoning_text.delta", "response.reasoning_summary_text.delta"}
_FAILED_EVENTS = {"response.failed", "response.incomplete", "error", "response.error"}
_RETRYABLE_STATUSES = frozenset({408, 409, 429})


class Provider(ModelProvider):
    """Models by name for a wrapped run: a bosun alias becomes an `AliasModel`; any other
    name is `fallback`'s model (the SDK's own provider) wrapped in a `JournaledModel`."""

    def __init__(self, scope: Scope, fallback: ModelProvider) -> None:
        self._scope = scope
        self._fallback = fallback
        self._made: dict[str | None, Model] = {}

    def get_model(self, model_name: str | None) -> Model:
        made = self._made.get(model_name)
        if made is None:
            models = _models(self._scope)
            configs = models.configs if models is not None else {}
            if model_name is not None and model_name in configs:
                made = AliasModel(self._scope, model_name)
            else:
                made = journaled(self._scope, self._fallback.get_model(model_name), model_name)
            self._made[model_name] = made
        return made


def journaled(scope: Scope, model: Model, name: str | None = None) -> Model:
    """`model` with its calls journaled (a model already wrapped is returned as it is)."""
    if isinstance(model, JournaledModel | AliasModel):
        return model
    return JournaledModel(scope, model, name)


def _models(scope: Scope) -> Models | None:
    return scope.execution.env.extensions.get(MODELS)


class _AnswersWhole(Model):
    """`stream_response` as one completed event carrying the whole (journaled) answer: the
    answer's text already reached bosun's own stream while the step ran."""

    _event_model: str

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        response = await self.get_response(
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            tracing,
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
            prompt=prompt,
        )
        yield _completed_event(response, self._event_model)


class AliasModel(_AnswersWhole):
    """A bosun model alias, called through `ctx.llm.chat` (see the module docstring)."""

    def __init__(self, scope: Scope, alias: str) -> None:
        self.alias = alias
        self._event_model = alias
        self._scope = scope

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        if prompt is not None:
            raise UserError(f"model alias {self.alias!r}: prompt templates need an OpenAI model")
        specs = [_spec(tool) for tool in tools]
        specs += [
            ToolSpec(
                name=h.tool_name, description=h.tool_description, parameters=h.input_json_schema
            )
            for h in handoffs
        ]
        schema = None
        if output_schema is not None and not output_schema.is_plain_text():
            schema = output_schema.json_schema()
        settings = model_settings
        response = await LLM(self._scope.execution).chat(
            messages=items_to_messages(input, system_instructions),
            model=self.alias,
            tools=specs or None,
            tool_choice=_tool_choice(settings.tool_choice),
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            response_schema=schema,
            schema_name=None if output_schema is None else output_schema.name(),
            idle_timeout=self._scope.idle_timeout,
            extra=_extra(settings, bool(specs)),
        )
        answer = response_from_chat(response)
        _unique_call_ids(answer, input)
        self._scope.answered(answer.output)
        return answer


class JournaledModel(_AnswersWhole):
    """An SDK model whose every call is a journaled bosun LLM call (see the module docstring).

    Args:
        scope: the wrapped run.
        model: the SDK model (`OpenAIResponsesModel`, `OpenAIChatCompletionsModel`, …).
        name: the name it was asked for by; its `model` attribute, or the class's name, when
            None. Usage, the `llm:<alias>` rate limit and prices are those of the bosun alias
            whose provider-side `model` is that name, when there is one; else of the name.
    """

    def __init__(self, scope: Scope, model: Model, name: str | None = None) -> None:
        self.model = model
        self._scope = scope
        self.name = name or str(getattr(model, "model", None) or type(model).__name__)
        self.config = _config_for(scope, self.name)
        self.alias = self.config.alias if self.config is not None else self.name
        self._event_model = self.name

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        execution = self._scope.execution
        limit = f"llm:{self.alias}"
        reservation = None
        if limit in execution.env.rate_limits:
            estimate = estimate_tokens(f"{system_instructions or ''}{input}") + (
                model_settings.max_tokens or ESTIMATED_COMPLETION
            )
            reservation = await ratelimit.reserve(execution, limit, estimate)
        if execution.recorded_next() is None:  # about to make a new call, not replay one
            await budget.check(execution)
        arguments: dict[str, Any] = {
            "system_instructions": system_instructions,
            "input": input,
            "model_settings": model_settings,
            "tools": tools,
            "output_schema": output_schema,
            "handoffs": handoffs,
            "tracing": tracing,
            "previous_response_id": previous_response_id,
            "conversation_id": conversation_id,
            "prompt": prompt,
        }

        made: list[ModelResponse] = []  # the answer itself, when made here (not replayed)

        async def call() -> dict[str, Any]:
            started = time.monotonic()
            try:
                if self._scope.stream:
                    response = await self._streamed(arguments)
                else:
                    response = await self.model.get_response(**arguments)
            except openai.APIError as exc:
                raise _provider_error(exc) from exc
            usage = bosun_usage(response.usage)
            cost = self.config.cost(usage) if self.config is not None else 0.0
            budget.spend(execution, usage.prompt_tokens + usage.completion_tokens, cost)
            execution.env.observer.llm_called(
                execution,
                LlmCall(
                    alias=self.alias,
                    model=self.name,
                    provider=self.config.provider if self.config is not None else "openai-agents",
                    input_tokens=usage.prompt_tokens,
                    output_tokens=usage.completion_tokens,
                    cached_tokens=usage.cached_tokens,
                    cost=cost,
                    seconds=time.monotonic() - started,
                ),
            )
            # `response.usage` and `cost` where budgets and the usage table read every call.
            made.append(response)
            recorded = {"usage": usage.model_dump(), "sdk": dump_response(response)}
            return {"response": recorded, "cost": cost}

        step = StepDef(
            fn=call, name=f"llm:{self.alias}", retry=MODEL_RETRY, is_async=True, return_hint=Any
        )
        recorded = await execution.call_step(step, (), {}, kind="llm")
        response = made[-1] if made else load_response(recorded["response"]["sdk"])
        if reservation is not None:
            await ratelimit.settle(execution, reservation, response.usage.total_tokens)
        self._scope.answered(response.output)
        return response

    async def _streamed(self, arguments: dict[str, Any]) -> ModelResponse:
        """The model's answer, streamed: its text and reasoning go to the run's event stream
        as they come (`llm.delta`, `llm.reasoning.delta`, as `ctx.llm` sends them)."""
        completed: Response | None = None
        items: list[ResponseOutputItem] = []
        async with DeltaBatcher(self._scope.execution) as deltas:
            async for event in self.model.stream_response(**arguments):
                kind = getattr(event, "type", "")
                if kind in _TEXT_EVENTS:
                    await deltas.add(TEXT_DELTA, str(getattr(event, "delta", "")))
                elif kind in _REASONING_EVENTS:
                    await deltas.add(REASONING_DELTA, str(getattr(event, "delta", "")))
                elif kind == "response.output_item.done":
                    items.append(event.item)  # type: ignore[union-attr]  # by its type
                elif isinstance(event, ResponseCompletedEvent):
                    completed = event.response
                elif kind in _FAILED_EVENTS:
                    raise ProviderError(f"model {self.name!r}: the answer failed ({kind}): {event}")
        if completed is None:
            raise ProviderError(
                f"model {self.name!r}: the stream ended without a completed response",
                retryable=True,
            )
        usage = Usage(requests=1)
        if completed.usage is not None:
            got = completed.usage
            usage = Usage(
                requests=1,
                input_tokens=got.input_tokens,
                output_tokens=got.output_tokens,
                total_tokens=got.total_tokens,
                input_tokens_details=got.input_tokens_details,
                output_tokens_details=got.output_tokens_details,
            )
        return ModelResponse(
            output=list(completed.output) or items, usage=usage, response_id=completed.id
        )

    async def close(self) -> None:
        await self.model.close()


# -- helpers ----------------------------------------------------------------------------------


def _config_for(scope: Scope, name: str) -> ModelConfig | None:
    """The bosun alias serving the provider-side model `name`, if one does."""
    models = _models(scope)
    if models is None:
        return None
    configs = models.configs
    if name in configs:
        return configs[name]
    return next((c for c in configs.values() if c.model == name), None)


def _unique_call_ids(answer: ModelResponse, items: str | list[TResponseInputItem]) -> None:
    """Give each tool call of `answer` an id no earlier call of the conversation has: the SDK
    refuses a run whose model reuses one, and some servers (and the scripted model, whose
    ids restart with its call count) do. Ids that are already unique are left as they are."""
    seen: set[str] = set()
    for item in [] if isinstance(items, str) else items:
        fields = item if isinstance(item, dict) else vars(item)
        if fields.get("type") == "function_call":
            seen.add(str(fields.get("call_id")))
    for output in answer.output:
        call_id = getattr(output, "call_id", None)
        if not isinstance(call_id, str):
            continue
        unique, n = call_id, 1
        while unique in seen:
            unique, n = f"{call_id}_{n}", n + 1
        if unique != call_id:
            output.call_id = unique  # type: ignore[union-attr]  # the items that have one
        seen.add(unique)


def _spec(tool: Tool) -> ToolSpec:
    if not isinstance(tool, FunctionTool):
        raise ConfigurationError(
            f"tool {tool.name!r} ({type(tool).__name__}) runs on OpenAI's servers; a bosun "
            f"model alias takes function tools only: give the agent an OpenAI model name"
        )
    return ToolSpec(
        name=tool.name, description=tool.description, parameters=tool.params_json_schema
    )


def _tool_choice(choice: Any) -> str | None:
    return choice if isinstance(choice, str) else None


def _extra(settings: ModelSettings, tools: bool) -> dict[str, Any]:
    """Body fields of `settings` that `ctx.llm.chat` takes no argument for."""
    extra: dict[str, Any] = {}
    for field in ("top_p", "frequency_penalty", "presence_penalty", "top_logprobs"):
        value = getattr(settings, field)
        if value is not None:
            extra[field] = value
    if settings.parallel_tool_calls is not None and tools:
        extra["parallel_tool_calls"] = settings.parallel_tool_calls
    if settings.reasoning is not None and settings.reasoning.effort is not None:
        extra["reasoning_effort"] = settings.reasoning.effort
    extra.update(settings.extra_body if isinstance(settings.extra_body, dict) else {})
    extra.update(settings.extra_args or {})
    return extra


def _completed_event(response: ModelResponse, model: str) -> ResponseCompletedEvent:
    """The last event of a streamed answer, for the SDK's streamed runs (`run_streamed`, an
    agent used as a tool with `on_stream`): the answer comes whole, journaled."""
    usage = response.usage
    return ResponseCompletedEvent(
        type="response.completed",
        sequence_number=0,
        response=Response(
            id=response.response_id or "bosun-replayed",
            created_at=0,
            model=model,
            object="response",
            output=list(response.output),
            parallel_tool_calls=False,
            tool_choice="auto",
            tools=[],
            usage={
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens,
                "input_tokens_details": InputTokensDetails(
                    cached_tokens=usage.input_tokens_details.cached_tokens or 0,
                    cache_write_tokens=0,
                ),
                "output_tokens_details": OutputTokensDetails(
                    reasoning_tokens=usage.output_tokens_details.reasoning_tokens or 0
                ),
            },
        ),
    )


def _provider_error(exc: openai.APIError) -> ProviderError:
    """An OpenAI client error as bosun's, saying whether to try again (and when)."""
    message = f"{type(exc).__name__}: {exc.message}"
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeout(message)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(message, retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            return ProviderRateLimited(message, retry_after=_retry_after(exc.response.headers))
        retryable = status >= 500 or status in _RETRYABLE_STATUSES
        return ProviderError(message, retryable=retryable, status=status)
    return ProviderError(message)


def _retry_after(headers: Any) -> float | None:
    return retry_after_seconds(headers)
