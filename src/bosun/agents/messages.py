"""The data a provider takes and returns: messages, tool calls, requests, responses, usage.

All are pydantic models that survive a JSON round trip unchanged, so they can be journaled:
`ChatResponse.model_validate_json(response.model_dump_json()) == response`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "Message",
    "Role",
    "StreamDelta",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "estimate_tokens",
]

Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(BaseModel):
    """A model's request to call one tool.

    Attributes:
        id: the provider's id of the call; the tool's answer refers to it.
        name: the tool's name.
        arguments: the arguments as raw JSON text, exactly as the model produced it (it may
            be malformed; `bosun.agents.tools.call_arguments` checks it).
    """

    id: str
    name: str
    arguments: str = "{}"


class Message(BaseModel):
    """One message of a conversation.

    Attributes:
        role: who speaks: `system`, `user`, `assistant` or `tool` (a tool's answer).
        content: the text; `None` for an assistant message that only calls tools.
        tool_calls: the tools an assistant message calls.
        tool_call_id: for a `tool` message, the id of the call it answers.
        name: for a `tool` message, the tool's name (optional on the wire).
    """

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    @classmethod
    def system(cls, content: str) -> Message:
        """A system message."""
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        """A user message."""
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str | None, tool_calls: Sequence[ToolCall] = ()) -> Message:
        """An assistant message: text, tool calls, or both."""
        return cls(role="assistant", content=content, tool_calls=list(tool_calls))

    @classmethod
    def tool(cls, call: ToolCall, content: str) -> Message:
        """The answer to tool call `call`."""
        return cls(role="tool", content=content, tool_call_id=call.id, name=call.name)


class ToolSpec(BaseModel):
    """A tool as a model sees it.

    Attributes:
        name: the name the model calls it by (`^[a-zA-Z0-9_-]{1,64}$` for OpenAI).
        description: what it does and when to use it.
        parameters: the JSON schema of its arguments (an object schema).
    """

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Usage(BaseModel):
    """Tokens one call (or a sum of calls: `a + b`) consumed.

    Attributes:
        prompt_tokens: input tokens, cached ones included.
        completion_tokens: output tokens.
        cached_tokens: the part of `prompt_tokens` the provider served from its prompt cache.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
        )


class ChatRequest(BaseModel):
    """One chat-completion request.

    Attributes:
        model: the provider-side model name (not bosun's alias).
        messages: the conversation so far.
        tools: the tools the model may call.
        tool_choice: `auto`, `none`, `required`, or the name of the one tool it must call.
        response_schema: a JSON schema the answer must follow (structured output).
        schema_name: the schema's name, sent with it (OpenAI requires one).
        temperature: sampling temperature; the provider's default when `None`.
        max_tokens: the most tokens to generate; the provider's default when `None`.
        extra: more body fields, sent as they are (`seed`, `top_p`, `reasoning_effort`…).
    """

    model: str
    messages: list[Message]
    tools: list[ToolSpec] = Field(default_factory=list)
    tool_choice: str | None = None
    response_schema: dict[str, Any] | None = None
    schema_name: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class ChatResponse(BaseModel):
    """A complete answer.

    Attributes:
        message: the assistant's message, tool calls included.
        usage: the tokens the call consumed (zero when the server did not say).
        finish_reason: why generation stopped: `stop`, `length`, `tool_calls`, …
        model: the model that answered, as the provider names it.
        raw_id: the provider's id of the completion.
    """

    message: Message
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    model: str = ""
    raw_id: str | None = None


class StreamDelta(BaseModel):
    """A piece of the assistant's text, as it was generated."""

    text: str


_TOKENS_PER_MESSAGE = 4  # role and separators, as OpenAI's chat format counts them


def estimate_tokens(value: str | Message | Sequence[Message]) -> int:
    """A deterministic token estimate: about four characters a token, plus a few tokens per
    message. Good for budgets before a call and for the scripted provider, not for billing."""
    if isinstance(value, str):
        return math.ceil(len(value) / 4)
    if isinstance(value, Message):
        text = (value.content or "") + "".join(c.name + c.arguments for c in value.tool_calls)
        return _TOKENS_PER_MESSAGE + estimate_tokens(text)
    return sum(estimate_tokens(message) for message in value)
