"""Bedrock's Converse API in bosun's terms: a `ChatRequest` as the arguments of `converse` /
`converse_stream` (`request_params`), and their answers as a `ChatResponse` (`answer_of`, and
`Assembly` for a stream's events). Plain data in the shapes of botocore's `bedrock-runtime`
model; `bosun.agents.bedrock` sends it.

A `ChatRequest` becomes:

- `system`: the system messages, as text blocks; `messages`: the rest, consecutive messages of
  one role joined into one turn, tool answers as `toolResult` blocks (those of a turn in one
  user message, before any text: parallel tool use), tool calls as `toolUse` blocks.
- An assistant message's reasoning (`Message.reasoning_blocks` that carry a signature, and
  redacted ones) goes back first in its content as `reasoningContent` blocks, unchanged, as
  Claude requires while it is in a tool loop.
- `tools` as `toolConfig` (`toolChoice` `auto`, `any` for `required`, or one tool); Converse
  has no `none`, so with it the tools are only sent when the conversation already holds tool
  blocks (which Converse then requires), and the model is asked with `auto`.
- `max_tokens` and `temperature` as `inferenceConfig` (`max_tokens` in the model's `body` is a
  default). `extra` keys that name Converse's own request fields (`inferenceConfig`,
  `guardrailConfig`, `performanceConfig`, `outputConfig`…) are sent as those (dicts merged
  over what bosun wrote); every other key goes into `additionalModelRequestFields`, which the
  model's native API reads (`thinking`, `top_k`, `reasoningConfig`…).

And the answer: text blocks joined into `content`, `toolUse` blocks into tool calls,
`reasoningContent` into `reasoning` and `reasoning_blocks` (redacted content base64-encoded);
usage counts cache reads and writes inside `prompt_tokens` (Converse's `inputTokens` leaves
them out); `stopReason` reads as `finish_reason`: `end_turn` and `stop_sequence` `stop`,
`tool_use` `tool_calls`, `max_tokens` and `model_context_window_exceeded` `length`,
`guardrail_intervened` and `content_filtered` `content_filter`. `malformed_model_output` and
`malformed_tool_use` fail the call, retryably: another sample may be well formed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bosun.agents.errors import ProviderError
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
from bosun.agents.wire_parts import converse_blocks, system_and_turns

__all__ = ["CONVERSE_FIELDS", "Assembly", "answer_of", "request_params"]

_KIND = "bedrock"  # the name its reasoning blocks carry (`ReasoningBlock.provider`)

CONVERSE_FIELDS = frozenset(
    {
        "inferenceConfig",
        "toolConfig",
        "guardrailConfig",
        "additionalModelRequestFields",
        "promptVariables",
        "additionalModelResponseFieldPaths",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
    }
)
"""The `converse` request fields an `extra` key may name; others are the model's own."""
_TOOL_CHOICES: dict[str, dict[str, Any]] = {"auto": {"auto": {}}, "required": {"any": {}}}
_TOOL_CHOICES["any"] = _TOOL_CHOICES["required"]
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_MALFORMED = frozenset({"malformed_model_output", "malformed_tool_use"})


# -- requests ---------------------------------------------------------------------------------


def request_params(request: ChatRequest) -> dict[str, Any]:
    """The keyword arguments of `converse` (and `converse_stream`) for `request`."""
    system, messages = _conversation(request.messages)
    extra = dict(request.extra)
    max_tokens = request.max_tokens or extra.get("max_tokens")
    extra.pop("max_tokens", None)
    inference: dict[str, Any] = {}
    if max_tokens:
        inference["maxTokens"] = max_tokens
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    params: dict[str, Any] = {"modelId": request.model, "messages": messages}
    if system:
        params["system"] = system
    if inference:
        params["inferenceConfig"] = inference
    tool_config = _tool_config(request, messages)
    if tool_config is not None:
        params["toolConfig"] = tool_config
    native = {key: extra.pop(key) for key in list(extra) if key not in CONVERSE_FIELDS}
    if native:
        extra["additionalModelRequestFields"] = {
            **native,
            **extra.get("additionalModelRequestFields", {}),
        }
    for key, value in extra.items():
        before = params.get(key)
        params[key] = (
            {**before, **value} if isinstance(before, dict) and isinstance(value, dict) else value
        )
    return params


