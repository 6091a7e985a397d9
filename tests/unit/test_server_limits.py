"""Per-key request rate and stream limits, on an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from bosun.errors import ConfigurationError, RateLimited
from bosun.server.limits import RequestRateLimiter, StreamSlots

pytestmark = pytest.mark.timeout(30)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def allowed(limiter: RequestRateLimiter, key: str, count: int) -> int:
    return sum(limiter.check(key) is None for _ in range(count))


def test_a_burst_passes_then_the_rate() -> None:
    clock = FakeClock()
    limiter = RequestRateLimiter(rate=10, burst=20, clock=clock)
    assert allowed(limiter, "k", 20) == 20
    assert limiter.check("k") == pytest.approx(0.1)
    clock.now += 0.05
    assert limiter.check("k") == pytest.approx(0.05)  # half a token refilled
    clock.now += 0.05
    assert limiter.check("k") is None
    assert limiter.check("k") == pytest.approx(0.1)
    clock.now += 1
    assert allowed(limiter, "k", 100) == 10


def test_refused_requests_take_nothing_and_the_wait_is_exact() -> None:
    clock = FakeClock()
    limiter = RequestRateLimiter(rate=2, burst=1, clock=clock)
    assert limiter.check("k") is None
    for _ in range(5):
        assert limiter.check("k") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.check("k") is None


def test_over_any_window_at_most_burst_plus_rate_times_window() -> None:
    clock = FakeClock()
    limiter = RequestRateLimiter(rate=50, burst=100, clock=clock)
    granted = 0
    for _ in range(10_000):  # hammer it for 10 s in 1 ms steps, 3 requests a step
        granted += allowed(limiter, "k", 3)
        clock.now += 0.001
    assert granted <= 100 + 50 * 10 + 1
    assert granted >= 100 + 50 * 10 - 1


def test_keys_are_independent() -> None:
    limiter = RequestRateLimiter(rate=1, burst=2, clock=FakeClock())
    assert allowed(limiter, "a", 5) == 2
    assert allowed(limiter, "b", 5) == 2


def test_idle_buckets_refill_only_to_the_burst() -> None:
    clock = FakeClock()
    limiter = RequestRateLimiter(rate=1, burst=3, clock=clock)
    assert allowed(limiter, "k", 3) == 3
    clock.now += 3600
    assert allowed(limiter, "k", 10) == 3


def test_a_clock_stepping_back_refills_nothing() -> None:
    clock = FakeClock()
    limiter = RequestRateLimiter(rate=1, burst=1, clock=clock)
    assert limiter.check("k") is None
    clock.now -= 100
    assert limiter.check("k") == pytest.approx(1.0)
    clock.now += 100.5
    assert limiter.check("k") == pytest.approx(0.5)


def test_fractional_rates_and_bursts() -> None:
    clock = FakeClock()
    limiter = RequestRateLimiter(rate=0.1, burst=1.5, clock=clock)
    assert limiter.check("k") is None
    assert limiter.check("k") == pytest.approx(5.0)  # 0.5 left, needs 1
    clock.now += 5
    assert limiter.check("k") is None


@pytest.mark.parametrize("rate", [0, -1])
def test_a_rate_of_zero_or_less_is_unlimited(rate: float) -> None:
    limiter = RequestRateLimiter(rate=rate, burst=0, clock=FakeClock())
    assert allowed(limiter, "k", 10_000) == 10_000
    assert len(limiter) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 10, "burst": 0.5},
        {"rate": 10, "burst": float("inf")},
        {"rate": 10, "burst": float("nan")},
        {"rate": float("nan"), "burst": 10},
        {"rate": float("inf"), "burst": 10},
        {"rate": 10, "burst": 10, "max_keys": 0},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        RequestRateLimiter(**kwargs)  # type: ignore[arg-type]


def test_memory_is_bounded_and_full_buckets_go_first() -> None:
    clock = FakeClock()
    limiter = RequestRateLimiter(rate=1, burst=2, clock=clock, max_keys=3)
    for key in ("a", "b", "c"):
        assert limiter.check(key) is None
    clock.now += 0.5
    assert allowed(limiter, "c", 1) == 1  # c stays in use
    clock.now += 0.6  # a and b are full again, c is not
    assert limiter.check("d") is None
    assert len(limiter) == 2  # a and b were forgotten, losing nothing
    assert allowed(limiter, "a", 5) == 2  # a's forgotten bucket was full anyway
    assert allowed(limiter, "c", 5) == 1  # c's state was kept


def test_when_no_bucket_is_full_the_least_recently_used_goes() -> None:
    clock = FakeClock()
    limiter = RequestRateLimiter(rate=1, burst=2, clock=clock, max_keys=2)
    assert allowed(limiter, "a", 2) == 2
    assert allowed(limiter, "b", 2) == 2
    assert allowed(limiter, "a", 1) == 0  # a is now the most recently used
    assert limiter.check("c") is None
    assert len(limiter) == 2
    assert allowed(limiter, "a", 1) == 0  # a kept its empty bucket
    assert allowed(limiter, "b", 2) == 2  # b was forgotten and starts full


def test_many_distinct_keys_stay_within_max_keys() -> None:
    clock = FakeClock()
    limiter = RequestRateLimiter(rate=1, burst=1, clock=clock, max_keys=100)
    for i in range(10_000):
        limiter.check(f"key-{i}")
        clock.now += 0.001
    assert len(limiter) == 100


def test_stream_slots_count_per_key() -> None:
    slots = StreamSlots(limit=2)
    assert slots.acquire("a")
    assert slots.acquire("a")
    assert not slots.acquire("a")
    assert slots.acquire("b")
    assert slots.active("a") == 2
    slots.release("a")
    assert slots.active("a") == 1
    assert slots.acquire("a")
    slots.release("a")
    slots.release("a")
    slots.release("b")
    assert slots.active("a") == slots.active("b") == 0
    assert slots._open == {}  # keys with nothing open take no memory


def test_releasing_an_unheld_slot_is_a_bug() -> None:
    slots = StreamSlots(limit=1)
    with pytest.raises(RuntimeError, match="without a matching acquire"):
        slots.release("a")


def test_stream_slots_with_no_limit() -> None:
    slots = StreamSlots(limit=0)
    assert all(slots.acquire("a") for _ in range(1000))
    assert slots.active("a") == 1000


def test_hold_releases_on_exit_and_on_error_and_refuses_past_the_limit() -> None:
    slots = StreamSlots(limit=1, retry_after=3)
    with slots.hold("a"):
        assert slots.active("a") == 1
        with pytest.raises(RateLimited) as refused, slots.hold("a"):
            pass
        assert refused.value.retry_after == 3
        assert "1 event streams open" in str(refused.value)
        assert slots.active("a") == 1  # the refusal took nothing
    assert slots.active("a") == 0
    with pytest.raises(KeyError), slots.hold("a"):
        raise KeyError("boom")
    assert slots.active("a") == 0


async def test_hold_in_an_async_generator_released_when_the_stream_closes() -> None:
    slots = StreamSlots(limit=1)

    async def stream() -> AsyncGenerator[bytes, None]:
        with slots.hold("a"):
            while True:
                yield b"data: x\n\n"
                await asyncio.sleep(0)

    events = stream()
    assert await anext(events) == b"data: x\n\n"
    assert slots.active("a") == 1
    await events.aclose()
    assert slots.active("a") == 0
