"""Timing: the three kinds of time a running component needs, handed to it as one value.

- `clock`: Kubernetes time, monotonic seconds. Every Kubernetes duration (lease renewals,
  grace periods, backoffs, probe periods, eviction timeouts) is measured against it, so
  `--time-scale 60` makes all of them 60x shorter by scaling only this clock and `sleep`.
- `sleep(seconds)`: waits that many seconds of Kubernetes time.
- `wall()`: epoch seconds for timestamps written into objects (creationTimestamp,
  lastTransitionTime, Lease renewTime), never scaled, so kubectl's AGE stays right.

Components compare durations only against `clock` (as the node lifecycle controller does
upstream: it times how long since *it* saw a Lease change, never the Lease's own timestamp),
so a scaled cluster and a virtual-time simulation behave the same. `Timing.real(scale)` is
production; `Timing.of_loop(epoch)` follows the running event loop's clock, which is virtual
time under the simulation's loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kubemu.cluster.clock import Clock, ScaledClock

__all__ = ["Sleep", "Timing", "LoopClock"]

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Timing:
    clock: Clock
    sleep: Sleep
    wall: Callable[[], float]
    scale: float = 1.0

    @classmethod
    def real(cls, scale: float = 1.0) -> Timing:
        """Wall-clock time with Kubernetes durations `scale` times shorter."""
        if scale <= 0:
            raise ValueError("time scale must be positive")

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(max(0.0, seconds) / scale)

        return cls(clock=ScaledClock(scale), sleep=sleep, wall=time.time, scale=scale)

    @classmethod
    def of_loop(cls, *, epoch: float = 1_800_000_000.0) -> Timing:
        """Time of the running event loop (virtual under the simulation loop); `wall` is
        `epoch` plus loop time."""
        clock = LoopClock()
        return cls(clock=clock, sleep=asyncio.sleep, wall=lambda: epoch + clock.now())

    def wall_of(self, monotonic: float) -> float:
        """The wall time at which `clock` reads `monotonic` (for timestamps of future or
        past Kubernetes-time instants; durations are scaled back to wall seconds)."""
        return self.wall() + (monotonic - self.clock.now()) / self.scale


class LoopClock:
    """The running event loop's `time()`."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()
