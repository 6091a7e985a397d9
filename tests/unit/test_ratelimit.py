import pytest

import bosun
from bosun import ConfigurationError, RateLimit
from bosun.buckets import BucketState, check_demand, give_back, refill, take


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"requests": 0},
        {"tokens": -5},
        {"requests": 1.5},
        {"requests": True},
        {"requests": 10, "per": 0},
        {"requests": 10, "per": float("inf")},
        {"tokens": 10, "per": "60"},
    ],
)
def test_bad_limits_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        RateLimit(**kwargs)  # type: ignore[arg-type]


def test_an_app_registers_each_name_once() -> None:
    app = bosun.App("t", database="sqlite:///unused.db")
    app.rate_limit("gpt", RateLimit(requests=10))
    app.rate_limit("gpt", RateLimit(requests=10))  # the same again is harmless
    with pytest.raises(ConfigurationError, match="already registered"):
        app.rate_limit("gpt", RateLimit(requests=20))
    with pytest.raises(ConfigurationError, match=r"takes a bosun\.RateLimit"):
        app.rate_limit("other", {"requests": 10})  # type: ignore[arg-type]


def test_refill_take_and_give_back() -> None:
    limit = RateLimit(requests=4, tokens=1000, per=60)
    fresh = refill(None, limit, 100.0)
    assert fresh == BucketState(4.0, 1000.0, 100.0)
    state, wait = take(None, limit, 1, 900, 100.0)
    assert (state, wait) == (BucketState(3.0, 100.0, 100.0), 0.0)
    same, wait = take(state, limit, 1, 400, 100.0)
    assert same == state and wait == pytest.approx(18.0)  # 300 tokens at 1000 per 60 s
    assert take(state, limit, 1, 400, 118.0)[1] == 0.0
    debt = give_back(state, limit, -500, 100.0)
    assert debt.tokens == pytest.approx(-400.0)
    assert give_back(state, limit, 10_000, 100.0).tokens == 1000.0


def test_a_demand_beyond_the_capacity_is_refused() -> None:
    limit = RateLimit(requests=4, tokens=1000, per=60)
    check_demand("gpt", limit, 1, 1000)
    with pytest.raises(ConfigurationError, match="could never be granted"):
        check_demand("gpt", limit, 1, 1001)
    with pytest.raises(ConfigurationError):
        check_demand("gpt", limit, 1, -1)
    check_demand("gpt", RateLimit(requests=1), 1, 10**9)  # tokens are not limited
