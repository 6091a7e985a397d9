"""Content parts (`bosun.agents.parts`) in each provider's wire format.

| part | OpenAI chat | Anthropic | Gemini | Bedrock Converse |
|---|---|---|---|---|
| image, inline | `image_url`, data URL | `image`, `base64` | `inline_data` | `image`, bytes |
| image, URL | `image_url` | `image`, `url` | `file_data` | `s3://` only |
| file, inline | `file`, `file_data` | `document` (PDF, text) | `inline_data` | `document`, bytes |
| file, URL | refused | `document`, `url` (PDF) | `file_data` | `s3://` only |
| in tool results | described in text | blocks | described in text | blocks |

Each function raises `UnsupportedContent`, before anything is sent, for a part the provider
cannot take where it is; the message says what it takes instead. Images and files go in user
messages (and tool results, where the table says so); a system or assistant message with one
is refused, except for Gemini, whose model turns may carry images.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
from typing import Any

from bosun.agents.errors import UnsupportedContent
from bosun.agents.messages import Message
from bosun.agents.parts import ContentPart, FilePart, ImagePart, TextPart, describe
from bosun.errors import ConfigurationError

__all__ = [
    "anthropic_blocks",
    "converse_blocks",
    "described",
    "gemini_parts",
    "openai_content",
]

_ANTHROPIC_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_CONVERSE_IMAGES = {
    "image/jpeg": "jpeg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
}
_CONVERSE_DOCUMENTS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
# Converse document names: letters, digits, whitespace (one at a time), hyphens, parentheses
# and square brackets.
_CONVERSE_NAME_DROPS = re.compile(r"[^A-Za-z0-9\s()\[\]-]+")


Blocks = Callable[[Message], list[dict[str, Any]]]


def system_and_turns(
    messages: Iterable[Message],
    system_blocks: Blocks,
    blocks: Blocks,
    is_tool_result: Callable[[dict[str, Any]], bool],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A conversation as Anthropic's Messages and Bedrock's Converse APIs take it: the system
    messages' blocks apart, and `{"role", "content"}` turns in which consecutive messages of
    one role join (a tool result is a user turn there) and a user turn's tool results come
    before anything else in it. A message with no blocks makes no turn."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            system.extend(system_blocks(message))
            continue
        role = "assistant" if message.role == "assistant" else "user"
        content = blocks(message)
        if not content:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(content)
        else:
            turns.append({"role": role, "content": content})
    for turn in turns:
        if turn["role"] == "user":
            turn["content"].sort(key=lambda block: not is_tool_result(block))
    return system, turns


def described(message: Message) -> str:
    """The message's parts as text, one line each (`bosun.agents.parts.describe`), for a place
    that takes text only."""
    return "\n".join(describe(part) for part in message.parts)


def _parts(message: Message) -> list[ContentPart]:
    """The message's parts but empty text (which the APIs refuse as a block)."""
    return [part for part in message.parts if not isinstance(part, TextPart) or part.text]


def _attachments_only_from_users(message: Message, provider: str) -> None:
    if message.role in ("user", "tool"):
        return
    for part in message.parts:
        if not isinstance(part, TextPart):
            raise UnsupportedContent(
                f"{provider} takes images and files in user messages only, not in a "
                f"{message.role} message: move the {part.type} to a user message"
            )


# -- OpenAI chat completions -----------------------------------------------------------------


def openai_content(message: Message) -> str | list[dict[str, Any]] | None:
    """The `content` of a chat-completions message: a string, or for a user message with
    images or files, a list of parts. Tool messages are text only on this API: their images
    are described (`[image: image/png, 5120 bytes]`)."""
    if not isinstance(message.content, list):
        return message.content
    if message.role == "tool":
        return described(message)
    _attachments_only_from_users(message, "the OpenAI chat completions API")
    if message.role != "user":
        return message.text
    return [_openai_part(part) for part in _parts(message)]


def _openai_part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        return {"type": "image_url", "image_url": {"url": part.url or part.data_url}}
    if part.data is None:
        raise UnsupportedContent(
            f"the OpenAI chat completions API takes a file inline (file_data), not by URL "
            f"({part.url}): pass its bytes, FilePart(data=…, media_type=…)"
        )
    return {"type": "file", "file": {"filename": _file_name(part), "file_data": part.data_url}}


def _file_name(part: FilePart) -> str:
    if part.name:
        return part.name
    extension = {"application/pdf": ".pdf", "text/plain": ".txt"}.get(part.media_type or "", "")
    return f"file{extension}"


# -- Anthropic Messages ----------------------------------------------------------------------


