"""Moved to `bosun.egress.hosts` (network egress is its own package, used by the sandbox and
by webhooks); import from there in new code. This shim re-exports it for code that imported
it from here."""

from __future__ import annotations

from bosun.egress.hosts import (
    HostAllowList,
)

__all__ = [
    "HostAllowList",
]
