"""`App.start(webhook=…)` on both stores: a URL bosun could never deliver to is refused before
anything is written or cancelled."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import bosun
from bosun.records import RunFilter

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def app(any_db_url: str) -> AsyncIterator[bosun.App]:
    app = bosun.App("hooks", database=any_db_url)

    @app.workflow(name="chat")
    async def chat(ctx: bosun.Context) -> None:
        await ctx.wait_for_signal("never")

    await app.open()
    yield app
    await app.close()


@pytest.mark.parametrize(
    "url",
    ["http://a b.c/", "http://user:pw@hooks.example.com/", "http://hooks.example.com:70000/"],
)
async def test_a_bad_webhook_is_refused_before_anything_happens(app: bosun.App, url: str) -> None:
    first = await app.start("chat", session="s-1")
    with pytest.raises(bosun.InvalidRequest, match="webhook URL"):
        # "interrupt" would cancel the session's run: the URL is checked first.
        await app.start("chat", session="s-1", webhook=url, double_texting="interrupt")
    assert [r.id for r in await app.store.list_runs(RunFilter())] == [first.run_id]
    assert (await first.status()).status != "cancelled"


async def test_a_good_webhook_is_kept_as_given(app: bosun.App) -> None:
    url = "https://hooks.example.com/bosun?token=abc"
    handle = await app.start("chat", webhook=url)
    record = await app.store.get_run(handle.run_id)
    assert record is not None and record.webhook_url == url
