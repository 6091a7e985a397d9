"""Session workspaces go when their session ends: the sweep over a base, the removal at once
when the delete happens in the same process, and the worker's periodic sweep; on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import bosun
from bosun.sandbox.workspace import SessionWorkspace, session_workspaces
from bosun.sandbox.workspace_sweep import sweep_ended_sessions
from bosun.store import Store
from bosun.worker.worker import Worker, WorkerOptions

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path.absolute() / "workspaces"


def exists(path: Path) -> bool:
    return path.exists()


def workspace_with_files(base: Path, session: str, tenant: str = "default") -> SessionWorkspace:
    workspace = SessionWorkspace(session, tenant=tenant, base=base)
    path = workspace.prepare()
    (path / "data").mkdir()
    (path / "data" / "notes.txt").write_text(f"notes of {session}")
    return workspace


async def test_the_sweep_removes_the_workspaces_of_deleted_sessions_only(
    store: Store, base: Path
) -> None:
    for tenant, session in (("default", "ended"), ("default", "live"), ("other", "ended")):
        await store.ensure_session(tenant, session)
    ended = workspace_with_files(base, "ended")
    live = workspace_with_files(base, "live")
    same_id_other_tenant = workspace_with_files(base, "ended", tenant="other")
    never_created = workspace_with_files(base, "no-such-session")
    stray = base / "default" / "not a session!"  # a name no workspace has: left alone
    stray.mkdir()
    assert await store.delete_session("default", "ended")

    removed = await sweep_ended_sessions(store, base)

    assert sorted(removed) == sorted([ended.path, never_created.path])
    assert not ended.path.exists() and not never_created.path.exists()
    assert (live.path / "data" / "notes.txt").read_text() == "notes of live"
    assert same_id_other_tenant.path.exists() and stray.is_dir()
    assert await sweep_ended_sessions(store, base) == []  # nothing more to do
    assert await sweep_ended_sessions(store, base / "missing") == []


async def test_a_workspace_in_use_is_left_for_the_next_sweep(store: Store, base: Path) -> None:
    workspace = workspace_with_files(base, "busy")
    async with workspace.use():
        assert await sweep_ended_sessions(store, base) == []
        assert workspace.path.exists()
    assert await sweep_ended_sessions(store, base) == [workspace.path]


async def test_deleting_a_session_in_this_process_removes_its_workspace_at_once(
    any_db_url: str, base: Path
) -> None:
    app = bosun.App("sweep-now", database=any_db_url)
    app.workspace_roots.add(base)  # as a tool call in this process records it
    try:
        await app.session("chat").create()
        await app.session("other").create()
        chat = workspace_with_files(base, "chat")
        other = workspace_with_files(base, "other")
        assert await app.session("chat").delete()
        assert not chat.path.exists()
        assert other.path.exists()
    finally:
        await app.close()


async def test_a_worker_sweeps_the_workspaces_of_sessions_deleted_elsewhere(
    any_db_url: str, base: Path
) -> None:
    app = bosun.App("sweep-worker", database=any_db_url)
    workspaces = session_workspaces(base)

    @app.step()
    async def write_note(text: str) -> str:
        workspace = workspaces()  # what the sandbox tools do: records the base on the App
        assert workspace is not None
        (workspace.prepare() / "note.txt").write_text(text)
        return str(workspace.path)

    @app.workflow()
    async def take_note(ctx: bosun.Context, text: str) -> str:
        return await write_note(text)

    # Another process (an API server, say) deletes the session: its App knows no workspace.
    elsewhere = bosun.App("sweep-worker", database=any_db_url)
    await app.open()
    worker = Worker(app, WorkerOptions(workspace_sweep_interval=0.05, poll_interval=0.05))
    running = asyncio.create_task(worker.run())
    try:
        first = await app.start(take_note, "first", session="s1")
        second = await app.start(take_note, "second", session="s2")
        ended = Path(await first.result(timeout=30))
        kept = Path(await second.result(timeout=30))
        assert app.workspace_roots == {base}
        assert (ended / "note.txt").read_text() == "first"

        assert await elsewhere.session("s1").delete()
        for _ in range(400):  # the sweep runs every 0.05 s
            if not exists(ended):
                break
            await asyncio.sleep(0.05)
        assert not exists(ended)
        assert (kept / "note.txt").read_text() == "second"
    finally:
        worker.request_stop()
        await running
        with contextlib.suppress(Exception):
            await elsewhere.close()
        await app.close()
