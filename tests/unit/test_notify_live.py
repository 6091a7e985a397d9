"""Which runs a process sends live events for: watched here or from elsewhere, and the live
events of steps running now, kept for a stream that joins while they run."""

from __future__ import annotations

from bosun.events import step_started
from bosun.store.notify import LocalNotifier


def test_a_run_is_watched_while_a_stream_here_subscribes() -> None:
    notifier = LocalNotifier()
    assert not notifier.watched("r1")
    queue = notifier.subscribe("r1")
    assert notifier.watched("r1") and not notifier.watched("r2")
    notifier.unsubscribe("r1", queue)
    assert not notifier.watched("r1")


def test_a_watch_from_another_process_lapses_unless_renewed() -> None:
    notifier = LocalNotifier()
    notifier.watch("r1", ttl=0.0)  # lapsed at once
    assert not notifier.watched("r1")
    notifier.watch("r2")
    assert notifier.watched("r2")
    assert "r1" not in notifier._watches  # a watch drops the lapsed ones before it
    notifier.watch("r1")  # renewed
    assert notifier.watched("r1")


def test_live_events_last_while_their_steps_run() -> None:
    notifier = LocalNotifier()
    first, second = step_started("1.0.1", "a", 1), step_started("1.1.1", "b", 1)
    notifier.live_started("r1", first)
    notifier.live_started("r1", second)
    assert notifier.live("r1") == [first, second] and notifier.live("r2") == []
    notifier.live_ended("r1", first)
    assert notifier.live("r1") == [second]
    notifier.live_ended("r1", second)
    assert notifier.live("r1") == [] and "r1" not in notifier._live
