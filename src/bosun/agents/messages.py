"""The data a provider takes and returns: messages, tool calls, requests, responses, usage.

All are pydantic models that survive a JSON round trip unchanged, so they can be journaled:
`ChatResponse.model_validate_json(response.model_dump_json()) == response`. A message's
content is text, or a list of content parts (`bosun.agents.parts`: text, images, files).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from bosun.agents.parts import (
    ContentPart,
    FilePart,
    ImagePart,
    TextPart,
    file_part,
    image_part,
    joined_text,
    parts_of,
)

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "Content",
    "ContentPart",
    "FilePart",
    "ImagePart",
    "Message",
    "ReasoningBlock",
    "Role",
    "StreamDelta",
    "TextPart",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "estimate_tokens",
    "signed_by",
]

Role = Literal["system", "user", "assistant", "tool"]
Content = str | list[ContentPart]
"""A message's content: text, or content parts (text, images, files)."""
Image = ImagePart | bytes | str | os.PathLike[str]
"""An image as `Message.user(images=…)` takes it: see `bosun.agents.parts.image_part`."""
File = FilePart | bytes | str | os.PathLike[str]
"""A file as `Message.user(files=…)` takes it: see `bosun.agents.parts.file_part`."""


class ToolCall(BaseModel):
    """A model's request to call one tool.

    Attributes:
        id: the provider's id of the call; the tool's answer refers to it.
        name: the tool's name.
        arguments: the arguments as raw JSON text, exactly as the model produced it (it may
            be malformed; `bosun.agents.tools.call_arguments` checks it).
        signature: the provider's signature of the reasoning that led to the call (Gemini's
            `thought_signature`, base64), passed back with the call as the API requires in a
            tool loop.
    """

    id: str
    name: str
    arguments: str = "{}"
    signature: str | None = None


class ReasoningBlock(BaseModel):
    """One block of a model's reasoning exactly as the provider returned it, kept to be passed
    back unchanged: Anthropic's `thinking` blocks with their `signature` (the API checks it), and
    its `redacted_thinking` blocks (encrypted, no readable text); Gemini's thought parts with
    their `thought_signature`, and the signature of its answer's text (a block with no text).

    Attributes:
        text: the reasoning text; empty for a redacted block.
        signature: the provider's signature of `text`.
        redacted: the encrypted content of a block the provider redacted.
        provider: who wrote it (`anthropic`, `gemini`, `bedrock`). Signatures and redacted
            blocks mean something to their own provider only, so each passes back only its
            own (`signed_by`): a session whose model changed, or an agent that hands over to
            another provider's model, sends the others' reasoning nowhere. None: journaled
            before bosun recorded it, when only the Anthropic provider wrote blocks.
    """

    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    provider: str | None = None


def signed_by(message: Message, provider: str) -> list[ReasoningBlock]:
    """The reasoning blocks of `message` that `provider` wrote, to pass back to it."""
    legacy = "anthropic"  # the one provider that wrote blocks before they named their writer
    return [
        block
        for block in message.reasoning_blocks
        if block.provider == provider or (block.provider is None and provider == legacy)
    ]


