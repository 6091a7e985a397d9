"""Cron expressions in a time zone: parsing and tick arithmetic (no I/O).

A tick is a whole UNIX second at which the expression matches the wall clock of its time zone.
Parsing and matching are cronsim's, which follows Debian cron across daylight-saving changes:
a job at a fixed time that falls in the skipped hour runs once, when the clock jumps forward;
one that falls in the repeated hour runs once, at its first occurrence. Expressions with a
wildcard or step in the hour field (`*/5 * * * *`) match by the clock on both sides of a change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from bosun.errors import InvalidSchedule

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS = "minute hour day-of-month month day-of-week"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; `InvalidSchedule` if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC', 'Europe/Paris' "
            "or 'America/New_York'"
        ) from None


@dataclass(frozen=True)
class Cron:
    """A validated five-field cron expression (or @alias) in an IANA time zone."""

    expression: str
    timezone: str = "UTC"
    fields: str = field(init=False, repr=False)
    tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = " ".join(self.expression.split())
        fields = ALIASES.get(text.lower(), text)
        if len(fields.split()) != 5:
            raise InvalidSchedule(
                f"bad cron expression {self.expression!r}: it needs 5 fields ({_FIELDS}), "
                f"e.g. '*/5 * * * *', or one of {', '.join(ALIASES)}"
            )
        try:
            CronSim(fields, datetime(2000, 1, 1))
        except CronSimError as exc:
            raise InvalidSchedule(
                f"bad cron expression {self.expression!r}: {exc} (fields: {_FIELDS})"
            ) from None
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "tz", zone(self.timezone))
        self.next_after(0)  # an expression that never matches (31 February) fails here

    def next_after(self, after: float) -> int:
        """The first tick strictly after `after` (UNIX seconds)."""
        start = datetime.fromtimestamp(math.floor(after), self.tz)
        try:
            for moment in CronSim(self.fields, start):
                tick = int(moment.timestamp())
                # A fixed time in a repeated hour can come out before `after`: it already ran.
                if tick > after:
                    return tick
        except StopIteration:
            pass
        raise InvalidSchedule(f"cron expression {self.expression!r} never matches")

    def ticks_between(self, since: float, until: float, limit: int) -> list[int]:
        """The newest `limit` ticks in [since, until], oldest first.

        Walks backwards from `until`, so a long outage costs `limit` steps, not one per tick.
        """
        start = datetime.fromtimestamp(math.floor(until) + 1, self.tz)
        found: list[int] = []
        try:
            for moment in CronSim(self.fields, start, reverse=True):
                tick = int(moment.timestamp())
                if tick > until or (found and tick >= found[-1]):
                    continue  # daylight-saving artefacts of walking backwards
                if tick < since or len(found) >= limit:
                    break
                found.append(tick)
        except StopIteration:
            pass
        return found[::-1]

    def local(self, tick: float) -> datetime:
        """A tick as an aware datetime in this time zone."""
        return datetime.fromtimestamp(tick, self.tz)
