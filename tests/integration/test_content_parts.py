"""Images and files in durable runs, on SQLite and PostgreSQL: a multi-megabyte image in a
run's input goes out of the hot row (SQLite's `run_payloads`, PostgreSQL's TOAST) and reaches
the model whole; an image the model answers with is journaled in its LLM call and replayed
from there without a second call; an image over the payload limit is refused at submission."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

import bosun
from bosun.agents.messages import ChatRequest, ImagePart, Message, TextPart
from bosun.agents.pricing import ModelConfig
from bosun.agents.scripted import Rule, ScriptedProvider
from tests.helpers.media import PIXEL_PNG, large_png
from tests.helpers.wait import wait_until

pytestmark = pytest.mark.timeout(120)

PHOTO_MB = 2.5  # about 3.3 MB of base64 in the run's input: under the default 4 MiB limit
DRAWING_MB = 1.5


@pytest.fixture
def app(any_db_url: str) -> bosun.App:
    return bosun.App("parts", database=any_db_url)


def _scripted(app: bosun.App, provider: ScriptedProvider) -> None:
    config = ModelConfig(alias="default", provider="scripted", model="scripted")
    app.models.register("default", provider, config)


async def _suspended(app: bosun.App, run_id: str) -> bool:
    record = await app.store.get_run(run_id)
    return record is not None and record.status == "suspended"


async def test_a_large_image_is_offloaded_sent_whole_and_replayed_without_a_second_call(
    app: bosun.App, any_db_url: str
) -> None:
    drawing = ImagePart(data=large_png(DRAWING_MB))
    provider = ScriptedProvider(
        rules=[Rule("Draw", Message.assistant([TextPart("Here it is."), drawing]))],
        script=["A cat on a mat."],
    )
    _scripted(app, provider)

    @app.workflow(name="describe")
    async def describe(ctx: bosun.Context, photo: ImagePart) -> dict[str, Any]:
        seen = await ctx.llm.chat("What is in this photo?", images=[photo])
        await ctx.wait_for_signal("go")  # suspends: the next attempt replays from the top
        drawn = await ctx.llm.chat("Draw it back.")
        [_, image] = drawn.message.parts
        assert isinstance(image, ImagePart)
        return {"seen": seen.message.text, "drawn": image.size, "same": image == drawing}

    photo = ImagePart(data=large_png(PHOTO_MB))
    async with app, app.worker():
        handle = await app.start(describe, photo)
        await wait_until(lambda: _suspended(app, handle.run_id), 60, "the run to suspend")
        await handle.signal("go")
        result = await handle.result(timeout=60)
        record = await app.store.get_run(handle.run_id)
        llm_calls = [e for e in await app.store.get_journal(handle.run_id) if e.kind == "llm"]

    assert result == {"seen": "A cat on a mat.", "drawn": drawing.size, "same": True}
    assert len(provider.calls) == 2  # the first call was replayed from the journal, not re-sent
    [sent, _] = provider.calls
    assert sent.messages[-1].parts == [photo, TextPart("What is in this photo?")]
    assert record is not None and photo.data is not None and photo.data in record.input
    if any_db_url.startswith("sqlite"):  # out of the hot row, compressed
        path = any_db_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            row = conn.execute("SELECT input FROM runs WHERE id = ?", (handle.run_id,)).fetchone()
        assert row == ("@offloaded",)
    # The drawing is in its call's journal entry, which the replay read it back from.
    recorded = json.loads(llm_calls[1].output)["response"]["message"]["content"]
    assert recorded[1] == drawing.model_dump()


async def test_an_image_over_the_payload_limit_is_refused_at_submission(app: bosun.App) -> None:
    app.max_payload_bytes = 1_000_000

    @app.workflow(name="look")
    async def look(ctx: bosun.Context, photo: ImagePart) -> str:
        return (await ctx.llm.chat("What is this?", images=[photo])).message.text

    async with app:
        with pytest.raises(bosun.PayloadTooLarge, match="exceeds the limit"):
            await app.start(look, ImagePart(data=large_png(1.0)))


async def test_an_agent_takes_a_conversation_with_an_image(app: bosun.App) -> None:
    def answer(request: ChatRequest) -> str:
        images = [p for p in request.messages[-1].parts if isinstance(p, ImagePart)]
        return f"I see {len(images)} image(s) of type {images[0].media_type}."

    provider = ScriptedProvider(fallback=answer)
    _scripted(app, provider)
    agent = bosun.Agent(system="Describe images.")

    @app.workflow(name="look")
    async def look(ctx: bosun.Context) -> str:
        question = Message.user("What is this?", images=[PIXEL_PNG])
        return str(await agent.run(ctx, [question]))

    async with app, app.worker():
        handle = await app.start(look)
        assert await handle.result(timeout=30) == "I see 1 image(s) of type image/png."
