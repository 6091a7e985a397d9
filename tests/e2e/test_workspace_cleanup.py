"""`DELETE /v1/sessions/{id}` over real HTTP removes the session's workspace at once when
the server's process holds it (as under `bosun dev`); other sessions' stay."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.processes import SANDBOX_GROUP
from tests.helpers.serving import serve

import bosun
from bosun.sandbox.workspace import SessionWorkspace
from bosun.server import ServerConfig

pytestmark = SANDBOX_GROUP


def test_deleting_a_session_over_http_removes_its_workspace(tmp_path: Path) -> None:
    app = bosun.App("workspace-cleanup", database=f"sqlite:///{tmp_path / 'api.db'}")
    base = tmp_path / "workspaces"
    app.workspace_roots.add(base)  # what a tool call of this process records
    workspaces = {}
    for tenant, session in (("tenant-a", "chat"), ("tenant-a", "kept"), ("tenant-b", "chat")):
        workspace = SessionWorkspace(session, tenant=tenant, base=base)
        (workspace.prepare() / "notes.txt").write_text(session)
        workspaces[tenant, session] = workspace
    with serve(app, ServerConfig(worker_concurrency=0, key_cache_seconds=0.0)) as served:
        client = served.client(served.key("tenant-a", "submit"))
        for session in ("chat", "kept"):
            assert client.post("/v1/sessions", json={"id": session}).status_code == 201
        assert client.delete("/v1/sessions/chat").status_code == 204
        client.close()
    assert not workspaces["tenant-a", "chat"].path.exists()
    assert (workspaces["tenant-a", "kept"].path / "notes.txt").read_text() == "kept"
    assert workspaces["tenant-b", "chat"].path.exists()  # same id, another tenant
