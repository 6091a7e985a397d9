"""Model calls in the form of OpenTelemetry's GenAI semantic conventions, for the tracing
of message content (opt-in: `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`).

Messages become `{"role", "parts": [...]}` objects whose parts are `text`, `reasoning`,
`tool_call` (id, name, arguments), `tool_call_response` (id, response), and for images and
files `blob` (modality, mime_type, base64 content) or `uri` (modality, mime_type, uri); system
messages become the call's system instructions.
"""

from __future__ import annotations

import json
from typing import Any

from bosun.agents.messages import ChatRequest, ChatResponse, Message
from bosun.agents.parts import ContentPart, ImagePart, TextPart, describe
from bosun.engine.hooks import GenAiContent

__all__ = ["content_of"]


def content_of(request: ChatRequest, response: ChatResponse) -> GenAiContent:
    """The call's system instructions, input messages and output message."""
    system = [
        {"type": "text", "content": m.text}
        for m in request.messages
        if m.role == "system" and m.content
    ]
    inputs = [_message(m) for m in request.messages if m.role != "system"]
    output = _message(response.message)
    if response.finish_reason:
        output["finish_reason"] = response.finish_reason
    return GenAiContent(system, inputs, [output])


def _message(message: Message) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if message.reasoning:
        parts.append({"type": "reasoning", "content": message.reasoning})
    if message.role == "tool":
        parts.append(
            {
                "type": "tool_call_response",
                "id": message.tool_call_id,
                "response": "\n".join(describe(part) for part in message.parts),
            }
        )
    else:
        parts.extend(_part(part) for part in message.parts)
    for call in message.tool_calls:
        parts.append(
            {
                "type": "tool_call",
                "id": call.id,
                "name": call.name,
                "arguments": _arguments(call.arguments),
            }
        )
    return {"role": message.role, "parts": parts}


def _part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "content": part.text}
    modality = "image" if isinstance(part, ImagePart) else "document"
    if part.data is None:
        return {"type": "uri", "modality": modality, "mime_type": part.media_type, "uri": part.url}
    return {
        "type": "blob",
        "modality": modality,
        "mime_type": part.media_type,
        "content": part.data,
    }


def _arguments(raw: str) -> Any:
    """The call's arguments as JSON values, or the model's text when it is not JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw
