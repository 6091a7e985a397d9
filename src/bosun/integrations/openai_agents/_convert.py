"""Between the SDK's data and bosun's: conversation items (the Responses API's shape, which
the SDK speaks to every model) and bosun `Message`s, a bosun `ChatResponse` and the SDK's
`ModelResponse`, and a `ModelResponse` and the JSON a journal entry holds.

Items become chat messages through the SDK's own converter (the one its Chat Completions
model uses), so what a bosun alias is sent is what the SDK would send such a server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

from agents import ModelResponse, TResponseInputItem, Usage
from agents.models.chatcmpl_converter import Converter
from openai.types.chat import ChatCompletionMessage, ChatCompletionMessageFunctionToolCall
from openai.types.chat.chat_completion_message_function_tool_call import Function
from openai.types.responses import ResponseOutputItem
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails
from pydantic import TypeAdapter

from bosun.agents.messages import ChatResponse, Content, Message, Role, ToolCall
from bosun.agents.messages import Usage as BosunUsage
from bosun.agents.parts import ContentPart, FilePart, ImagePart, TextPart
from bosun.agents.wire_parts import described

_OUTPUT = TypeAdapter(list[ResponseOutputItem])
_USAGE = TypeAdapter(Usage)
_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}


# -- conversation items and bosun messages ---------------------------------------------------


def items_to_messages(
    items: str | Iterable[TResponseInputItem], system: str | None = None
) -> list[Message]:
    """The conversation `items` (and the system instructions) as bosun messages: text, and
    images and inline files as content parts; file ids and reasoning items are dropped."""
    messages = [] if system is None else [Message.system(system)]
    for wire in Converter.items_to_messages(items):
        messages.append(_message(dict(wire)))
    return messages


def _message(wire: Mapping[str, Any]) -> Message:
    role = str(wire.get("role"))
    text = _content(wire.get("content"))
    if role == "tool":
        return Message(role="tool", content=text, tool_call_id=str(wire.get("tool_call_id")))
    calls = [
        ToolCall(
            id=str(call.get("id") or ""),
            name=str((call.get("function") or {}).get("name") or ""),
            arguments=str((call.get("function") or {}).get("arguments") or "{}"),
        )
        for call in wire.get("tool_calls") or []
    ]
    reasoning = wire.get("reasoning_content")
    return Message(
        role=_ROLES.get(role, "user"),
        content=text if text or not calls else None,
        tool_calls=calls,
        reasoning=reasoning if isinstance(reasoning, str) and reasoning else None,
    )


def _content(content: Any) -> Content:
    """Chat-completions content as bosun's: text (its text parts joined, as before parts
    existed) when it holds no image or file, else parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [part for part in map(_part, content) if part is not None]
    if all(isinstance(part, TextPart) for part in parts):
        return "".join(part.text for part in parts if isinstance(part, TextPart))
    return parts


def _part(part: Any) -> ContentPart | None:
    if not isinstance(part, Mapping):
        return None
    image = part.get("image_url")
    if part.get("type") == "image_url" and isinstance(image, Mapping) and image.get("url"):
        return ImagePart(url=str(image["url"]))
    file = part.get("file")
    if part.get("type") == "file" and isinstance(file, Mapping) and file.get("file_data"):
        return FilePart(data=str(file["file_data"]), name=file.get("filename"))
    text = part.get("text") or part.get("refusal")
    return TextPart(text) if isinstance(text, str) else None


def messages_to_items(messages: Iterable[Message]) -> list[TResponseInputItem]:
    """Bosun messages (a session's history) as conversation items the SDK takes as input."""
    items: list[TResponseInputItem] = []
    for message in messages:
        if message.role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id or "",
                    "output": described(message),
                }
            )
            continue
        if message.content or not message.tool_calls:
            items.append(cast("TResponseInputItem", _item(message)))
        for call in message.tool_calls:
            items.append(
                {
                    "type": "function_call",
                    "call_id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                }
            )
    return items


def _item(message: Message) -> dict[str, Any]:
    """A user, system or assistant message as an input item: text, or for a user message
    with images or files, input parts."""
    if message.role != "user" or not isinstance(message.content, list):
        return {"role": message.role, "content": message.text}
    return {"role": "user", "content": [_input_part(part) for part in message.content]}


def _input_part(part: ContentPart) -> Any:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImagePart):
        return {"type": "input_image", "image_url": part.url or part.data_url, "detail": "auto"}
    if part.data is None:
        return {"type": "input_file", "file_url": part.url}
    return {"type": "input_file", "file_data": part.data_url, "filename": part.name or "file"}


def response_from_chat(response: ChatResponse) -> ModelResponse:
    """A bosun model answer as the SDK's `ModelResponse`."""
    message = response.message
    extra: dict[str, Any] = {}
    if message.reasoning:
        extra["reasoning_content"] = message.reasoning
    chat = ChatCompletionMessage(
        role="assistant",
        content=None if message.content is None else message.text,
        refusal=response.refusal,
        tool_calls=[
            ChatCompletionMessageFunctionToolCall(
                id=call.id,
                type="function",
                function=Function(name=call.name, arguments=call.arguments),
            )
            for call in message.tool_calls
        ]
        or None,
        **extra,
    )
    usage = response.usage
    return ModelResponse(
        output=Converter.message_to_output_items(chat),
        usage=Usage(
            requests=1,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
            input_tokens_details=InputTokensDetails(
                cached_tokens=usage.cached_tokens, cache_write_tokens=0
            ),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        ),
        response_id=None,
    )


# -- the journal -------------------------------------------------------------------------------


def bosun_usage(usage: Usage) -> BosunUsage:
    """The SDK's usage of one call in bosun's terms (for prices, budgets, the usage table)."""
    details = usage.input_tokens_details
    cached = details.cached_tokens if details is not None else 0
    return BosunUsage(
        prompt_tokens=usage.input_tokens,
        completion_tokens=usage.output_tokens,
        cached_tokens=cached or 0,
    )


def dump_response(response: ModelResponse) -> dict[str, Any]:
    """`response` as JSON for the journal; `load_response` gives it back."""
    return {
        "output": _OUTPUT.dump_python(list(response.output), mode="json"),
        "usage": _USAGE.dump_python(response.usage, mode="json"),
        "response_id": response.response_id,
        "request_id": response.request_id,
        "raw_usage": _jsonable(response.raw_usage),
    }


def load_response(data: Mapping[str, Any]) -> ModelResponse:
    return ModelResponse(
        output=_OUTPUT.validate_python(data["output"]),
        usage=_USAGE.validate_python(data["usage"]),
        response_id=data.get("response_id"),
        request_id=data.get("request_id"),
        raw_usage=data.get("raw_usage"),
    )


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        return dict(json.loads(json.dumps(value)))
    except (TypeError, ValueError):
        return None