def _conversation(messages: Iterable[Message]) -> tuple[list[dict[str, Any]], list[Any]]:
    """The `system` blocks and the `messages` of a conversation."""
    return system_and_turns(messages, converse_blocks, _blocks, lambda block: "toolResult" in block)


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        content = converse_blocks(message)
        return [{"toolResult": {"toolUseId": message.tool_call_id or "", "content": content}}]
    blocks: list[dict[str, Any]] = []
    if message.role == "assistant":
        for reasoning in signed_by(message, _KIND):
            if reasoning.redacted is not None:
                redacted = base64.b64decode(reasoning.redacted)
                blocks.append({"reasoningContent": {"redactedContent": redacted}})
            elif reasoning.signature:  # unsigned reasoning (another provider's) cannot go back
                signed = {"text": reasoning.text, "signature": reasoning.signature}
                blocks.append({"reasoningContent": {"reasoningText": signed}})
    blocks.extend(converse_blocks(message))
    for call in message.tool_calls:
        use = {"toolUseId": call.id, "name": call.name, "input": _input(call.arguments)}
        blocks.append({"toolUse": use})
    return blocks


def _input(arguments: str) -> dict[str, Any]:
    """A tool call's arguments as the object Converse wants back; `{}` for arguments that were
    not a JSON object (the tool already answered that they were malformed)."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool_config(request: ChatRequest, turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not request.tools:
        return None
    choice = request.tool_choice
    if choice == "none" and not any(
        "toolUse" in block or "toolResult" in block for turn in turns for block in turn["content"]
    ):
        return None
    config: dict[str, Any] = {"tools": [_tool(spec) for spec in request.tools]}
    if choice is not None and choice != "none":
        config["toolChoice"] = _TOOL_CHOICES.get(choice) or {"tool": {"name": choice}}
    return config


def _tool(spec: ToolSpec) -> dict[str, Any]:
    described: dict[str, Any] = {"name": spec.name}
    if spec.description:  # Converse refuses an empty one
        described["description"] = spec.description
    described["inputSchema"] = {"json": spec.parameters}
    return {"toolSpec": described}


# -- answers ----------------------------------------------------------------------------------


@dataclass
class _Block:
    """One content block of an answer, whole or being streamed."""

    type: str  # text, reasoning, redacted, tool_use, or another kind (kept out of the answer)
    text: list[str] = field(default_factory=list)  # a text block's, or a reasoning block's
    arguments: list[str] = field(default_factory=list)  # a tool use's streamed JSON
    input: Any = None  # a tool use's input, whole
    id: str = ""
    name: str = ""
    signature: str | None = None
    data: bytes = b""  # redacted reasoning

    @classmethod
    def of(cls, block: Mapping[str, Any]) -> _Block:
        """A block of a `converse` answer, as botocore parsed it."""
        if "text" in block:
            return cls("text", text=[block["text"]])
        if "toolUse" in block:
            use = block["toolUse"]
            return cls("tool_use", input=use.get("input"), id=use["toolUseId"], name=use["name"])
        reasoning = block.get("reasoningContent")
        if reasoning is not None:
            if "redactedContent" in reasoning:
                return cls("redacted", data=reasoning["redactedContent"])
            said = reasoning.get("reasoningText") or {}
            return cls("reasoning", text=[said.get("text", "")], signature=said.get("signature"))
        return cls(next(iter(block), "unknown"))  # citations, images…: not kept


def answer_of(answer: Mapping[str, Any], model: str) -> ChatResponse:
    """The `ChatResponse` of a `converse` answer (botocore's parsed dict).

    Raises:
        ProviderError: the model's output was malformed (retryable).
    """
    content = answer["output"]["message"]["content"]
    return _response(
        [_Block.of(block) for block in content],
        stop_reason=answer["stopReason"],
        usage=_usage(answer.get("usage")),
        model=model,
        raw_id=answer.get("ResponseMetadata", {}).get("RequestId"),
    )


def _response(
    blocks: list[_Block], *, stop_reason: str | None, usage: Usage, model: str, raw_id: str | None
) -> ChatResponse:
    if stop_reason in _MALFORMED:
        raise ProviderError(
            f"Bedrock model {model!r} stopped with {stop_reason}: its output could not be read "
            f"as an answer; asking again may give a well-formed one",
            retryable=True,
            status=200,
        )
    texts: list[str] = []
    reasoning: list[ReasoningBlock] = []
    calls: list[ToolCall] = []
    for block in blocks:
        if block.type == "text":
            texts.append("".join(block.text))
        elif block.type == "reasoning":
            reasoning.append(
                ReasoningBlock(text="".join(block.text), signature=block.signature, provider=_KIND)
            )
        elif block.type == "redacted":
            redacted = base64.b64encode(block.data).decode()
            reasoning.append(ReasoningBlock(redacted=redacted, provider=_KIND))
        elif block.type == "tool_use":
            arguments = "".join(block.arguments) or json.dumps(block.input or {})
            calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments))
    thoughts = "".join(block.text for block in reasoning)
    return ChatResponse(
        message=Message(
            role="assistant",
            content="".join(texts) if texts or not calls else None,
            tool_calls=calls,
            reasoning=thoughts or None,
            reasoning_blocks=reasoning,
        ),
        usage=usage,
        finish_reason=_FINISH.get(stop_reason or "", stop_reason),
        model=model,
        raw_id=raw_id,
    )


def _usage(usage: Mapping[str, Any] | None) -> Usage:
    """Converse's usage as bosun counts it: `inputTokens` leaves out cache reads and writes,
    `prompt_tokens` holds them."""
    if not usage:
        return Usage()
    read = usage.get("cacheReadInputTokens") or 0
    written = usage.get("cacheWriteInputTokens") or 0
    return Usage(
        prompt_tokens=(usage.get("inputTokens") or 0) + read + written,
        completion_tokens=usage.get("outputTokens") or 0,
        cached_tokens=read,
        cache_write_tokens=written,
    )


@dataclass
class Assembly:
    """A streamed answer put back together from `converse_stream`'s events."""

    model: str
    raw_id: str | None = None
    blocks: dict[int, _Block] = field(default_factory=dict)
    stop_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    stopped: bool = False

    def feed(self, event: Mapping[str, Any]) -> list[StreamDelta]:
        """Take one event (botocore's parsed dict: `{"contentBlockDelta": {...}}`); return its
        new text or reasoning."""
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            use = start["start"].get("toolUse")
            index = start["contentBlockIndex"]
            if use is not None:
                self.blocks[index] = _Block("tool_use", id=use["toolUseId"], name=use["name"])
        elif "contentBlockDelta" in event:
            delta = event["contentBlockDelta"]
            return self._delta(delta["contentBlockIndex"], delta["delta"])
        elif "messageStop" in event:
            self.stop_reason = event["messageStop"]["stopReason"]
            self.stopped = True
        elif "metadata" in event:
            self.usage = _usage(event["metadata"].get("usage"))
        return []  # messageStart, contentBlockStop

    def _delta(self, index: int, delta: Mapping[str, Any]) -> list[StreamDelta]:
        if "text" in delta:
            block = self._block(index, "text")
            block.text.append(delta["text"])
            return [StreamDelta(text=delta["text"])] if delta["text"] else []
        if "toolUse" in delta:
            use = self.blocks.get(index)
            if use is None or use.type != "tool_use":
                raise ProviderError(
                    f"the stream sent tool input for content block {index}, whose tool use "
                    f"never started",
                    retryable=False,
                    status=200,
                )
            use.arguments.append(delta["toolUse"]["input"])
            return []
        reasoning = delta.get("reasoningContent")
        if reasoning is None:
            return []  # citations and the like are not kept
        if "redactedContent" in reasoning:
            self._block(index, "redacted").data += reasoning["redactedContent"]
            return []
        block = self._block(index, "reasoning")
        if "signature" in reasoning:
            block.signature = reasoning["signature"]
        said = reasoning.get("text")
        if not said:
            return []
        block.text.append(said)
        return [StreamDelta(reasoning=said)]

    def _block(self, index: int, kind: str) -> _Block:
        """The block at `index`; text and reasoning blocks start with their first delta."""
        if index not in self.blocks:
            self.blocks[index] = _Block(kind)
        return self.blocks[index]

    def response(self) -> ChatResponse:
        """The whole answer.

        Raises:
            ProviderError: the model's output was malformed (retryable).
        """
        return _response(
            [self.blocks[i] for i in sorted(self.blocks)],
            stop_reason=self.stop_reason,
            usage=self.usage,
            model=self.model,
            raw_id=self.raw_id,
        )
