"""Waiting on conditions, never on sleeps: poll until something has happened, and fail naming
what never did. The timeouts are hang guards, not speed bounds: make them generous, so that a
busy machine only makes a test slower, never red."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    give_up = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


async def wait_until(
    check: Callable[[], T | Awaitable[T]], timeout: float, what: str, every: float = 0.05
) -> T:
    """`wait_for` for async tests: `check` may be a plain or an async function; the event
    loop runs between polls."""
    give_up = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(every)
