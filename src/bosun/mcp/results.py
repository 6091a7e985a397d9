"""What an MCP tool call returned, as the journal keeps it and as the model reads it.

A result is a list of content blocks (text, image, audio, resource links, embedded resources)
plus optional structured content. The journal keeps all of it, in the protocol's own JSON
form (`ToolResult`), so nothing a server returned is lost to a replay. The model reads text
(`ToolResult.text`): the text blocks as they are, the text of embedded text resources, a short
line naming each image, audio clip or binary resource, and the structured content as JSON when
no text block carries it.

A result with images or embedded PDFs reaches the model as content parts instead
(`ToolResult.parts`): the images and documents themselves, the rest as the same lines of text.
Providers that take parts in tool results (Anthropic, Bedrock) send them; the others send the
text, where each image is a line naming it.

A result larger than the app's payload limit (`App(max_payload_bytes=…)`) is cut to fit before
it is journaled: binary blocks go first (largest first), then structured content that text
already carries, then the end of the longest texts; each cut is named in what the model reads.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError

from bosun.agents.parts import ContentPart, FilePart, ImagePart, TextPart, base64_size

if TYPE_CHECKING:
    from mcp.types import CallToolResult

__all__ = ["ListedTool", "ToolResult"]

_MARGIN = 512  # bytes kept free under the limit: the journal entry's own envelope
_BINARY = ("image", "audio")
# What goes to the model as an image or a file part: the image types every provider takes,
# and PDFs (an embedded resource's blob). Other blocks stay lines of text.
_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_DOCUMENTS = ("application/pdf",)


class ListedTool(BaseModel):
    """One tool as an MCP server listed it (and as the journal keeps its discovery).

    Attributes:
        name: the server's name for it.
        description: what it does, as the server says.
        input_schema: the JSON schema of its arguments.
    """

    name: str
    description: str = ""
    input_schema: dict[str, Any] = Field(default_factory=dict)


class ToolResult(BaseModel):
    """The outcome of one MCP tool call, journaled as the call's step output.

    Attributes:
        content: the content blocks, in the protocol's JSON form (`{"type": "text", "text":
            …}`, `{"type": "image", "data": <base64>, "mimeType": …}`, …).
        structured: the structured content, when the server sent some.
        is_error: the tool ran and failed (`isError`); the model is told so.
        omitted: characters left out to fit the payload limit (0: the whole result).
    """

    content: list[dict[str, Any]] = Field(default_factory=list)
    structured: Any = None
    is_error: bool = False
    omitted: int = 0

    @classmethod
    def of(cls, result: CallToolResult) -> ToolResult:
        """The SDK's result in the journal's form."""
        return cls(
            content=[
                block.model_dump(mode="json", by_alias=True, exclude_none=True)
                for block in result.content
            ],
            structured=result.structured_content,
            is_error=result.is_error,
        )

    def text(self) -> str:
        """What the model reads: see the module docstring."""
        parts = [line for line in map(_block_text, self.content) if line]
        has_text = any(block.get("type") == "text" for block in self.content)
        if self.structured is not None and not has_text:
            parts.append(json.dumps(self.structured, ensure_ascii=False))
        text = "\n".join(parts)
        return f"error: {text}" if self.is_error else text

    def parts(self) -> str | list[ContentPart]:
        """What the model reads, with the images and PDFs themselves: `text()` when there
        are none (or the call failed), else parts in the blocks' order."""
        attached = [_attached(block) for block in self.content]
        if self.is_error or not any(part is not None for part in attached):
            return self.text()
        parts: list[ContentPart] = []
        for block, part in zip(self.content, attached, strict=True):
            if part is not None:
                parts.append(part)
            elif line := _block_text(block):
                parts.append(TextPart(line))
        has_text = any(block.get("type") == "text" for block in self.content)
        if self.structured is not None and not has_text:
            parts.append(TextPart(json.dumps(self.structured, ensure_ascii=False)))
        return parts

    def fit(self, limit: int | None) -> ToolResult:
        """This result, cut to journal within `limit` bytes (None: no limit)."""
        if limit is None or _size(self) <= limit:
            return self
        budget = max(limit - _MARGIN, 0)
        cut = self.model_copy(deep=True)
        for index in sorted(_binary_blocks(cut), key=lambda i: -_payload_len(cut.content[i])):
            if _size(cut) <= budget:
                return cut
            cut.omitted += _payload_len(cut.content[index])
            cut.content[index] = {"type": "text", "text": _omitted_note(cut.content[index])}
        if _size(cut) > budget and cut.structured is not None:
            cut.omitted += len(json.dumps(cut.structured))
            cut.structured = None
            if not any(block.get("type") == "text" for block in cut.content):
                note = "[the structured result was left out: it exceeds the payload limit]"
                cut.content.append({"type": "text", "text": note})
        while (excess := _size(cut) - budget) > 0:
            texts = [i for i, b in enumerate(cut.content) if isinstance(b.get("text"), str)]
            if not texts:
                break
            index = max(texts, key=lambda i: len(cut.content[i]["text"]))
            text: str = cut.content[index]["text"]
            # Bytes per character as the journal writes it (JSON escapes, UTF-8), so that
            # non-ASCII or escaped text is cut by as much as needed, not more.
            width = len(json.dumps(text, ensure_ascii=False).encode()) / max(len(text), 1)
            keep = max(int(len(text) - (excess + 128) / width), 0)
            if keep >= len(text):
                break
            cut.omitted += len(text) - keep
            note = f"\n[{len(text) - keep} characters cut: the result exceeds the payload limit]"
            cut.content[index] = {**cut.content[index], "text": text[:keep] + note}
        return cut


def _attached(block: dict[str, Any]) -> ContentPart | None:
    """An image block, or an embedded PDF, as a content part (None for other blocks)."""
    kind, resource = block.get("type"), block.get("resource")
    try:
        if kind == "image" and block.get("mimeType") in _IMAGES and block.get("data"):
            return ImagePart(data=str(block["data"]), media_type=block["mimeType"])
        if kind == "resource" and isinstance(resource, dict) and resource.get("blob"):
            media_type = resource.get("mimeType")
            if media_type in _DOCUMENTS:
                name = str(resource.get("uri", "")).rsplit("/", 1)[-1] or None
                return FilePart(data=str(resource["blob"]), media_type=media_type, name=name)
    except ValidationError:  # a block the server got wrong: the model reads its line instead
        return None
    return None


def _size(result: ToolResult) -> int:
    return len(result.model_dump_json().encode())


def _binary_blocks(result: ToolResult) -> list[int]:
    return [i for i, block in enumerate(result.content) if _payload_len(block)]


def _payload_len(block: dict[str, Any]) -> int:
    """Characters of base64 a block carries (0 for text)."""
    if block.get("type") in _BINARY:
        return len(str(block.get("data", "")))
    resource = block.get("resource")
    if block.get("type") == "resource" and isinstance(resource, dict):
        return len(str(resource.get("blob", "")))
    return 0


def _omitted_note(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "resource":
        resource = block.get("resource") or {}
        what = f"resource {resource.get('uri', '')} ({resource.get('mimeType', 'binary')})"
    else:
        what = f"{kind} ({block.get('mimeType', 'unknown type')})"
    return f"[{what}, {_payload_len(block)} base64 characters, left out: over the payload limit]"


def _block_text(block: dict[str, Any]) -> str:
    """One content block as the model reads it."""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind in _BINARY:
        size = base64_size(str(block.get("data", "")))
        return f"[{kind}: {block.get('mimeType', 'unknown type')}, {size} bytes]"
    if kind == "resource_link":
        title = block.get("title") or block.get("name") or ""
        mime = f", {block['mimeType']}" if block.get("mimeType") else ""
        return f"[resource link: {block.get('uri', '')} {title}{mime}]".replace(" ]", "]")
    if kind == "resource":
        resource = block.get("resource") or {}
        uri = resource.get("uri", "")
        if "text" in resource:
            return f"[resource {uri}]\n{resource['text']}"
        size = base64_size(str(resource.get("blob", "")))
        return f"[resource {uri}: {resource.get('mimeType', 'binary')}, {size} bytes]"
    return f"[{kind} content]"