class Message(BaseModel):
    """One message of a conversation.

    Attributes:
        role: who speaks: `system`, `user`, `assistant` or `tool` (a tool's answer).
        content: the text, or a list of content parts (`TextPart`, `ImagePart`, `FilePart`);
            `None` for an assistant message that only calls tools. Code that wants the text
            reads `text`.
        tool_calls: the tools an assistant message calls.
        tool_call_id: for a `tool` message, the id of the call it answers.
        name: for a `tool` message, the tool's name (optional on the wire).
        reasoning: for an assistant message, the reasoning text the model wrote before it
            (`reasoning_content` or `reasoning` from vLLM, DeepSeek, Ollama…); kept so it can
            be passed back while the model is in a tool loop, never shown as the answer.
        reasoning_blocks: for an assistant message, the reasoning as the provider's own blocks
            (Anthropic's thinking blocks and their signatures), passed back verbatim to that
            provider; `reasoning` holds their text.
    """

    role: Role
    content: Content | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: str | None = None
    reasoning_blocks: list[ReasoningBlock] = Field(default_factory=list)

    @property
    def text(self) -> str:
        """The text of the content: the string, or the text parts a line apart ("" for none)."""
        return joined_text(self.content)

    @property
    def parts(self) -> list[ContentPart]:
        """The content as parts (a string is one text part)."""
        return parts_of(self.content)

    @classmethod
    def system(cls, content: str) -> Message:
        """A system message."""
        return cls(role="system", content=content)

    @classmethod
    def user(
        cls,
        content: str | Sequence[ContentPart],
        *,
        images: Sequence[Image] = (),
        files: Sequence[File] = (),
    ) -> Message:
        """A user message: text, or parts; `images` and `files` go before the text (where
        Anthropic advises them). An image is an `ImagePart`, bytes, a URL (`https://…`,
        `data:…`) or a `pathlib.Path`; a file likewise (a `FilePart`, PDF bytes, a URL, a
        path). Plain text stays a string."""
        if isinstance(content, str) and not images and not files:
            return cls(role="user", content=content)
        attached: list[ContentPart] = [image_part(image) for image in images]
        attached += [file_part(file) for file in files]
        return cls(role="user", content=attached + parts_of(content))

    @classmethod
    def assistant(
        cls, content: str | Sequence[ContentPart] | None, tool_calls: Sequence[ToolCall] = ()
    ) -> Message:
        """An assistant message: text (or parts), tool calls, or both."""
        if content is not None and not isinstance(content, str):
            content = list(content)
        return cls(role="assistant", content=content, tool_calls=list(tool_calls))

    @classmethod
    def tool(cls, call: ToolCall, content: str | Sequence[ContentPart]) -> Message:
        """The answer to tool call `call`: text, or parts (an MCP tool's image)."""
        content = content if isinstance(content, str) else list(content)
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
        cache_write_tokens: the part of `prompt_tokens` the provider wrote to its prompt cache
            (Anthropic bills it above the input price).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0

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
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
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
        max_tokens: the most tokens to generate; the provider's default when `None`. Sent as
            `max_tokens` or `max_completion_tokens`, whichever the model's API wants.
        extra: more body fields, sent as they are (`seed`, `top_p`, `reasoning_effort`,
            `parallel_tool_calls`…); they override the fields bosun writes.
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
        finish_reason: why generation stopped: `stop`, `length` (the token limit: the answer
            is cut short), `tool_calls`, `content_filter` (the provider withheld the answer), …
        model: the model that answered, as the provider names it.
        raw_id: the provider's id of the completion.
        refusal: the model's refusal to answer (OpenAI's `refusal`), when it refused.
    """

    message: Message
    usage: Usage = Field(default_factory=Usage)
    finish_reason: str | None = None
    model: str = ""
    raw_id: str | None = None
    refusal: str | None = None


class StreamDelta(BaseModel):
    """A piece of the answer as it was generated: of its text, or of the reasoning the model
    wrote before it (one of the two is set)."""

    text: str = ""
    reasoning: str = ""


_TOKENS_PER_MESSAGE = 4  # role and separators, as OpenAI's chat format counts them
# An image or file part, whatever its size: about what a detailed 1024x1024 image costs at
# OpenAI and Anthropic. Providers bill images by pixels and documents by pages, which bosun
# does not read; the real usage settles the rate-limit reservation after the call.
_TOKENS_PER_ATTACHMENT = 1000


def estimate_tokens(value: str | Message | Sequence[Message]) -> int:
    """A deterministic token estimate: about four characters a token, plus a few tokens per
    message. Good for budgets before a call and for the scripted provider, not for billing."""
    if isinstance(value, str):
        return math.ceil(len(value) / 4)
    if isinstance(value, Message):
        text = value.text + "".join(c.name + c.arguments for c in value.tool_calls)
        attachments = sum(not isinstance(part, TextPart) for part in value.parts)
        return _TOKENS_PER_MESSAGE + estimate_tokens(text) + attachments * _TOKENS_PER_ATTACHMENT
    return sum(estimate_tokens(message) for message in value)
