"""Rate limiters for the workqueue: client-go's `util/workqueue` default rate limiters.

A rate limiter answers one question, `when(item) -> seconds`: how long to wait before the item
may be processed again. Calling `when` records a requeue (the limiters are stateful, as
upstream); `forget(item)` clears the item's history once it was processed successfully, and
`num_requeues(item)` tells how often it was requeued since.

- `ItemExponentialFailureRateLimiter`: per item, base * 2**failures, capped (5 ms, 10 ms,
  20 ms ... 1000 s for controllers). Counts failures per item until `forget`.
- `BucketRateLimiter`: one token bucket for the whole queue (not per item), starting full;
  `when` reserves a token and returns the delay until that token exists, so reservations queue
  behind each other exactly like golang.org/x/time/rate's `Reserve().Delay()`.
- `MaxOfRateLimiter`: the slowest of several limiters wins; `default_controller_rate_limiter`
  is client-go's DefaultControllerRateLimiter (per-item backoff max'ed with 10 qps / 100 burst).

Time comes only from the injected `Clock`; nothing here sleeps.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from kubemu.cluster.clock import Clock

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float:
        """Seconds to wait before `item` is processed again; records one requeue."""
        ...

    def forget(self, item: Hashable) -> None:
        """Stop tracking `item` (it was processed successfully)."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times `item` was requeued since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """Per-item exponential backoff: base * 2**failures, never more than `cap`."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        if base < 0 or cap < 0:
            raise ValueError("backoff durations must not be negative")
        self.base, self.cap = base, cap
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exponent = self._failures.get(item, 0)
        self._failures[item] = exponent + 1
        try:
            backoff = self.base * 2.0 ** exponent
        except OverflowError:
            return self.cap
        return min(backoff, self.cap)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """One token bucket for all items: `burst` at once, then one every 1/`qps` seconds."""

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be positive and burst at least 1")
        self.qps, self.burst = qps, burst
        self._clock = clock
        self._tokens = float(burst)  # may go negative: tokens already promised to waiters
        self._last = clock.now()

    def when(self, item: Hashable) -> float:
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        """The bucket is not per item: nothing to forget."""

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay of all `limiters`; forget and num_requeues go to each of them."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        # Every limiter records the requeue, so no generator short-cut here.
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock) -> MaxOfRateLimiter:
    """client-go's DefaultControllerRateLimiter: 5 ms .. 1000 s per item, 10 qps / 100 burst."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0),
                            BucketRateLimiter(10.0, 100, clock=clock))
