"""Idempotency keys as the store holds them: one namespace per origin, each encoded one way.

A run's stored key says who chose it:

```
user:<tenant>:<key>                              a submitter's (`idempotency_key=`, the header)
event:<tenant>:<event>:<workflow>:<event id>     an event trigger's, one per subscribed workflow
schedule:<schedule>:<tick in UTC>                a schedule's, one per tick
```

Every part but the last has `%` written `%25` and `:` written `%3A`; the last is kept as it
is. The kind fixes how many parts follow, so a stored key reads back one way only: a
submitter's key never equals an event's or a schedule's, one tenant's key never equals
another's, and event `order` with id `paid:1` never meets event `order:paid` with id `1`.
Keys stored before these namespaces existed are rewritten by the `idempotency_scopes`
migration (the same rules in SQL, per dialect).
"""

from __future__ import annotations

import unicodedata

from bosun.errors import InvalidRequest

__all__ = ["event_key", "is_user_key", "schedule_key", "shown_key", "user_key"]


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace(":", "%3A")


def _encode(kind: str, *parts: str) -> str:
    """`kind:part:…:last`, every part but the last escaped (the migrations do the same)."""
    *head, last = parts
    return ":".join([kind, *map(_escape, head), last])


def user_key(tenant: str, key: str | None) -> str | None:
    """The stored form of a key a submitter chose: scoped to its tenant and apart from the
    keys bosun makes for events and schedules."""
    if key is None:
        return None
    if any(unicodedata.category(char) == "Cc" for char in key):
        raise InvalidRequest("an idempotency key may not contain control characters")
    return _encode("user", tenant, key)


def is_user_key(stored: str) -> bool:
    """Whether a stored key is one a submitter chose (not an event's or a schedule's)."""
    return stored.startswith("user:")


def event_key(tenant: str, event: str, workflow: str, event_id: str) -> str:
    """The stored key of the run `event` with `event_id` starts for `workflow`."""
    return _encode("event", tenant, event, workflow, event_id)


def schedule_key(schedule: str, tick: str) -> str:
    """The stored key of the run a schedule starts for a tick (written in UTC)."""
    return _encode("schedule", schedule, tick)


def shown_key(stored: str | None) -> str | None:
    """A stored key as a run's view shows it: a submitter's key as they gave it; the keys
    bosun made for events and schedules as stored."""
    if stored is None:
        return None
    kind, _, rest = stored.partition(":")
    if kind == "user":
        return rest.partition(":")[2]  # the tenant holds no ":" once escaped
    return stored
