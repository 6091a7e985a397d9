"""`app.session(id)`: a conversation's history, state and metadata, from Python."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bosun import serde
from bosun.errors import SessionNotFound
from bosun.ids import check_identifier
from bosun.records import RunRecord, SessionRecord

if TYPE_CHECKING:
    from bosun.hosts import SessionHost


class Session:
    """A handle to one session of one tenant (it need not exist yet)."""

    def __init__(self, app: SessionHost, session_id: str, tenant: str) -> None:
        self.app = app
        self.id = session_id
        self.tenant = tenant

    def __repr__(self) -> str:
        return f"Session({self.id!r}, tenant={self.tenant!r})"

    async def record(self) -> SessionRecord:
        await self.app.open()
        record = await self.app.store.get_session(self.tenant, self.id)
        if record is None:
            raise SessionNotFound(f"no session {self.id!r}")
        return record

    async def create(self, metadata: dict[str, Any] | None = None) -> SessionRecord:
        """Create the session (or replace its metadata). The id must follow the identifier
        rule (`bosun.ids.IDENTIFIER`); NaN or Infinity in `metadata` is `NonFiniteNumber`."""
        check_identifier(self.id, "session")
        text = None if metadata is None else serde.dumps(metadata, repr(self), root="metadata")
        await self.app.open()
        return await self.app.store.ensure_session(self.tenant, self.id, text)

    async def messages(self, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """The history, oldest first: each message as a dict, with its `seq` and `run_id`."""
        await self.app.open()
        rows = await self.app.store.session_messages(self.tenant, self.id, after, limit)
        return [{"seq": r.seq, "run_id": r.run_id, **json.loads(r.message)} for r in rows]

    async def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((await self.record()).state)
        return state

    async def set_state(self, state: dict[str, Any]) -> None:
        """Replace the session's key-value state."""
        text = serde.dumps(state, repr(self), root="state")
        await self.app.open()
        updated = await self.app.store.update_session(
            self.tenant, self.id, state=text, metadata=None
        )
        if updated is None:
            raise SessionNotFound(f"no session {self.id!r}")

    async def runs(self) -> list[RunRecord]:
        """The session's runs, oldest first."""
        await self.app.open()
        return await self.app.store.session_runs(self.tenant, self.id)

    async def delete(self) -> bool:
        """Delete the session's history, state and metadata (its runs stay), and its
        sandbox workspaces on this machine (workers elsewhere sweep theirs)."""
        await self.app.open()
        deleted = await self.app.store.delete_session(self.tenant, self.id)
        if deleted and self.app.workspace_roots:  # only tool calls with workspaces add one
            from bosun.sandbox.workspace_sweep import remove_session_workspaces

            await remove_session_workspaces(self.app.workspace_roots, self.tenant, self.id)
        return deleted
