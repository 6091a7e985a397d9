"""Content parts: messages with images and files survive JSON exactly (they are journaled),
journals written before parts existed load unchanged, the constructors, the text code reads,
each provider's refusals, MCP results as parts, and what the UI finds in journaled JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bosun.agents.errors import UnsupportedContent
from bosun.agents.llm import with_schema_instruction
from bosun.agents.messages import (
    ChatRequest,
    ChatResponse,
    FilePart,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    estimate_tokens,
)
from bosun.agents.parts import describe
from bosun.agents.scripted import last_prompt_text
from bosun.agents.wire_parts import (
    anthropic_blocks,
    converse_blocks,
    described,
    gemini_parts,
    openai_content,
)
from bosun.mcp import ToolResult
from bosun.server.ui.attachments import collect
from bosun.server.ui.views import chat_line
from tests.helpers.media import IMAGE_URL, PDF, PDF_B64, PIXEL_B64, PIXEL_PNG, vision_message

CALL = ToolCall(id="call_1", name="screenshot")


def test_messages_with_parts_round_trip_through_json_exactly() -> None:
    shot = Message.tool(CALL, [ImagePart(data=PIXEL_PNG), TextPart("the screen")])
    request = ChatRequest(model="m", messages=[vision_message(), Message.assistant(None, [CALL])])
    request.messages.append(shot)
    assert ChatRequest.model_validate_json(request.model_dump_json()) == request
    assert ChatRequest.model_validate(json.loads(request.model_dump_json())) == request
    assert ChatRequest.model_validate(request.model_dump()) == request
    answer = ChatResponse(
        message=Message.assistant([TextPart("Drawn."), ImagePart(data=PIXEL_PNG)])
    )
    assert ChatResponse.model_validate_json(answer.model_dump_json()) == answer
    assert json.loads(vision_message().model_dump_json())["content"][:2] == [
        {"type": "text", "text": "What do these show?"},
        {"type": "image", "url": None, "data": PIXEL_B64, "media_type": "image/png"},
    ]


def test_journals_written_before_parts_load_unchanged() -> None:
    old = {
        "role": "user",
        "content": "Hi",
        "tool_calls": [],
        "tool_call_id": None,
        "name": None,
        "reasoning": None,
        "reasoning_blocks": [],
    }
    message = Message.model_validate_json(json.dumps(old))
    assert message.content == "Hi" and message.text == "Hi"
    assert message.parts == [TextPart("Hi")]
    assert message.model_dump() == old  # and written back the same way
    assert Message.user("Hi").content == "Hi"  # plain text stays a string
    assert Message.model_validate({"role": "assistant"}).text == ""


def test_inline_data_is_base64_and_its_type_found_from_the_bytes(tmp_path: Path) -> None:
    image = ImagePart(data=PIXEL_PNG)
    assert (image.data, image.media_type, image.size) == (PIXEL_B64, "image/png", len(PIXEL_PNG))
    assert image.as_bytes() == PIXEL_PNG
    assert image.data_url == f"data:image/png;base64,{PIXEL_B64}"
    assert ImagePart(data=PIXEL_B64) == image  # base64 text is taken as it is
    assert ImagePart(url=image.data_url) == image  # a data URL is inline data
    assert ImagePart(data=b"\xff\xd8\xff\xe0rest").media_type == "image/jpeg"
    assert ImagePart(data=b"RIFF\x00\x00\x00\x00WEBPVP8 ").media_type == "image/webp"
    assert FilePart(data=PDF) == FilePart(data=PDF_B64, media_type="application/pdf")
    with pytest.raises(ValidationError, match="give media_type"):
        ImagePart(data=b"not an image")
    with pytest.raises(ValidationError, match="give media_type"):
        FilePart(data=b"plain words")
    with pytest.raises(ValidationError, match="exactly one of url= and data="):
        ImagePart(url=IMAGE_URL, data=PIXEL_PNG)
    with pytest.raises(ValidationError, match="exactly one of url= and data="):
        FilePart()
    photo, report = tmp_path / "photo.png", tmp_path / "q3.pdf"
    photo.write_bytes(PIXEL_PNG)
    report.write_bytes(PDF)
    assert ImagePart.from_path(photo) == image
    assert FilePart.from_path(report) == FilePart(data=PDF, name="q3.pdf")


def test_message_user_takes_images_and_files_before_its_text(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(PIXEL_PNG)
    message = Message.user("Compare.", images=[photo, PIXEL_PNG, IMAGE_URL], files=[PDF])
    assert message.parts == [
        ImagePart(data=PIXEL_PNG),
        ImagePart(data=PIXEL_PNG),
        ImagePart(url=IMAGE_URL),
        FilePart(data=PDF),
        TextPart("Compare."),
    ]
    assert message.text == "Compare."
    assert Message.user([TextPart("a"), ImagePart(data=PIXEL_PNG), TextPart("b")]).text == "a\nb"
    # Each image or file counts as about a thousand tokens, whatever its size.
    assert estimate_tokens(message) == estimate_tokens(Message.user("Compare.")) + 4000


def test_parts_are_described_where_only_text_goes() -> None:
    assert describe(ImagePart(data=PIXEL_PNG)) == f"[image: image/png, {len(PIXEL_PNG)} bytes]"
    assert describe(ImagePart(url=IMAGE_URL)) == f"[image: {IMAGE_URL}]"
    named = FilePart(data=PDF, name="q3.pdf")
    assert describe(named) == f"[file q3.pdf: application/pdf, {len(PDF)} bytes]"
    request = ChatRequest(model="m", messages=[Message.user("look", images=[PIXEL_PNG])])
    assert last_prompt_text(request) == f"[image: image/png, {len(PIXEL_PNG)} bytes]\nlook"


def test_the_schema_instruction_joins_a_message_of_parts_as_a_part() -> None:
    [message] = with_schema_instruction([vision_message()], {"type": "object"})
    assert message.parts[:-1] == vision_message().parts
    assert isinstance(message.parts[-1], TextPart) and "JSON schema" in message.parts[-1].text


def test_providers_refuse_what_they_cannot_take_before_sending() -> None:
    drawn = Message.assistant([ImagePart(data=PIXEL_PNG)])
    for mapping in (openai_content, anthropic_blocks, converse_blocks):
        with pytest.raises(UnsupportedContent, match="user messages only"):
            mapping(drawn)
    with pytest.raises(UnsupportedContent, match="user messages only"):
        gemini_parts(Message(role="system", content=[ImagePart(data=PIXEL_PNG)]))
    assert gemini_parts(drawn)[0]["inline_data"]["mime_type"] == "image/png"  # model turns may
    sheet = FilePart(data=b"a,b", media_type="text/csv", name="t.csv")
    with pytest.raises(UnsupportedContent, match="PDF and plain-text documents"):
        anthropic_blocks(Message.user([sheet]))
    assert converse_blocks(Message.user([sheet]))[0]["document"]["format"] == "csv"
    odd = FilePart(data=b"x", media_type="application/x-thing", name="t.thing")
    with pytest.raises(UnsupportedContent, match="Bedrock Converse takes documents"):
        converse_blocks(Message.user([odd]))
    with pytest.raises(UnsupportedContent, match="inline"):
        openai_content(Message.user([FilePart(url="https://example.com/a.pdf")]))


def test_converse_document_names_keep_only_the_characters_it_takes() -> None:
    def name(file_name: str | None) -> str:
        part = FilePart(data=PDF, name=file_name)
        return str(converse_blocks(Message.user([part]))[0]["document"]["name"])

    assert name("Q3 report (final).pdf") == "Q3 report (final)"
    assert name("a.b_c   d.pdf") == "a-b-c d"
    assert name(None) == "document"


def test_empty_text_parts_are_not_sent_as_blocks() -> None:
    message = Message.user([TextPart(""), ImagePart(data=PIXEL_PNG)])
    assert [block["type"] for block in anthropic_blocks(message)] == ["image"]
    assert list(converse_blocks(message)[0]) == ["image"]


def _mcp(*blocks: dict[str, object], error: bool = False) -> ToolResult:
    return ToolResult(content=list(blocks), is_error=error)


def test_mcp_images_and_pdfs_reach_the_model_as_parts() -> None:
    png = {"type": "image", "data": PIXEL_B64, "mimeType": "image/png"}
    pdf = {
        "type": "resource",
        "resource": {"uri": "file:///q3.pdf", "mimeType": "application/pdf", "blob": PDF_B64},
    }
    svg = {"type": "image", "data": "PHN2Zz4=", "mimeType": "image/svg+xml"}
    caption = {"type": "text", "text": "the screen"}
    result = _mcp(png, caption, pdf, svg)
    assert result.parts() == [
        ImagePart(data=PIXEL_PNG),
        TextPart("the screen"),
        FilePart(data=PDF, name="q3.pdf"),
        TextPart("[image: image/svg+xml, 5 bytes]"),  # a type not every provider takes
    ]
    # A provider without parts in tool results reads the same lines as before parts existed.
    assert (
        described(Message.tool(CALL, result.parts())).splitlines()[:2]
        == result.text().splitlines()[:2]
    )
    assert _mcp(caption, svg).parts() == _mcp(caption, svg).text()  # nothing to attach: text
    assert _mcp(png, caption, error=True).parts() == _mcp(png, caption, error=True).text()


def test_the_ui_finds_images_and_files_and_leaves_their_base64_out() -> None:
    message = Message.user(
        "look",
        images=[PIXEL_PNG, IMAGE_URL, "javascript:alert(1)"],
        files=[FilePart(data=PDF, name="q3.pdf")],
    )
    mcp = {"type": "image", "data": "PHN2Zz4=" * 20, "mimeType": "image/svg+xml"}
    value, found = collect({"input": message.model_dump(), "tool": [mcp]})
    png, linked, script, pdf, svg = found
    assert png.src == f"data:image/png;base64,{PIXEL_B64}" and png.size == len(PIXEL_PNG)
    assert (linked.src, linked.link) == (None, IMAGE_URL)  # a link, never fetched
    assert (script.src, script.link) == (None, None)  # not a web URL: no link
    assert (pdf.kind, pdf.name, pdf.size, pdf.src) == ("file", "q3.pdf", len(PDF), None)
    assert svg.src is None  # no thumbnail for SVG: only PNG, JPEG, GIF and WebP
    text = json.dumps(value)
    assert PIXEL_B64 not in text and PDF_B64 not in text
    assert f"<{len(PIXEL_PNG)} bytes of base64, left out here>" in text

    line = chat_line(3, None, 0.0, message.model_dump_json())
    assert (line.content, len(line.attachments)) == ("look", 4)


def test_data_that_is_not_base64_is_refused_before_sending() -> None:
    broken = Message.user([ImagePart(data="not base64!", media_type="image/png")])
    for mapping in (gemini_parts, converse_blocks):
        with pytest.raises(UnsupportedContent, match="not base64"):
            mapping(broken)


def test_the_agents_sdk_adapter_keeps_images_and_files_both_ways() -> None:
    from bosun.integrations.openai_agents._convert import items_to_messages, messages_to_items

    data_url = f"data:image/png;base64,{PIXEL_B64}"
    pdf_url = f"data:application/pdf;base64,{PDF_B64}"
    items: Any = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": data_url, "detail": "auto"},
                {"type": "input_file", "file_data": pdf_url, "filename": "q3.pdf"},
            ],
        }
    ]
    [message] = items_to_messages(items)
    assert message.parts == [
        TextPart("What is this?"),
        ImagePart(data=PIXEL_PNG),
        FilePart(data=PDF, name="q3.pdf"),
    ]
    assert messages_to_items([message]) == items
    [plain] = items_to_messages([{"role": "user", "content": "Hi"}])
    assert plain.content == "Hi"
