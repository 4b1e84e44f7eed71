"""Clock: the one source of time and randomness for kubemu's logic.

Logic never calls `time.time()` or the global `random`; it takes a `Clock` and a seeded
`random.Random`. `ManualClock` drives tests and the deterministic simulation (time moves only
when the test says so); `WallClock` drives production; `ScaledClock` runs Kubernetes durations
`scale` times faster (``--time-scale``). `derive_rng` gives each component its own stream from
one seed, so adding a component never perturbs another's randomness.
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds, monotonic within one process."""
        ...


class ManualClock:
    """Time that moves only by `advance`; starts at `start`."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock never goes backwards")
        self._now += seconds


class WallClock:
    """The process's monotonic clock."""

    def now(self) -> float:
        return time.monotonic()


class ScaledClock:
    """Monotonic time running `scale` times faster than the wall."""

    def __init__(self, scale: float = 1.0, *, base: Clock | None = None) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self._base = base or WallClock()
        self._origin = self._base.now()
        self.scale = scale

    def now(self) -> float:
        return self._origin + (self._base.now() - self._origin) * self.scale


def derive_rng(seed: int | str, *names: object) -> random.Random:
    """A `random.Random` for one component, derived from a root seed and its names."""
    text = "/".join([str(seed), *map(str, names)]).encode()
    return random.Random(int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big"))
