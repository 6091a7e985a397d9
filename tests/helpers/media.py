"""Images and documents for the content-part tests: a real 1x1 PNG, a small PDF, a large
image, and the user message every provider's wire test sends."""

from __future__ import annotations

import base64

from bosun.agents.messages import FilePart, ImagePart, Message, TextPart

PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"


def large_png(megabytes: float) -> bytes:
    """A PNG-signed blob of about `megabytes` MB (no real pixels: nothing decodes it)."""
    size = int(megabytes * 1_000_000)
    body = bytes(range(256)) * (size // 256 + 1)
    return PIXEL_PNG[:8] + body[: size - 8]


IMAGE_URL = "https://example.com/cat.png"


def vision_message(url: str | None = IMAGE_URL) -> Message:
    """A user message with text, an inline PNG, a PNG at `url` (none if None) and a PDF."""
    by_url = [] if url is None else [ImagePart(url=url, media_type="image/png")]
    return Message.user(
        [
            TextPart("What do these show?"),
            ImagePart(data=PIXEL_PNG),
            *by_url,
            FilePart(data=PDF, name="report.pdf"),
        ]
    )


PIXEL_B64 = base64.b64encode(PIXEL_PNG).decode()
PDF_B64 = base64.b64encode(PDF).decode()
