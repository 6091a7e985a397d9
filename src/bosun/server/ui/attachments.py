"""Images and files inside journaled JSON, found to be shown as thumbnails or names.

A run's input, result, step outputs and session messages may hold content parts
(`bosun.agents.parts`: `{"type": "image", "data": <base64>, "media_type": …}`, `{"type":
"file", …}`) and MCP tool results' blocks (`{"type": "image", "data", "mimeType"}`, embedded
resources with a `blob`). `collect` finds them and returns the value with their base64 cut
out, so the page shows each image once, as a thumbnail, and not as megabytes of text.

Only inline images of the types browsers show safely (PNG, JPEG, GIF, WebP) become `data:`
thumbnails; a URL is a link (http and https only), never fetched by the UI; a file is a name
and a size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bosun.agents.parts import base64_size

__all__ = ["Attachment", "collect"]

THUMBNAIL_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_FOUND = 24  # attachments listed per value; the rest are counted in the JSON only
MAX_DEPTH = 32
KEEP_CHARS = 80  # base64 shorter than this stays in the JSON as it is
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


@dataclass(frozen=True)
class Attachment:
    """An image or file found in a value.

    Attributes:
        kind: `image` or `file`.
        media_type: its MIME type, when known.
        size: its bytes, for inline data.
        name: a file's name (or a resource's URI).
        src: a `data:` URL to show an inline image with (None when it cannot be shown).
        link: its web URL (http or https), shown as a link.
    """

    kind: str
    media_type: str | None
    size: int | None
    name: str | None = None
    src: str | None = None
    link: str | None = None


def collect(value: Any) -> tuple[Any, list[Attachment]]:
    """The attachments in a JSON value, and the value with their inline data elided."""
    found: list[Attachment] = []
    return _walk(value, found, 0), found


def _walk(value: Any, found: list[Attachment], depth: int) -> Any:
    if depth > MAX_DEPTH:
        return value
    if isinstance(value, list):
        return [_walk(item, found, depth + 1) for item in value]
    if not isinstance(value, dict):
        return value
    attachment, data_key = _attachment(value)
    if attachment is not None and len(found) < MAX_FOUND:
        found.append(attachment)
    out = {key: _walk(item, found, depth + 1) for key, item in value.items()}
    if data_key is not None:
        holder = out["resource"] if data_key == "blob" else out
        data = holder[data_key]
        if len(data) > KEEP_CHARS:
            holder[data_key] = f"<{base64_size(data)} bytes of base64, left out here>"
    return out


def _attachment(value: dict[str, Any]) -> tuple[Attachment | None, str | None]:
    """The attachment a JSON object is, and the key of its base64 data (`blob` for an MCP
    resource), or `(None, None)`."""
    kind = value.get("type")
    if kind in ("image", "file"):
        media_type = _text(value.get("media_type")) or _text(value.get("mimeType"))
        name = _text(value.get("name"))
        data, url = value.get("data"), _text(value.get("url"))
        if isinstance(data, str) and data:
            return _inline(kind, data, media_type, name), "data"
        if url is not None:
            return Attachment(kind, media_type, None, name or url, link=_web(url)), None
        return None, None
    resource = value.get("resource")
    if kind == "resource" and isinstance(resource, dict) and isinstance(resource.get("blob"), str):
        media_type = _text(resource.get("mimeType"))
        attachment = _inline("file", resource["blob"], media_type, _text(resource.get("uri")))
        return attachment, "blob"
    return None, None


def _inline(kind: str, data: str, media_type: str | None, name: str | None) -> Attachment:
    size = base64_size(data)
    if kind == "image" and media_type in THUMBNAIL_TYPES and _BASE64.fullmatch(data):
        return Attachment(kind, media_type, size, name, src=f"data:{media_type};base64,{data}")
    return Attachment("file" if kind == "file" else kind, media_type, size, name)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _web(url: str) -> str | None:
    """`url` when it is a web URL, safe to link to; None otherwise (`javascript:`…)."""
    return url if url.startswith(("https://", "http://")) else None
