"""Moved to `bosun.egress.addresses` (network egress is its own package, used by the sandbox and
by webhooks); import from there in new code. This shim re-exports it for code that imported
it from here."""

from __future__ import annotations

from bosun.egress.addresses import (
    METADATA_HOSTS,
    AllowList,
    IPAddress,
    describe,
    is_ambiguous_number,
    normalize_host,
    parse_ip,
    refused_class,
)

__all__ = [
    "METADATA_HOSTS",
    "AllowList",
    "IPAddress",
    "describe",
    "is_ambiguous_number",
    "normalize_host",
    "parse_ip",
    "refused_class",
]
