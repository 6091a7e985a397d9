"""Moved to `bosun.egress.proxy` (network egress is its own package, used by the sandbox and
by webhooks); import from there in new code. This shim re-exports it for code that imported
it from here."""

from __future__ import annotations

from bosun.egress.proxy import (
    EgressProxy,
    Resolver,
)

__all__ = [
    "EgressProxy",
    "Resolver",
]
