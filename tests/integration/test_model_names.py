"""Models named without an alias, end to end: workflows on `model="gpt-4o-mini"` and
`"anthropic:…"` reach local servers speaking each provider's wire format; with only
`OPENAI_API_KEY` (or `ANTHROPIC_API_KEY`) set, `default` is that provider's model, not the
scripted one; with both, a run that uses `default` fails saying what to set; a model that
cannot be served fails the worker's start."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import bosun
from bosun.errors import ConfigurationError
from tests.helpers.fake_anthropic import FakeAnthropic, serve_anthropic
from tests.integration import test_openai_provider as openai_wire
from tests.integration.test_openai_provider import FakeOpenAI
from tests.unit.test_model_names import MODEL_VARIABLES

pytestmark = pytest.mark.timeout(60)

served = openai_wire.served  # the OpenAI wire-format server, a fixture of this module too


@pytest.fixture
def openai(served: FakeOpenAI) -> FakeOpenAI:
    served.requests.clear()
    return served


@pytest.fixture(scope="module")
def claude_server() -> Iterator[FakeAnthropic]:
    with serve_anthropic() as server:
        yield server


@pytest.fixture
def claude(claude_server: FakeAnthropic) -> FakeAnthropic:
    claude_server.requests.clear()
    return claude_server


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in MODEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _app(tmp_path: Any) -> bosun.App:
    return bosun.App("names", database=f"sqlite:///{tmp_path / 'names.db'}")


async def _run(app: bosun.App, workflow: Any, *args: Any) -> Any:
    try:
        async with app, app.worker():
            handle = await app.start(workflow, *args)
            return await handle.result(timeout=30)
    finally:
        await app.models.aclose()  # the providers made from names, on this test's loop


async def test_only_an_openai_key_makes_default_openais_model(
    environ: pytest.MonkeyPatch, openai: FakeOpenAI, claude: FakeAnthropic, tmp_path: Any
) -> None:
    environ.setenv("OPENAI_API_KEY", "sk-openai")
    environ.setenv("OPENAI_BASE_URL", f"{openai.url}/v1")
    app = _app(tmp_path)

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hi")).message.content or ""

    assert await _run(app, ask) == "Hello there"  # not the scripted model's silence
    [sent] = openai.requests
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.headers["authorization"] == "Bearer sk-openai"
    assert claude.count() == 0


async def test_only_an_anthropic_key_makes_default_claude(
    environ: pytest.MonkeyPatch, openai: FakeOpenAI, claude: FakeAnthropic, tmp_path: Any
) -> None:
    environ.setenv("ANTHROPIC_API_KEY", "sk-ant")
    environ.setenv("ANTHROPIC_BASE_URL", claude.url)
    app = _app(tmp_path)

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hi")).message.content or ""

    assert await _run(app, ask) == "Hello there"
    [sent] = claude.requests
    assert sent.body["model"] == "claude-haiku-4-5"
    assert sent.headers["authorization"] == "Bearer sk-ant"
    assert openai.count() == 0


async def test_plain_names_in_code_need_no_alias(
    environ: pytest.MonkeyPatch, openai: FakeOpenAI, claude: FakeAnthropic, tmp_path: Any
) -> None:
    environ.setenv("OPENAI_API_KEY", "sk-openai")
    environ.setenv("OPENAI_BASE_URL", f"{openai.url}/v1")
    environ.setenv("ANTHROPIC_API_KEY", "sk-ant")
    environ.setenv("ANTHROPIC_BASE_URL", claude.url)
    app = _app(tmp_path)
    agent = bosun.Agent(model="anthropic:claude-plain", system="Be brief.")

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> list[str]:
        openai = await ctx.llm.chat("hi", model="gpt-4o-mini")
        answer: str = await agent.run(ctx, "hi")
        return [openai.message.content or "", answer]

    async with app, app.worker():
        handle = await app.start(ask)
        assert await handle.result(timeout=30) == ["Hello there", "Hello there"]
        journal = await app.store.get_journal(handle.run_id)
    await app.models.aclose()
    names = [e.name for e in journal if e.kind == "llm"]
    assert names == ["llm:gpt-4o-mini", "llm:anthropic:claude-plain"]
    assert openai.requests[0].body["model"] == "gpt-4o-mini"
    assert claude.requests[0].body["model"] == "claude-plain"


async def test_both_keys_and_no_default_fail_a_run_that_uses_it(
    environ: pytest.MonkeyPatch, openai: FakeOpenAI, claude: FakeAnthropic, tmp_path: Any
) -> None:
    environ.setenv("OPENAI_API_KEY", "sk-openai")
    environ.setenv("ANTHROPIC_API_KEY", "sk-ant")
    app = _app(tmp_path)

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hi")).message.content or ""

    with pytest.raises(bosun.RunFailed, match=r"both set.*BOSUN_LLM_MODEL"):
        await _run(app, ask)
    assert openai.count() == 0 and claude.count() == 0


async def test_a_model_that_cannot_be_served_fails_the_worker_start(
    environ: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    environ.setenv("BOSUN_MODELS", '{"fast": {"model": "anthropic:claude-haiku-4-5"}}')
    app = _app(tmp_path)
    with pytest.raises(ConfigurationError, match=r"\$ANTHROPIC_API_KEY, which is not set; set it"):
        async with app, app.worker():
            pass


async def test_a_name_whose_key_is_not_set_fails_its_call_at_once(
    environ: pytest.MonkeyPatch, claude: FakeAnthropic, tmp_path: Any
) -> None:
    """Names used only in code are known at their first call: without the key, that call
    fails once, naming the variable, and is not retried."""
    app = _app(tmp_path)

    @app.workflow(name="ask")
    async def ask(ctx: bosun.Context) -> str:
        return (await ctx.llm.chat("hi", model="anthropic:claude-plain")).message.content or ""

    async with app, app.worker():
        handle = await app.start(ask)
        with pytest.raises(bosun.RunFailed, match=r"\$ANTHROPIC_API_KEY, which is not set"):
            await handle.result(timeout=30)
        journal = await app.store.get_journal(handle.run_id)
    [call] = [e for e in journal if e.kind == "llm"]
    assert (call.status, call.attempt) == ("failed", 1)
    assert claude.count() == 0
