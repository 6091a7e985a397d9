"""Content parts: what a message holds besides plain text (images, and files such as PDFs).

A message's `content` is a string, as always, or a list of parts:

```python
Message.user("What is on this receipt?", images=[ImagePart.from_path("receipt.png")])
Message.user([TextPart("Summarise the contract."), FilePart.from_path("contract.pdf")])
```

Parts are pydantic models told apart by their `type`, so a journaled message survives a JSON
round trip exactly. Inline bytes are kept as base64 text (`data`): that is how every provider
sends them, and how JSON carries them; pass `bytes` and they are encoded. A `url` part is
sent as a reference (the provider fetches it, where it can); bosun never downloads it. A data
URL (`data:image/png;base64,…`) given as `url` is read as inline data.

Each provider maps parts to its own wire format and refuses, before calling its API, a part it
cannot take there (docs/agents.md, "Images and files").
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from bosun.errors import ConfigurationError

__all__ = [
    "ContentPart",
    "FilePart",
    "ImagePart",
    "TextPart",
    "base64_size",
    "describe",
    "file_part",
    "image_part",
    "joined_text",
    "parts_of",
]

# Magic numbers of the formats every vision API takes, to name an image's type when the caller
# did not: (prefix, offset, media type).
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
)
_PDF_SIGNATURE = b"%PDF-"
_SNIFF_CHARS = 24  # base64 characters holding the first 18 bytes: enough for every signature


class TextPart(BaseModel):
    """Text, as one part of a message.

    Attributes:
        text: the text.
    """

    type: Literal["text"] = "text"
    text: str

    def __init__(self, text: str | None = None, /, **data: Any) -> None:
        if text is not None:
            data["text"] = text
        super().__init__(**data)


class _Attachment(BaseModel):
    """What images and files share: inline base64 data or a URL, and a media type."""

    type: str  # first in the JSON; each kind narrows it to its Literal
    url: str | None = None
    data: str | None = None
    media_type: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _inline(cls, value: Any) -> Any:
        """Bytes become base64; a data URL becomes inline data and its media type."""
        if not isinstance(value, dict):
            return value
        value = dict(value)
        data, url = value.get("data"), value.get("url")
        if isinstance(data, bytes | bytearray | memoryview):
            value["data"] = base64.b64encode(bytes(data)).decode("ascii")
        elif isinstance(data, str) and data.startswith("data:"):
            value["media_type"], value["data"] = _data_url(data, value.get("media_type"))
        if isinstance(url, str) and url.startswith("data:") and value.get("data") is None:
            value["media_type"], value["data"] = _data_url(url, value.get("media_type"))
            value["url"] = None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> _Attachment:
        kind = type(self).__name__
        if (self.url is None) == (self.data is None):
            raise ValueError(f"{kind} takes exactly one of url= and data=")
        if self.data is not None and self.media_type is None:
            self.media_type = self._sniffed()
            if self.media_type is None:
                raise ValueError(f"{kind}: give media_type= ({self._expected()})")
        return self

    def _sniffed(self) -> str | None:
        return None

    def _expected(self) -> str:
        return "the bytes' MIME type"

    @property
    def size(self) -> int | None:
        """The bytes of inline data (None for a URL)."""
        return None if self.data is None else base64_size(self.data)

    @property
    def data_url(self) -> str | None:
        """Inline data as a `data:` URL (None for a URL)."""
        if self.data is None:
            return None
        return f"data:{self.media_type};base64,{self.data}"

    def as_bytes(self) -> bytes:
        """The inline data, decoded.

        Raises:
            ConfigurationError: the part is a URL, or its data is not valid base64.
        """
        if self.data is None:
            raise ConfigurationError(f"{type(self).__name__} at {self.url} holds no bytes")
        try:
            return base64.b64decode(self.data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigurationError(f"{type(self).__name__}: data is not base64 ({exc})") from exc

    def _head(self) -> bytes:
        """The first bytes of the data, decoded, for sniffing its type."""
        head = (self.data or "")[:_SNIFF_CHARS]
        try:
            return base64.b64decode(head + "=" * (-len(head) % 4))
        except (binascii.Error, ValueError):
            return b""


class ImagePart(_Attachment):
    """An image, inline (`data=`: bytes or base64) or by `url=`.

    Attributes:
        url: where the provider fetches it (`https://…`, or a provider's own file URI).
        data: the image's bytes, base64-encoded.
        media_type: `image/png`, `image/jpeg`, `image/gif`, `image/webp`…; found from the
            bytes when not given.
    """

    type: Literal["image"] = "image"

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], media_type: str | None = None) -> ImagePart:
        """The image in file `path`, inline."""
        data = Path(path).read_bytes()
        return cls(data=data, media_type=media_type or _guessed(path, "image/"))

    def _sniffed(self) -> str | None:
        head = self._head()
        for prefix, offset, media_type in _IMAGE_SIGNATURES:
            if head[offset : offset + len(prefix)] == prefix:
                return media_type
        return None

    def _expected(self) -> str:
        return "image/png, image/jpeg…: the bytes are not a PNG, JPEG, GIF or WebP image"


class FilePart(_Attachment):
    """A file (a document such as a PDF), inline (`data=`: bytes or base64) or by `url=`.

    Attributes:
        url: where the provider fetches it.
        data: the file's bytes, base64-encoded.
        media_type: `application/pdf`, `text/plain`…; found from PDF bytes when not given.
        name: the file's name, shown to the model where the provider takes one.
    """

    type: Literal["file"] = "file"
    name: str | None = None

    @classmethod
    def from_path(
        cls, path: str | os.PathLike[str], media_type: str | None = None, name: str | None = None
    ) -> FilePart:
        """The file at `path`, inline, named after it."""
        data = Path(path).read_bytes()
        media_type = media_type or _guessed(path, "")
        return cls(data=data, media_type=media_type, name=name or Path(path).name)

    def _sniffed(self) -> str | None:
        return "application/pdf" if self._head().startswith(_PDF_SIGNATURE) else None

    def _expected(self) -> str:
        return "application/pdf, text/plain…"


ContentPart = Annotated[TextPart | ImagePart | FilePart, Field(discriminator="type")]
"""One part of a message's content; `type` tells which."""


def base64_size(data: str) -> int:
    """The bytes that base64 text `data` decodes to."""
    return len(data) * 3 // 4 - data[-2:].count("=")


def parts_of(content: str | Sequence[ContentPart] | None) -> list[ContentPart]:
    """A message's content as parts (a string is one text part; None none)."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [TextPart(content)]
    return list(content)


def joined_text(content: str | Sequence[ContentPart] | None) -> str:
    """The text of a message's content: the string, or its text parts, a line apart."""
    if content is None or isinstance(content, str):
        return content or ""
    return "\n".join(part.text for part in content if isinstance(part, TextPart))


def describe(part: ContentPart) -> str:
    """A part as one line of text, for a place that takes text only (an OpenAI tool message):
    a text part's text, `[image: image/png, 5120 bytes]` for an image (as MCP results are
    described), `[file report.pdf: application/pdf, 81920 bytes]` for a file."""
    if isinstance(part, TextPart):
        return part.text
    what = part.type if isinstance(part, ImagePart) or not part.name else f"file {part.name}"
    if part.data is None:
        return f"[{what}: {part.url}]"
    return f"[{what}: {part.media_type}, {part.size} bytes]"


def image_part(value: ImagePart | bytes | str | os.PathLike[str]) -> ImagePart:
    """An image from what a caller has: a part, bytes, a URL (`https://…` or `data:…`), or a
    path (a `pathlib.Path`; a string is read as a URL)."""
    if isinstance(value, ImagePart):
        return value
    if isinstance(value, bytes):
        return ImagePart(data=value)
    if isinstance(value, str):
        return ImagePart(url=value)
    return ImagePart.from_path(value)


def file_part(value: FilePart | bytes | str | os.PathLike[str]) -> FilePart:
    """A file from what a caller has: a part, bytes (a PDF), a URL, or a `pathlib.Path`."""
    if isinstance(value, FilePart):
        return value
    if isinstance(value, bytes):
        return FilePart(data=value)
    if isinstance(value, str):
        return FilePart(url=value)
    return FilePart.from_path(value)


def _data_url(url: str, media_type: Any) -> tuple[Any, str]:
    """The media type and base64 data of a `data:<type>;base64,<data>` URL."""
    header, comma, data = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise ValueError("a data URL must be base64: data:<media type>;base64,<data>")
    return media_type or header[len("data:") : -len(";base64")] or None, data


def _guessed(path: str | os.PathLike[str], prefix: str) -> str | None:
    """The media type a file's name suggests, if it starts with `prefix`."""
    guess, _ = mimetypes.guess_type(os.fspath(path))
    return guess if guess is not None and guess.startswith(prefix) else None
