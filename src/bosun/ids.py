"""Run ids: random 128-bit hex strings, drawn from the OS in bulk (one syscall per 256).
And the one rule for the names callers choose (session ids, queue names)."""

from __future__ import annotations

import os
import re
import threading

from bosun.errors import ConfigurationError

IDENTIFIER = r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}"
"""Session ids and queue names: 1 to 200 letters, digits and `_ . : @ -`, starting with a
letter or digit. Safe in paths, URLs, log lines and HTML as they are."""
IDENTIFIER_PATTERN = f"^{IDENTIFIER}$"  # for pydantic's Field(pattern=…)
_IDENTIFIER = re.compile(IDENTIFIER)


def check_identifier(value: str, what: str) -> str:
    """Return `value` if it follows the identifier rule, else raise `ConfigurationError`
    naming `what` (e.g. "session", "queue")."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise ConfigurationError(
            f"{what} {value!r} is not a valid name: use 1 to 200 letters, digits and "
            "_ . : @ -, starting with a letter or digit"
        )
    return value


_BATCH = 256
_lock = threading.Lock()
_pool: list[str] = []


def new_id() -> str:
    """A random 32-character hex id (as unguessable as uuid4)."""
    with _lock:
        if not _pool:
            raw = os.urandom(16 * _BATCH).hex()
            _pool.extend(raw[i : i + 32] for i in range(0, len(raw), 32))
        return _pool.pop()
