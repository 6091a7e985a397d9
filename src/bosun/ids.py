"""Run ids: random 128-bit hex strings, drawn from the OS in bulk (one syscall per 256)."""

from __future__ import annotations

import os
import threading

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