def anthropic_blocks(message: Message) -> list[dict[str, Any]]:
    """A message's content as Messages API blocks: `text`, `image` and `document`."""
    _attachments_only_from_users(message, "the Anthropic Messages API")
    return [_anthropic_block(part) for part in _parts(message)]


def _anthropic_block(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        if part.data is None:
            return {"type": "image", "source": {"type": "url", "url": part.url}}
        if part.media_type not in _ANTHROPIC_IMAGES:
            raise UnsupportedContent(
                f"Anthropic takes JPEG, PNG, GIF and WebP images, not {part.media_type}"
            )
        source = {"type": "base64", "media_type": part.media_type, "data": part.data}
        return {"type": "image", "source": source}
    block: dict[str, Any] = {"type": "document", "source": _anthropic_document(part)}
    if part.name:
        block["title"] = part.name
    return block


def _anthropic_document(part: FilePart) -> dict[str, Any]:
    if part.data is None:
        return {"type": "url", "url": part.url}
    if part.media_type == "application/pdf":
        return {"type": "base64", "media_type": part.media_type, "data": part.data}
    if part.media_type == "text/plain":
        text = _decoded(part).decode("utf-8", errors="replace")
        return {"type": "text", "media_type": "text/plain", "data": text}
    raise UnsupportedContent(
        f"Anthropic takes PDF and plain-text documents, not {part.media_type}"
        f"{f' ({part.name})' if part.name else ''}: convert it, or send its text"
    )


# -- Gemini ----------------------------------------------------------------------------------


def gemini_parts(message: Message) -> list[dict[str, Any]]:
    """A user or model message's content as Gemini parts: `text`, `inline_data` (bytes) and
    `file_data` (a URI)."""
    if message.role == "system":
        _attachments_only_from_users(message, "Gemini's system instruction")
    return [_gemini_part(part) for part in _parts(message)]


def _gemini_part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    if part.data is None:
        file_data = {"file_uri": part.url}
        if part.media_type is not None:
            file_data["mime_type"] = part.media_type
        return {"file_data": file_data}
    return {"inline_data": {"mime_type": part.media_type, "data": _decoded(part)}}


# -- Bedrock Converse ------------------------------------------------------------------------


def converse_blocks(message: Message) -> list[dict[str, Any]]:
    """A message's content as Converse blocks: `text`, `image` and `document` (bytes, or an
    `s3://` location)."""
    _attachments_only_from_users(message, "Bedrock Converse")
    return [_converse_block(part) for part in _parts(message)]


def _converse_block(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    if isinstance(part, ImagePart):
        image_format = _CONVERSE_IMAGES.get(part.media_type or f"image/{_suffix(part.url)}")
        if image_format is None:
            raise UnsupportedContent(
                f"Bedrock Converse takes JPEG, PNG, GIF and WebP images, not "
                f"{part.media_type or part.url} (give media_type= for a location without one)"
            )
        return {"image": {"format": image_format, "source": _converse_source(part)}}
    document_format = _CONVERSE_DOCUMENTS.get(part.media_type or "") or _suffix(part.url)
    if document_format not in _CONVERSE_DOCUMENTS.values():
        raise UnsupportedContent(
            f"Bedrock Converse takes documents of types {', '.join(_CONVERSE_DOCUMENTS)}, "
            f"not {part.media_type}"
        )
    document = {
        "format": document_format,
        "name": _converse_name(part),
        "source": _converse_source(part),
    }
    return {"document": document}


def _converse_source(part: ImagePart | FilePart) -> dict[str, Any]:
    if part.data is not None:
        return {"bytes": _decoded(part)}
    if part.url is not None and part.url.startswith("s3://"):
        return {"s3Location": {"uri": part.url}}
    raise UnsupportedContent(
        f"Bedrock Converse takes an {part.type} as bytes or an s3:// location, not a web URL "
        f"({part.url}): download it and pass the bytes (data=…), or put it in S3"
    )


def _converse_name(part: FilePart) -> str:
    """A document name Converse accepts, from the file's (its extension left out)."""
    stem = PurePosixPath(part.name or "").stem
    name = " ".join(_CONVERSE_NAME_DROPS.sub("-", stem).split())
    return name[:200] or "document"


def _decoded(part: ImagePart | FilePart) -> bytes:
    """The part's bytes, for the APIs whose SDKs take bytes; data that is not base64 is the
    caller's mistake, refused before sending (and not retried)."""
    try:
        return part.as_bytes()
    except ConfigurationError as exc:
        raise UnsupportedContent(str(exc)) from exc


def _suffix(url: str | None) -> str:
    suffix = PurePosixPath(url or "").suffix.lstrip(".").lower()
    return "jpeg" if suffix == "jpg" else suffix
