import pytest

from bosun import ConfigurationError, Retry


def test_delay_grows_by_backoff_and_is_capped() -> None:
    policy = Retry(attempts=10, initial=1, backoff=2, max_interval=5, jitter=0)
    assert [policy.delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


def test_jitter_stays_within_its_fraction() -> None:
    policy = Retry(initial=10, jitter=0.2)
    delays = {policy.delay(1) for _ in range(200)}
    assert all(8 <= d <= 12 for d in delays)
    assert len(delays) > 1


def test_should_retry_respects_attempts_and_non_retryable() -> None:
    policy = Retry(attempts=3, non_retryable=(KeyError,))
    assert policy.should_retry(ValueError(), 1)
    assert policy.should_retry(ValueError(), 2)
    assert not policy.should_retry(ValueError(), 3)
    assert not policy.should_retry(KeyError(), 1)


@pytest.mark.parametrize(
    "kwargs", [{"attempts": 0}, {"initial": -1}, {"backoff": 0.5}, {"jitter": 2}]
)
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        Retry(**kwargs)  # type: ignore[arg-type]


def test_retry_after_reads_seconds_milliseconds_and_http_dates() -> None:
    import email.utils
    import time

    from bosun.retry import retry_after_seconds

    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= (retry_after_seconds({"retry-after": in_a_minute}) or 0) <= 60
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert retry_after_seconds({"retry-after": past}) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
