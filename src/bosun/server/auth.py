"""API keys: `bsn_<id>_<secret>`, stored as the SHA-256 of the secret, checked in constant time.

The secret is 256 random bits, so a plain SHA-256 is enough (no password stretching needed:
nobody can guess it). A verified key is remembered for `CACHE_SECONDS`, so a revocation takes
effect on every server within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from bosun.errors import AuthenticationFailed, InvalidRequest, PermissionDenied
from bosun.records import ApiKeyRecord
from bosun.store import ApiKeyStore

SCOPES = ("read", "submit", "admin")
# What each scope grants: submit includes read, admin includes everything.
_GRANTS = {"read": {"read"}, "submit": {"read", "submit"}, "admin": set(SCOPES)}
_KEY = re.compile(r"bsn_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CACHE_SECONDS = 10.0
_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's tenant and what it may do."""

    key_id: str
    tenant: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise PermissionDenied(
                f"API key {self.key_id} lacks the {scope!r} scope "
                f"(it has: {', '.join(sorted(self.scopes)) or 'none'})"
            )


ANONYMOUS = Principal("anonymous", "default", frozenset(SCOPES))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_tenant(tenant: str) -> str:
    if not _TENANT.fullmatch(tenant):
        raise InvalidRequest(
            f"tenant {tenant!r} must be 1-64 letters, digits, '_', '.' or '-', starting with a "
            f"letter or digit"
        )
    return tenant


def new_key(tenant: str, scopes: list[str], name: str = "") -> tuple[str, ApiKeyRecord]:
    """A fresh key: the secret string (show it once) and the record to store."""
    check_tenant(tenant)
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise InvalidRequest(
            f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}"
        )
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        id=key_id,
        tenant=tenant,
        name=name,
        hash=_hash(secret),
        scopes=tuple(sorted(set(scopes))),
        created_at=time.time(),
    )
    return f"bsn_{key_id}_{secret}", record


class Authenticator:
    """Turns an `Authorization` header into a Principal, with a short cache."""

    def __init__(self, store: ApiKeyStore, cache_seconds: float = CACHE_SECONDS) -> None:
        self._store = store
        self._cache_seconds = cache_seconds
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthenticationFailed(
                "this API needs a key: send 'Authorization: Bearer bsn_…' "
                "(create one with `bosun keys create --tenant NAME`)"
            )
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed("the Authorization header must be 'Bearer <API key>'")
        fingerprint = _hash(token)
        cached = self._cache.get(fingerprint)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = await self._verify(token)
        self._cache[fingerprint] = (now + self._cache_seconds, principal)
        self._cache.move_to_end(fingerprint)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> Principal:
        refused = AuthenticationFailed("the API key is unknown or revoked")
        match = _KEY.fullmatch(token)
        if match is None:
            raise refused
        key_id, secret = match.groups()
        record = await self._store.get_api_key(key_id)
        # Hash and compare even for an unknown id, so timing does not tell ids apart.
        stored = record.hash if record is not None else "0" * 64
        if not hmac.compare_digest(stored, _hash(secret)) or record is None:
            raise refused
        if record.revoked_at is not None:
            raise refused
        granted: set[str] = set()
        for scope in record.scopes:
            granted |= _GRANTS.get(scope, set())
        return Principal(record.id, record.tenant, frozenset(granted))
