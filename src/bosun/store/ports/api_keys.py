"""API keys: the server's bearer keys, stored as hashes, each scoped to a tenant."""

from __future__ import annotations

from typing import Protocol

from bosun.records import ApiKeyRecord


class ApiKeyStore(Protocol):
    """Creates, finds, lists and revokes API keys."""

    async def create_api_key(self, key: ApiKeyRecord) -> None:
        """Store a new API key (its hash)."""

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, revoked or not."""

    async def list_api_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        """Every key, or a tenant's keys, oldest first."""

    async def revoke_api_key(self, key_id: str) -> bool:
        """Revoke a key; False when there is no such live key."""
