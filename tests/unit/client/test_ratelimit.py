"""Rate limiters: per-item exponential backoff, the token bucket, max-of, and the controller default.

Pure logic on a ManualClock: no event loop, no waiting.
"""

from __future__ import annotations

import pytest
from kubemu.cluster.client.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)
from kubemu.cluster.clock import ManualClock


@pytest.mark.parametrize("base, cap, expected", [
    pytest.param(0.005, 1000.0, [0.005, 0.01, 0.02, 0.04, 0.08], id="client-go-default-doubles"),
    pytest.param(1.0, 5.0, [1.0, 2.0, 4.0, 5.0, 5.0], id="capped-at-max"),
    pytest.param(0.0, 10.0, [0.0, 0.0, 0.0], id="zero-base-never-waits"),
])
def test_exponential_backoff_doubles_per_failure_up_to_the_cap(base, cap, expected):
    limiter = ItemExponentialFailureRateLimiter(base, cap)
    assert [limiter.when("k") for _ in expected] == pytest.approx(expected)
    assert limiter.num_requeues("k") == len(expected)


def test_exponential_backoff_is_per_item_and_reset_by_forget():
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    assert [limiter.when("a") for _ in range(3)] == pytest.approx([0.005, 0.01, 0.02])
    assert limiter.when("b") == pytest.approx(0.005)
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.num_requeues("b") == 1
    assert limiter.when("a") == pytest.approx(0.005)


def test_exponential_backoff_after_huge_failure_count_returns_cap_without_overflow():
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    delays = [limiter.when("k") for _ in range(2000)]
    assert delays[-1] == 1000.0


@pytest.mark.parametrize("steps, expected", [
    pytest.param([0, 0, 0, 0, 0], [0.0, 0.0, 0.0, 0.1, 0.2], id="burst-then-qps-spacing"),
    pytest.param([0, 0, 0, 0.1, 0], [0.0, 0.0, 0.0, 0.0, 0.1], id="refill-one-token-per-interval"),
    pytest.param([0, 0, 0, 0, 0.1], [0.0, 0.0, 0.0, 0.1, 0.1], id="reservation-queues-behind"),
    pytest.param([0, 0, 0, 60, 0, 0, 0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1],
                 id="refill-never-exceeds-burst"),
])
def test_bucket_gives_burst_at_once_then_one_token_per_interval(steps, expected):
    clock = ManualClock()
    limiter = BucketRateLimiter(10.0, 3, clock=clock)
    delays = []
    for index, step in enumerate(steps):
        clock.advance(step)
        delays.append(limiter.when(f"item-{index}"))
    assert delays == pytest.approx(expected)


def test_bucket_is_shared_by_all_items_and_counts_no_requeues():
    limiter = BucketRateLimiter(1.0, 1, clock=ManualClock())
    assert limiter.when("a") == 0.0
    assert limiter.when("b") == pytest.approx(1.0)
    limiter.forget("b")
    assert limiter.num_requeues("a") == 0


def test_max_of_takes_the_longest_delay_and_delegates_forget():
    clock = ManualClock()
    fast = ItemExponentialFailureRateLimiter(0.5, 100.0)
    bucket = BucketRateLimiter(1.0, 1, clock=clock)
    limiter = MaxOfRateLimiter(fast, bucket)
    assert limiter.when("a") == pytest.approx(0.5)   # bucket: 0, backoff: 0.5
    assert limiter.when("b") == pytest.approx(1.0)   # bucket: 1.0, backoff: 0.5
    assert limiter.when("a") == pytest.approx(2.0)   # bucket: 2.0, backoff: 1.0
    assert limiter.num_requeues("a") == 2
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_max_of_needs_a_limiter():
    with pytest.raises(ValueError):
        MaxOfRateLimiter()


def test_default_controller_limiter_backs_off_per_item_until_the_bucket_runs_dry():
    limiter = default_controller_rate_limiter(ManualClock())
    first = [limiter.when(f"item-{index}") for index in range(100)]
    assert first == pytest.approx([0.005] * 100)
    assert limiter.when("item-100") == pytest.approx(0.1)   # 101st token: bucket dominates
    assert limiter.when("item-101") == pytest.approx(0.2)
