"""Sessions: state, metadata and message history shared by a conversation's runs."""

from __future__ import annotations

from typing import Protocol

from bosun.records import RunRecord, SessionMessage, SessionRecord


class SessionStore(Protocol):
    """A tenant's sessions and their messages."""

    async def ensure_session(
        self, tenant: str, session_id: str, metadata: str | None = None
    ) -> SessionRecord:
        """The session, created if missing; `metadata` (a JSON object) replaces the old."""

    async def get_session(self, tenant: str, session_id: str) -> SessionRecord | None: ...

    async def list_sessions(
        self, tenant: str, limit: int = 50, before: tuple[float, str] | None = None
    ) -> list[SessionRecord]:
        """The tenant's sessions, most recently updated first; `before` is a cursor."""

    async def update_session(
        self, tenant: str, session_id: str, *, state: str | None, metadata: str | None
    ) -> SessionRecord | None:
        """Replace the state and/or metadata (JSON objects); None if there is no session."""

    async def delete_session(self, tenant: str, session_id: str) -> bool:
        """Delete the session, its messages and its memories (its runs stay)."""

    async def append_messages(
        self,
        tenant: str,
        session_id: str,
        messages: list[str],
        *,
        run_id: str | None = None,
        source: str | None = None,
    ) -> int:
        """Append messages (JSON texts), creating the session if needed; return the last
        position. Messages a run already appended under the same `source` are not added
        again (a write retried after a crash)."""

    async def session_messages(
        self, tenant: str, session_id: str, after: int = 0, limit: int = 1000
    ) -> list[SessionMessage]:
        """Messages after position `after`, oldest first."""

    async def drop_run_messages(self, tenant: str, session_id: str, run_id: str) -> int:
        """Delete the messages one run appended (a rolled-back run); return how many."""

    async def session_runs(self, tenant: str, session_id: str) -> list[RunRecord]:
        """The session's runs, oldest first."""
